/*
 * mf_metrics: a process-wide Prometheus registry (counters, gauges,
 * histograms) and its text exposition.
 *
 * A family is registered once by name with its type and help; a series is
 * a family plus label pairs, created on first use. Lookups take a mutex,
 * so hot paths look a series up once and keep the pointer (series live
 * until exit). Updates are lock-free atomics. Every registered family is
 * rendered with its HELP and TYPE lines even before it has a sample, so a
 * scrape always shows what a program exports. Thread: any.
 */
#ifndef MF_METRICS_H
#define MF_METRICS_H

#include <stddef.h>

#include "mf_buf.h"

enum mf_metric_type { MF_METRIC_COUNTER, MF_METRIC_GAUGE, MF_METRIC_HISTOGRAM };

struct mf_metric;

/*
 * Registers a family; registering the same name again is a no-op. For a
 * histogram, `bounds` are the upper bounds (ascending, +Inf implied) and
 * are copied; NULL for the default latency bounds (1 ms .. 10 s).
 */
void mf_metrics_register(const char *name, enum mf_metric_type type, const char *help,
                         const double *bounds, size_t nbounds);

/* Registers meterflow_build_info{version} = 1 and the process families. */
void mf_metrics_init(void);

/*
 * The series of a registered family with the given labels: `labels` is
 * {"k1", "v1", "k2", "v2", NULL}, or NULL for none. Never NULL; a family
 * that was never registered is a bug (asserts).
 */
struct mf_metric *mf_metric(const char *family, const char *const *labels);
struct mf_metric *mf_metric1(const char *family, const char *k, const char *v);
struct mf_metric *mf_metric2(const char *family, const char *k1, const char *v1, const char *k2,
                             const char *v2);

void mf_metric_add(struct mf_metric *m, double v); /* counter or gauge */
void mf_metric_inc(struct mf_metric *m);
void mf_metric_set(struct mf_metric *m, double v);     /* gauge */
void mf_metric_observe(struct mf_metric *m, double v); /* histogram */
double mf_metric_value(const struct mf_metric *m);     /* counter/gauge value, for tests */

/* Drops every series of a family (e.g. lag of partitions no longer owned). */
void mf_metrics_clear_family(const char *family);

/* Appends the Prometheus text format of every family to out. */
void mf_metrics_render(struct mf_buf *out);

#endif
