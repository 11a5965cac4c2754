/*
 * it_wk_lib.h: what the stream-worker's integration and fault tests share:
 * the stack (local broker, throw-away PostgreSQL with the registry), worker
 * processes, and reading the output topics back as parsed JSON. Static
 * helpers in a header, so each test stays one file and one binary.
 */
#ifndef IT_WK_LIB_H
#define IT_WK_LIB_H

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

/*
 * Starts the broker (real Kafka with topic settings "TOPIC:KEY=VALUE", or
 * NULL; the mock when mock is 1, for fault injection) and PostgreSQL,
 * applies the migrations with `stream-worker migrate`.
 */
__attribute__((unused)) static void stack_start_cfg(struct wk_stack *s, int mock,
                                                     const char *const *topic_configs)
{
    memset(s, 0, sizeof *s);
    s->pg = mf_pgtmp_start(); /* exits 77 when PostgreSQL is not installed */
    s->broker = mock ? mf_mockbroker_start(1) : mf_broker_start_with(topic_configs);
    snprintf(s->env_brokers, sizeof s->env_brokers, "KAFKA_BROKERS=%s", s->broker->bootstrap);
    snprintf(s->env_dsn, sizeof s->env_dsn, "PG_DSN=%s", s->pg->dsn);
    const char *args[] = {"migrate", NULL};
    const char *env[] = {s->env_dsn, "LOG_LEVEL=warn", NULL};
    struct mf_proc *m = mf_proc_start("stream-worker", args, env);
    int st = mf_proc_wait(m, 60000);
    CHECK(st == 0, "stream-worker migrate exited %d", st);
    free(m);
}

__attribute__((unused)) static void stack_start_on(struct wk_stack *s, int mock)
{
    stack_start_cfg(s, mock, NULL);
}

__attribute__((unused)) static void stack_start(struct wk_stack *s)
{
    stack_start_on(s, 0);
}

__attribute__((unused)) static void stack_stop(struct wk_stack *s)
{
    mf_broker_stop(s->broker);
    mf_pgtmp_do(s->pg, "destroy");
}

/* Runs SQL (the test's own text). */
__attribute__((unused)) static void sql(struct wk_stack *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
__attribute__((unused)) static void sql(struct wk_stack *s, const char *fmt, ...)
{
    char q[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    CHECK(mf_pgtmp_query(s->pg, q) != NULL, "sql failed: %s", q);
}

/*
 * Starts a worker named id with extra "K=V" settings (NULL-terminated, may
 * be NULL); waits until /readyz says ready unless wait_ready is 0.
 */
__attribute__((unused)) static struct wk_proc_h *worker_start(struct wk_stack *s, const char *id, const char *const *extra,
                                      int wait_ready)
{
    struct wk_proc_h *w = mf_xcalloc(1, sizeof *w);
    int n = 0;
    w->port = mf_free_port();
    snprintf(w->env[n++], 128, "%s", "LOG_LEVEL=info");
    snprintf(w->env[n++], 128, "WORKER_ID=%s", id);
    snprintf(w->env[n++], 128, "METRICS_ADDR=127.0.0.1:%u", w->port);
    snprintf(w->env[n++], 128, "%s", "WK_BATCH_MS=50");
    snprintf(w->env[n++], 128, "%s", "REGISTRY_REFRESH_S=1");
    snprintf(w->env[n++], 128, "%s", "TS_CHECK=off");
    for (int i = 0; extra && extra[i] && n < 20; i++)
        snprintf(w->env[n++], 128, "%s", extra[i]);
    for (int i = 0; i < n; i++)
        w->envp[i] = w->env[i];
    w->envp[n++] = s->env_brokers;
    w->envp[n++] = s->env_dsn;
    w->envp[n] = NULL;
    w->proc = mf_proc_start("stream-worker", NULL, w->envp);
    if (wait_ready)
        CHECK(mf_wait_http_ok(w->port, "/readyz", 90000) == 0, "worker %s never became ready", id);
    return w;
}

/* SIGTERM and wait; returns the exit status. Frees w. */
__attribute__((unused)) static int worker_stop(struct wk_proc_h *w)
{
    int st = mf_proc_stop(w->proc, 40000);
    free(w);
    return st;
}

/* SIGKILL, no goodbye. Frees w. */
__attribute__((unused)) static void worker_kill(struct wk_proc_h *w)
{
    mf_proc_signal(w->proc, SIGKILL);
    mf_proc_wait(w->proc, 10000);
    free(w->proc);
    free(w);
}

/* The value of a metric sample line starting with `series` on the worker's /metrics, or -1. */
__attribute__((unused)) static double worker_metric(struct wk_proc_h *w, const char *series)
{
    char url[128];
    struct mf_http_resp r;
    double v = -1;
    snprintf(url, sizeof url, "http://127.0.0.1:%u/metrics", w->port);
    if (mf_http("GET", url, NULL, NULL, 0, &r) == 0 && r.code == 200) {
        size_t n = strlen(series);
        for (const char *p = r.body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
            if (strncmp(p, series, n) == 0 && p[n] == ' ') {
                v = strtod(p + n + 1, NULL);
                break;
            }
    }
    mf_http_resp_release(&r);
    return v;
}

/* Waits up to timeout_ms for a metric series to reach want (metrics follow the commit). */
__attribute__((unused)) static double worker_metric_wait(struct wk_proc_h *w, const char *series,
                                                         double want, int timeout_ms)
{
    int64_t deadline = mf_mono_ms() + timeout_ms;
    double v;
    while ((v = worker_metric(w, series)) != want && mf_mono_ms() < deadline)
        usleep(100000);
    return v;
}

/* Produces readings keyed by their meter (values are NUL-terminated JSON or junk). */
__attribute__((unused)) static void produce_keyed(struct wk_stack *s, const char *const *keys, const char *const *vals,
                          size_t n)
{
    mf_kafka_produce(s->broker->bootstrap, T_RAW, keys, vals, n);
}

/* Reads a whole topic: until `want` records, or idle for idle_ms when want < 0. */
__attribute__((unused)) static void read_all(struct wk_stack *s, const char *topic, long want, struct mf_recs *out)
{
    mf_kafka_read_topic(s->broker->bootstrap, topic, want, 3000, 60000, out);
}

/* The src of a JSON output: p, o, i. Returns 0, or -1 when it has none. */
__attribute__((unused)) static int src_of(const char *json, int *p, long long *o, int *i)
{
    cJSON *j = cJSON_Parse(json);
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(j, "src");
    int rc = -1;
    if (src) {
        *p = cJSON_GetObjectItemCaseSensitive(src, "p")->valueint;
        *o = (long long)cJSON_GetObjectItemCaseSensitive(src, "o")->valuedouble;
        *i = cJSON_GetObjectItemCaseSensitive(src, "i")->valueint;
        rc = 0;
    }
    cJSON_Delete(j);
    return rc;
}

/* A string field of a JSON text (static buffer), or "" */
__attribute__((unused)) static const char *jstr(const char *json, const char *field)
{
    static char out[512];
    cJSON *j = cJSON_Parse(json);
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, field);
    out[0] = '\0';
    if (cJSON_IsString(f))
        snprintf(out, sizeof out, "%s", f->valuestring);
    else if (f) {
        char *t = cJSON_PrintUnformatted(f);
        snprintf(out, sizeof out, "%s", t);
        free(t);
    }
    cJSON_Delete(j);
    return out;
}

#endif
