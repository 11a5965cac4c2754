/* mf_wktest: the worker tests' stack, processes and verdicts. */
#include "mf_wktest.h"

void stack_start_cfg(struct wk_stack *s, int mock, const char *const *topic_configs)
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

void stack_start_on(struct wk_stack *s, int mock)
{
    stack_start_cfg(s, mock, NULL);
}

void stack_start(struct wk_stack *s)
{
    stack_start_on(s, 0);
}

void stack_stop(struct wk_stack *s)
{
    mf_broker_stop(s->broker);
    mf_pgtmp_do(s->pg, "destroy");
}

void sql(struct wk_stack *s, const char *fmt, ...)
{
    char q[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    CHECK(mf_pgtmp_query(s->pg, q) != NULL, "sql failed: %s", q);
}

struct wk_proc_h *worker_start(struct wk_stack *s, const char *id, const char *const *extra,
                               int wait_ready)
{
    return worker_start_bin(s, "stream-worker", id, extra, wait_ready);
}

void create_topics_env(struct wk_stack *s, const char *const *topic_env)
{
    const char *args[] = {"--bootstrap", s->broker->bootstrap, NULL};
    struct mf_proc *p = mf_proc_start("mf-topics", args, topic_env);
    int st = mf_proc_wait(p, 90000);
    free(p);
    CHECK(st == 0, "mf-topics exited %d", st);
}

struct wk_proc_h *worker_start_bin(struct wk_stack *s, const char *bin, const char *id,
                                   const char *const *extra, int wait_ready)
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
    w->proc = mf_proc_start(bin, NULL, w->envp);
    if (wait_ready)
        CHECK(mf_wait_http_ok(w->port, "/readyz", 90000) == 0, "worker %s never became ready", id);
    return w;
}

int worker_stop(struct wk_proc_h *w)
{
    int st = mf_proc_stop(w->proc, 40000);
    free(w);
    return st;
}

void worker_kill(struct wk_proc_h *w)
{
    mf_proc_signal(w->proc, SIGKILL);
    mf_proc_wait(w->proc, 10000);
    free(w->proc);
    free(w);
}

double worker_metric(struct wk_proc_h *w, const char *series)
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

double worker_metric_wait(struct wk_proc_h *w, const char *series, double want, int timeout_ms)
{
    int64_t deadline = mf_mono_ms() + timeout_ms;
    double v;
    while ((v = worker_metric(w, series)) != want && mf_mono_ms() < deadline)
        usleep(100000);
    return v;
}

void produce_keyed(struct wk_stack *s, const char *const *keys, const char *const *vals, size_t n)
{
    mf_kafka_produce(s->broker->bootstrap, T_RAW, keys, vals, n);
}

void read_all(struct wk_stack *s, const char *topic, long want, struct mf_recs *out)
{
    mf_kafka_read_topic(s->broker->bootstrap, topic, want, 3000, 60000, out);
}

int src_of(const char *json, int *p, long long *o, int *i)
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

const char *jstr(const char *json, const char *field)
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

int src_cmp(const void *a, const void *b)
{
    const struct src_seen *x = a, *y = b;
    if (x->p != y->p)
        return x->p < y->p ? -1 : 1;
    if (x->o != y->o)
        return x->o < y->o ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

struct verdict check_outputs(struct mf_recs *const *topics, int ntopics, struct src_seen **out)
{
    struct verdict v = {0};
    size_t n = 0;
    for (int t = 0; t < ntopics; t++)
        n += topics[t]->n;
    struct src_seen *s = mf_xcalloc(n ? n : 1, sizeof *s);
    size_t k = 0;
    for (int t = 0; t < ntopics; t++)
        for (size_t r = 0; r < topics[t]->n; r++) {
            CHECK(src_of(topics[t]->v[r].value, &s[k].p, &s[k].o, &s[k].i) == 0, "no src in %s",
                  topics[t]->v[r].value);
            s[k++].value = topics[t]->v[r].value;
        }
    qsort(s, n, sizeof *s, src_cmp);
    v.outputs = n;
    size_t d = 0;
    for (size_t i = 0; i < n; i++) {
        if (d > 0 && src_cmp(&s[d - 1], &s[i]) == 0) {
            CHECK(strcmp(s[d - 1].value, s[i].value) == 0,
                  "a repeat differs from its first copy:\n  %s\n  %s", s[d - 1].value, s[i].value);
            v.repeats++;
            continue;
        }
        s[d++] = s[i];
    }
    v.distinct = d;
    *out = s;
    return v;
}

int has_source(const struct src_seen *s, size_t n, int p, long long o)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s[mid].p < p || (s[mid].p == p && s[mid].o < o))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && s[lo].p == p && s[lo].o == o;
}

int alert_count(struct mf_recs *alerts, const char *meter, const char *type, const char *state)
{
    struct src_seen seen[64];
    int n = 0;
    for (size_t r = 0; r < alerts->n; r++) {
        const char *v = alerts->v[r].value;
        if (strcmp(alerts->v[r].key, meter) != 0)
            continue;
        if (strcmp(jstr(v, "type"), type) != 0 || strcmp(jstr(v, "state"), state) != 0)
            continue;
        struct src_seen x = {0}; /* all zero if the alert has no src */
        src_of(v, &x.p, &x.o, &x.i);
        int dup = 0;
        for (int i = 0; i < n; i++)
            dup |= src_cmp(&seen[i], &x) == 0;
        if (!dup && n < 64)
            seen[n++] = x;
    }
    return n;
}

size_t build_stream(int meters, int per_meter, int stuck_n, char ***keysp, char ***valsp)
{
    size_t total = (size_t)meters * per_meter + stuck_n;
    char **vals = mf_xcalloc(total, sizeof *vals), **keys = mf_xcalloc(total, sizeof *keys);
    int64_t t0 = 1710460800000LL; /* 2024-03-15T00:00:00Z */
    size_t n = 0, every = stuck_n ? total / stuck_n : total + 1, stuck_i = 0;
    for (int k = 0; k < per_meter; k++) {
        for (int m = 0; m < meters; m++) {
            char buf[256], id[16];
            if (n % every == 0 && (int)stuck_i < stuck_n) {
                snprintf(buf, sizeof buf, "{\"meter_id\":\"STUCK\",\"ts\":%lld,\"value\":2.5}",
                         (long long)t0 + (long long)stuck_i++ * 3600000);
                keys[n] = mf_xstrdup("STUCK");
                vals[n++] = mf_xstrdup(buf);
            }
            snprintf(id, sizeof id, "K%03d", m);
            snprintf(buf, sizeof buf,
                     "{\"meter_id\":\"%s\",\"ts\":%lld,\"value\":%.1f,\"unit\":\"kW\"}", id,
                     (long long)t0 + k * 60000LL, 1.0 + (k % 7) * 0.1);
            keys[n] = mf_xstrdup(id);
            vals[n++] = mf_xstrdup(buf);
        }
    }
    CHECK(n == total, "built %zu of %zu", n, total);
    *keysp = keys;
    *valsp = vals;
    return total;
}

void free_stream(char **keys, char **vals, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(keys[i]);
        free(vals[i]);
    }
    free(keys);
    free(vals);
}

void register_stream(struct wk_stack *s, int meters)
{
    sql(s,
        "INSERT INTO meters (meter_id, interval_s) SELECT 'K' || lpad(g::text, 3, '0'), 60 "
        "FROM generate_series(0, %d) g",
        meters - 1);
    sql(s, "INSERT INTO meters (meter_id, interval_s) VALUES ('STUCK', 3600)");
}

struct verdict wait_all_outputs(struct wk_stack *s, size_t total, struct mf_recs *quar_out)
{
    struct mf_recs raw = {0}, val = {0}, quar = {0};
    struct verdict v = {0};
    struct src_seen *seen = NULL;
    read_all(s, T_RAW, (long)total, &raw);
    CHECK(raw.n == total, "raw holds %zu of %zu", raw.n, total);
    int64_t deadline = mf_mono_ms() + 150000;
    for (;;) {
        mf_recs_release(&val);
        mf_recs_release(&quar);
        mf_kafka_read_topic(s->broker->bootstrap, T_VAL, -1, 1500, 60000, &val);
        mf_kafka_read_topic(s->broker->bootstrap, T_QUAR, -1, 500, 60000, &quar);
        struct mf_recs *tops[] = {&val, &quar};
        free(seen);
        v = check_outputs(tops, 2, &seen);
        if (v.distinct >= total || mf_mono_ms() > deadline)
            break;
        sleep(1);
    }
    size_t missing = 0;
    for (size_t r = 0; r < raw.n; r++)
        if (!has_source(seen, v.distinct, raw.v[r].partition, raw.v[r].offset))
            missing++;
    CHECK(missing == 0, "%zu source records have no output (lost)", missing);
    CHECK(v.distinct == total, "%zu distinct outputs for %zu records", v.distinct, total);
    free(seen);
    mf_recs_release(&raw);
    mf_recs_release(&val);
    if (quar_out)
        *quar_out = quar;
    else
        mf_recs_release(&quar);
    return v;
}

static double worker_outputs(struct wk_proc_h *w)
{
    double v = worker_metric(w, "meterflow_worker_records_total{outcome=\"validated\"}");
    double q = worker_metric(w, "meterflow_worker_records_total{outcome=\"quarantine\"}");
    return (v < 0 ? 0 : v) + (q < 0 ? 0 : q);
}

double worker_outputs_wait(struct wk_proc_h *w, double want, int timeout_ms)
{
    int64_t deadline = mf_mono_ms() + timeout_ms;
    double n;
    while ((n = worker_outputs(w)) < want && mf_mono_ms() < deadline)
        usleep(200000);
    return n;
}
