/*
 * mf_wktest: what the stream-worker's integration and fault tests (and
 * bench_wk) share, built once into libmftest: the stack (a real broker or
 * the mock, a throw-away PostgreSQL with the registry), worker processes,
 * reading the output topics back as parsed JSON, and the effectively-once
 * verdict: every source record has its output (none lost), every repeat
 * of a src is byte-identical to its first copy, repeats counted; an alert
 * raised exactly once. Helpers exit the test with a message on failure.
 * Thread: main.
 */
#ifndef MF_WKTEST_H
#define MF_WKTEST_H

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "mf_harness.h"
#include "mf_time.h"
#include "mf_common.h"

#define T_RAW   "meter.readings.raw"
#define T_VAL   "meter.readings.validated"
#define T_QUAR  "meter.readings.quarantine"
#define T_DLQ   "meter.readings.dlq"
#define T_ALERT "meter.alerts"
#define T_STATE "meter.state.changelog"

struct wk_stack {
    struct mf_broker *broker;
    struct mf_pgtmp *pg;
    char env_brokers[300];
    char env_dsn[300];
};

struct wk_proc_h {
    struct mf_proc *proc;
    unsigned port;
    char env[20][128];
    const char *envp[23];
};

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

struct src_seen {
    int p;
    long long o;
    int i;
    const char *value; /* first copy, borrowed from the recs */
};

struct verdict {
    size_t outputs, distinct, repeats, scored_sources;
};
/*
 * Starts the broker (real Kafka with topic settings "TOPIC:KEY=VALUE", or
 * NULL; the mock when mock is 1, for fault injection) and PostgreSQL,
 * applies the migrations with `stream-worker migrate`.
 */
void stack_start_cfg(struct wk_stack *s, int mock, const char *const *topic_configs);

void stack_start_on(struct wk_stack *s, int mock);

void stack_start(struct wk_stack *s);

void stack_stop(struct wk_stack *s);

void sql(struct wk_stack *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Starts a worker named id with extra "K=V" settings (NULL-terminated, may
 * be NULL); waits until /readyz says ready unless wait_ready is 0.
 */
struct wk_proc_h *worker_start(struct wk_stack *s, const char *id, const char *const *extra,
                               int wait_ready);
/* worker_start with another build of the worker (a path: the crash build). */
struct wk_proc_h *worker_start_bin(struct wk_stack *s, const char *bin, const char *id,
                                   const char *const *extra, int wait_ready);
/* Creates the §2 topics under the names the "TOPIC_X=name" settings give (mf-topics). */
void create_topics_env(struct wk_stack *s, const char *const *topic_env);
/* SIGTERM and wait; returns the exit status. Frees w. */
int worker_stop(struct wk_proc_h *w);
/* SIGKILL, no goodbye. Frees w. */
void worker_kill(struct wk_proc_h *w);
/* The value of a metric sample line starting with `series` on the worker's /metrics, or -1. */
double worker_metric(struct wk_proc_h *w, const char *series);
/* Waits up to timeout_ms for a metric series to reach want (metrics follow the commit). */
double worker_metric_wait(struct wk_proc_h *w, const char *series, double want, int timeout_ms);

/*
 * Waits up to timeout_ms until the worker's committed outputs (validated +
 * quarantine, as its metrics count them after each commit) reach want;
 * returns the count reached.
 */
double worker_outputs_wait(struct wk_proc_h *w, double want, int timeout_ms);
/* Produces readings keyed by their meter (values are NUL-terminated JSON or junk). */
void produce_keyed(struct wk_stack *s, const char *const *keys, const char *const *vals, size_t n);
/* Reads a whole topic: until `want` records, or idle for idle_ms when want < 0. */
void read_all(struct wk_stack *s, const char *topic, long want, struct mf_recs *out);
/* The src of a JSON output: p, o, i. Returns 0, or -1 when it has none. */
int src_of(const char *json, int *p, long long *o, int *i);
/* A string field of a JSON text (static buffer), or "" */
const char *jstr(const char *json, const char *field);

int src_cmp(const void *a, const void *b);
/*
 * Collects the srcs of outputs (several topics), sorted. Fails the test on
 * a repeat that differs from its first copy.
 */
struct verdict check_outputs(struct mf_recs *const *topics, int ntopics, struct src_seen **out);
/* 1 if the sorted distinct srcs hold (p, o) with any index. */
int has_source(const struct src_seen *s, size_t n, int p, long long o);
/* Distinct srcs of alerts of a type and state. */
int alert_count(struct mf_recs *alerts, const char *meter, const char *type, const char *state);
/*
 * The test stream: `meters` meters K000.. interleaved, one minute apart,
 * values that trip no rule, plus `stuck_n` hourly readings of one value of
 * meter STUCK spread evenly through it. Returns the count; free with
 * free_stream.
 */
size_t build_stream(int meters, int per_meter, int stuck_n, char ***keysp, char ***valsp);

void free_stream(char **keys, char **vals, size_t n);
/* Registers the stream's meters. */
void register_stream(struct wk_stack *s, int meters);
/*
 * Reads validated + quarantine until every raw record has an output (or
 * 150 s), checks repeats are identical, and returns the verdict; fails the
 * test if a source record has no output.
 */
struct verdict wait_all_outputs(struct wk_stack *s, size_t total, struct mf_recs *quar_out);

#endif
