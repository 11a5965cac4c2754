/*
 * mf_aggtest: what the aggregator's integration and fault tests share
 * (built once into libmftest): a stack (local broker,
 * throw-away PostgreSQL, aggregator processes), a generator of scored
 * readings with shuffled and late records, and the checks: the rollup
 * tables against an independent two-pass computation, every window
 * closed, the rollup topics against the tables, meter_current_status.
 *
 * The independent computation never merges partials: it sorts the
 * readings by window and computes mean and M2 in two passes in long
 * double, so it shares no code or formula with agg_funcs.
 */
#ifndef MF_AGGTEST_H
#define MF_AGGTEST_H

#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <libpq-fe.h>

#include "mf_harness.h"
#include "mf_kafka.h"
#include "mf_time.h"
#include "mf_common.h"

#define ITG_NPARTS  12
#define ITG_TOPIC   "meter.readings.validated"
#define ITG_MIN_MS  60000LL
#define ITG_HOUR_MS 3600000LL

/* The generator's xorshift state; a test may reseed it. */
extern uint64_t itg_rng;

/* A check: prints "ok"/"not ok" with the message and counts failures. */
void itg_check(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---------------------------------------------------------------- readings */

struct itg_reading {
    char meter[16];
    int64_t ts;
    double v, e;
    int q;
    bool interp;
    int32_t part; /* validated partition (murmur2 of the meter, as the harness producer does) */
    int64_t o;    /* src offset */
    int32_t i;    /* src index */
    double key;   /* arrival order */
};

struct itg_set {
    struct itg_reading *v;
    size_t n;
};

uint64_t itg_rand(void);

double itg_unit(void);

/*
 * nmeters meters, one reading every cadence_s from start over span_s, in a
 * shuffled arrival order: each reading arrives up to 90 s of event time
 * late (within AGG_LATENESS_S), and late_pct of them 5 to 40 minutes late
 * (after their 1-minute windows closed). src offsets are given per
 * partition in arrival order, as a worker would.
 */
struct itg_set itg_generate(int nmeters, int64_t start, int64_t span_s, int cadence_s,
                            double late_pct);

/*
 * Moves about pct % of the readings (chosen at random) to the end, in
 * their order: produced last, they arrive hours after their windows
 * closed. Returns how many moved.
 */
size_t itg_hold_back(struct itg_set *s, double pct);

/*
 * src positions per partition in array (= arrival) order, with gaps as raw
 * offsets have, and now and then a second output of one source record
 * (i = 1), as interpolation makes.
 */
void itg_assign_src(struct itg_set *s);

char *itg_json(const struct itg_reading *r);

/* Produces readings v[from..to) (keys = meter IDs, so partition = murmur2). */
void itg_produce(const char *bootstrap, const struct itg_reading *v, size_t from, size_t to);

/* ---------------------------------------------------------------- the stack */

struct itg_agg {
    struct mf_proc *proc;
    unsigned port;
};

/*
 * Starts an aggregator on the stack with the test settings plus extra
 * ("K=V", NULL-terminated, may be NULL; later ones override). A short
 * session timeout lets the group notice a killed member in seconds.
 */
struct itg_agg itg_start_agg(const char *bootstrap, const char *dsn, const char *const *extra);
/* itg_start_agg with another build (a path: the crash build); waits for /healthz if wait. */
struct itg_agg itg_start_agg_bin(const char *bin, const char *bootstrap, const char *dsn,
                                 const char *const *extra, int wait);

PGconn *itg_pg(const char *dsn);

/* One number from SQL (-1 on error); reconnects a dropped test connection. */
long long itg_sql_num(PGconn **c, const char *dsn, const char *sql);

/*
 * Waits until the tables hold `total` readings, every window is closed,
 * and the outbox is empty (the last publish was acknowledged); -1 on timeout.
 */
int itg_wait_done(PGconn **c, const char *dsn, long long total, int timeout_ms);

/* Readings stored so far (rollup_1m), -1 when PostgreSQL does not answer. */
long long itg_progress(PGconn **c, const char *dsn);

/* Waits until the rollups hold at least want readings; the count, or -1 on timeout. */
long long itg_wait_progress(PGconn **c, const char *dsn, long long want, int timeout_ms);

/* /readyz's status code (0 when it does not answer). */
long itg_readyz(unsigned port);

/* ---------------------------------------------------------------- the checks */

struct itg_win {
    const char *meter;
    int64_t start;
    long long count;
    long double sum, min, max, m2, energy, qsum;
    long long premium, standard, interp;
    int revision; /* filled from the topic check */
};

/* The expected windows of width (ms) over the readings, two-pass, sorted by (meter, start). */
struct itg_win *itg_expect(const struct itg_set *s, int64_t width, size_t *nwin);

/*
 * The table of width (rollup_1m/1h) against the expected windows, field by
 * field; also every window closed with revision >= 1. Returns mismatches.
 */
int itg_check_table(PGconn *c, const char *table, const struct itg_win *w, size_t n);

/*
 * The rollup topic of a width against the table: every stored window was
 * published, and for each (meter, window) the record with the highest
 * revision carries the table's revision and values. Returns mismatches.
 */
int itg_check_topic(const char *bootstrap, PGconn *c, const char *topic, const char *table,
                    const char *width, long *nrecords);

/* meter_current_status holds each meter's newest reading. */
int itg_check_status(PGconn *c, const struct itg_set *s);

/* The views' stddev_kw / stddev_pop_kw against SQL stddev() / stddev_pop() of the readings s. */
int itg_check_stddev_sql(PGconn *c, const struct itg_set *s);

/* region_load_1h against rollup_1h_stats joined with meters, per (region, hour). */
int itg_check_region_load(PGconn *c);

/* The full verification of a finished run over the applied readings s. */
void itg_verify_all(const char *bootstrap, PGconn *c, const struct itg_set *s);

/* A counter's value from /metrics ("name{labels}" exactly), or -1. */
double itg_metric(unsigned port, const char *series);

int itg_finish(const char *name);

#endif
