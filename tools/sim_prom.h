/*
 * sim_prom: reads the fleet's /metrics pages (Prometheus text format).
 *
 * The simulator's progress line and drain and the scorer read the
 * workers' and the aggregator's own counters, so it needs only to fetch a
 * page and sum the samples of one family whose label matches (or does not
 * match) a value. Thread: one struct sim_prom per thread.
 */
#ifndef SIM_PROM_H
#define SIM_PROM_H

#include <stdbool.h>

#include "mf_buf.h"

struct sim_prom;

/*
 * A scraper over a comma-separated list of URLs ("http://127.0.0.1:9101/metrics,...";
 * a bare "host:port" gets "http://" and "/metrics"). NULL list = none. Never NULL.
 */
struct sim_prom *sim_prom_new(const char *url_list);
void sim_prom_destroy(struct sim_prom *p);

/* Number of URLs. */
int sim_prom_count(const struct sim_prom *p);

/*
 * Fetches every page (2 s timeout each). Returns how many answered; pages
 * that did not answer keep their previous text, so a sum never drops
 * because one scrape failed.
 */
int sim_prom_scrape(struct sim_prom *p);

/*
 * Sums the samples of `family` over every page whose label `label` equals
 * `value` (or, with negate, differs from it). label NULL: every sample.
 * *found (may be NULL) says whether any sample matched.
 */
double sim_prom_sum(const struct sim_prom *p, const char *family, const char *label,
                    const char *value, bool negate, bool *found);

/* The same over one text (for tests). */
double sim_prom_sum_text(const char *text, const char *family, const char *label, const char *value,
                         bool negate, bool *found);

#endif
