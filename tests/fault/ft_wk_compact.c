/*
 * ft_wk_compact: the changelog restore from a topic Kafka really compacted.
 * The broker rolls the changelog's segments every 200 ms and cleans them
 * eagerly (min.cleanable.dirty.ratio 0.01), so older versions of each
 * meter's state are gone from the log before the restore. Worker A writes
 * many versions (small batches), the test waits until the log shows
 * compaction's gaps, kills A with SIGKILL, and worker B restores from what
 * is left and finishes the stream. A reference worker R (its own group and
 * output topics, same raw topic) processes the whole stream without ever
 * stopping. Checked: no output lost, B's repeats identical, the stuck_value
 * alert raised once, and every meter's final state in the changelog is
 * byte-identical to R's.
 */
#include "mf_wktest.h"

#define METERS    40
#define PER_METER 300
#define STUCK_N   40
#define CHUNKS    12

static const char *const ref_topics[] = {
    "TOPIC_VALIDATED=ref.validated", "TOPIC_QUARANTINE=ref.quarantine", "TOPIC_DLQ=ref.dlq",
    "TOPIC_ALERTS=ref.alerts",       "TOPIC_STATE=ref.changelog",       NULL,
};

/* The newest value per key of a changelog (records come in offset order per partition). */
struct kv {
    char *key, *value;
    size_t len;
};

static size_t latest(struct mf_recs *r, struct kv *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++) {
        size_t k = 0;
        while (k < n && strcmp(out[k].key, r->v[i].key) != 0)
            k++;
        if (k == n) {
            CHECK(n < max, "too many keys");
            out[n++].key = r->v[i].key;
        }
        out[k].value = r->v[i].value;
        out[k].len = r->v[i].value_len;
    }
    return n;
}

/*
 * Records the compaction removed: per partition, the offsets spanned minus
 * those left; *span gets the offsets spanned.
 */
static long compacted_away(struct wk_stack *s, long *span)
{
    struct mf_recs st = {0};
    int64_t first[64], last[64];
    long left[64] = {0}, gone = 0;
    for (int p = 0; p < 64; p++)
        first[p] = -1, last[p] = -1;
    read_all(s, T_STATE, -1, &st);
    for (size_t i = 0; i < st.n; i++) {
        int p = st.v[i].partition;
        if (p < 0 || p >= 64)
            continue;
        if (first[p] < 0)
            first[p] = st.v[i].offset;
        last[p] = st.v[i].offset;
        left[p]++;
    }
    *span = 0;
    for (int p = 0; p < 64; p++)
        if (first[p] >= 0) {
            /* a fresh topic: its log starts at offset 0 (no retention deleted any) */
            gone += (long)(last[p] + 1) - left[p];
            *span += (long)(last[p] + 1);
        }
    mf_recs_release(&st);
    return gone;
}

int main(void)
{
    static const char *const compact_fast[] = {
        "meter.state.changelog:segment.ms=200",
        "meter.state.changelog:min.cleanable.dirty.ratio=0.01",
        "meter.state.changelog:min.compaction.lag.ms=0",
        NULL,
    };
    struct wk_stack s;
    char **keys, **vals;
    stack_start_cfg(&s, 0, compact_fast);
    register_stream(&s, METERS);
    size_t total = build_stream(METERS, PER_METER, STUCK_N, &keys, &vals);

    /* The reference's topics, beside the fleet's (mf-topics creates only what is missing). */
    char boot[300];
    snprintf(boot, sizeof boot, "%s", s.broker->bootstrap);
    const char *targs[] = {"--bootstrap", boot, NULL};
    struct mf_proc *t = mf_proc_start("mf-topics", targs, ref_topics);
    CHECK(mf_proc_wait(t, 60000) == 0, "mf-topics for the reference topics failed");
    free(t);

    const char *extra_a[] = {"WK_BATCH_MAX=100", "KAFKA_SESSION_TIMEOUT_MS=6000",
                             "KAFKA_HEARTBEAT_INTERVAL_MS=500", NULL};
    struct wk_proc_h *a = worker_start(&s, "compact-a", extra_a, 1);
    size_t half = total / 2, per = half / CHUNKS;
    for (int c = 0; c < CHUNKS; c++) {
        size_t from = c * per, to = c == CHUNKS - 1 ? half : from + per;
        produce_keyed(&s, (const char *const *)keys + from, (const char *const *)vals + from,
                      to - from);
        usleep(400000); /* segments roll (segment.ms) between the chunks */
    }
    double outs = worker_outputs_wait(a, (double)half, 60000);
    CHECK(outs >= (double)half, "A produced %.0f of %zu outputs", outs, half);

    /* Wait until compaction removed at least half of the state versions written. */
    long gone = 0, span = 0;
    int64_t deadline = mf_mono_ms() + 90000;
    while ((gone = compacted_away(&s, &span)) * 2 < span && mf_mono_ms() < deadline) {
        /* The cleaner takes only rolled segments: one more state version rolls the last. */
        produce_keyed(&s, (const char *const *)keys + half, (const char *const *)vals + half, 1);
        half++;
        sleep(1);
    }
    CHECK(gone * 2 >= span, "the changelog was not compacted: %ld of %ld records removed", gone,
          span);
    printf("# compaction removed %ld of %ld state records before the restore\n", gone, span);

    worker_kill(a);
    struct wk_proc_h *b = worker_start(&s, "compact-b", extra_a, 1);
    produce_keyed(&s, (const char *const *)keys + half, (const char *const *)vals + half,
                  total - half);
    struct mf_recs quar = {0}, alerts = {0};
    struct verdict v = wait_all_outputs(&s, total, &quar);
    for (size_t q = 0; q < quar.n; q++)
        CHECK(strcmp(quar.v[q].key, "STUCK") == 0 &&
                  strstr(quar.v[q].value, "\"reasons\":[\"fault:stuck_value\"]"),
              "quarantined (a state that forgot its history?): %s", quar.v[q].value);
    mf_kafka_read_topic(s.broker->bootstrap, T_ALERT, -1, 1500, 60000, &alerts);
    CHECK(alert_count(&alerts, "STUCK", "stuck_value", "raised") == 1,
          "stuck_value not raised exactly once across the restore");

    /* The reference: the whole raw topic in one go, never stopped. */
    const char *extra_r[] = {"GROUP_ID=ref", ref_topics[0], ref_topics[1],       ref_topics[2],
                             ref_topics[3],  ref_topics[4], "WK_BATCH_MAX=5000", NULL};
    struct wk_proc_h *r = worker_start(&s, "compact-ref", extra_r, 1);
    double routs = worker_outputs_wait(r, (double)total, 90000);
    CHECK(routs >= (double)total, "the reference produced %.0f of %zu outputs", routs, total);
    CHECK(worker_stop(b) == 0, "B's SIGTERM exit status");
    CHECK(worker_stop(r) == 0, "R's SIGTERM exit status");

    struct mf_recs st_b = {0}, st_r = {0};
    read_all(&s, T_STATE, -1, &st_b);
    read_all(&s, "ref.changelog", -1, &st_r);
    struct kv lb[64], lr[64];
    size_t nb = latest(&st_b, lb, 64), nr = latest(&st_r, lr, 64);
    CHECK(nb == METERS + 1 && nr == METERS + 1, "%zu and %zu meters in the changelogs, want %d", nb,
          nr, METERS + 1);
    for (size_t i = 0; i < nb; i++) {
        size_t j = 0;
        while (j < nr && strcmp(lr[j].key, lb[i].key) != 0)
            j++;
        CHECK(j < nr, "meter %s missing from the reference", lb[i].key);
        CHECK(lb[i].len == lr[j].len && memcmp(lb[i].value, lr[j].value, lb[i].len) == 0,
              "meter %s: the restored worker's final state differs from the reference's",
              lb[i].key);
    }
    printf("ft_wk_compact: %zu records, %ld of %ld state records compacted away before the "
           "restore, %zu repeats after SIGKILL, %zu final states equal to a never-stopped worker\n",
           total, gone, span, v.repeats, nb);
    free_stream(keys, vals, total);
    mf_recs_release(&quar);
    mf_recs_release(&alerts);
    mf_recs_release(&st_b);
    mf_recs_release(&st_r);
    stack_stop(&s);
    return 0;
}
