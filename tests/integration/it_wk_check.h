/*
 * it_wk_check.h: the effectively-once verdict the worker's kill, scale and
 * fault tests share. Given the raw records and the output topics, it
 * checks that every source record has its scored output (none lost), that
 * every repeat of a src is byte-identical to its first copy, and counts
 * the repeats; and that a given alert was raised exactly once.
 */
#ifndef IT_WK_CHECK_H
#define IT_WK_CHECK_H

#include "it_wk_lib.h"

struct src_seen {
    int p;
    long long o;
    int i;
    const char *value; /* first copy, borrowed from the recs */
};

__attribute__((unused)) static int src_cmp(const void *a, const void *b)
{
    const struct src_seen *x = a, *y = b;
    if (x->p != y->p)
        return x->p < y->p ? -1 : 1;
    if (x->o != y->o)
        return x->o < y->o ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

struct verdict {
    size_t outputs, distinct, repeats, scored_sources;
};

/*
 * Collects the srcs of outputs (several topics), sorted. Fails the test on
 * a repeat that differs from its first copy.
 */
__attribute__((unused)) static struct verdict check_outputs(struct mf_recs *const *topics, int ntopics,
                                    struct src_seen **out)
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

/* 1 if the sorted distinct srcs hold (p, o) with any index. */
__attribute__((unused)) static int has_source(const struct src_seen *s, size_t n, int p, long long o)
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

/* Distinct srcs of alerts of a type and state. */
__attribute__((unused)) static int alert_count(struct mf_recs *alerts, const char *meter, const char *type,
                       const char *state)
{
    struct src_seen seen[64];
    int n = 0;
    for (size_t r = 0; r < alerts->n; r++) {
        const char *v = alerts->v[r].value;
        if (strcmp(alerts->v[r].key, meter) != 0)
            continue;
        if (strcmp(jstr(v, "type"), type) != 0 || strcmp(jstr(v, "state"), state) != 0)
            continue;
        struct src_seen x;
        src_of(v, &x.p, &x.o, &x.i);
        int dup = 0;
        for (int i = 0; i < n; i++)
            dup |= src_cmp(&seen[i], &x) == 0;
        if (!dup && n < 64)
            seen[n++] = x;
    }
    return n;
}

/*
 * The test stream: `meters` meters K000.. interleaved, one minute apart,
 * values that trip no rule, plus `stuck_n` hourly readings of one value of
 * meter STUCK spread evenly through it. Returns the count; free with
 * free_stream.
 */
__attribute__((unused)) static size_t build_stream(int meters, int per_meter, int stuck_n, char ***keysp, char ***valsp)
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
                         (long long)(t0 + (int64_t)stuck_i++ * 3600000));
                keys[n] = mf_xstrdup("STUCK");
                vals[n++] = mf_xstrdup(buf);
            }
            snprintf(id, sizeof id, "K%03d", m);
            snprintf(buf, sizeof buf,
                     "{\"meter_id\":\"%s\",\"ts\":%lld,\"value\":%.1f,\"unit\":\"kW\"}", id,
                     (long long)(t0 + (int64_t)k * 60000), 1.0 + (k % 7) * 0.1);
            keys[n] = mf_xstrdup(id);
            vals[n++] = mf_xstrdup(buf);
        }
    }
    CHECK(n == total, "built %zu of %zu", n, total);
    *keysp = keys;
    *valsp = vals;
    return total;
}

__attribute__((unused)) static void free_stream(char **keys, char **vals, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(keys[i]);
        free(vals[i]);
    }
    free(keys);
    free(vals);
}

/* Registers the stream's meters. */
__attribute__((unused)) static void register_stream(struct wk_stack *s, int meters)
{
    sql(s, "INSERT INTO meters (meter_id, interval_s) SELECT 'K' || lpad(g::text, 3, '0'), 60 "
           "FROM generate_series(0, %d) g",
        meters - 1);
    sql(s, "INSERT INTO meters (meter_id, interval_s) VALUES ('STUCK', 3600)");
}

/*
 * Reads validated + quarantine until every raw record has an output (or
 * 150 s), checks repeats are identical, and returns the verdict; fails the
 * test if a source record has no output.
 */
__attribute__((unused)) static struct verdict wait_all_outputs(struct wk_stack *s, size_t total, struct mf_recs *quar_out)
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

#endif
