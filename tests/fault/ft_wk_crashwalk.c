/*
 * ft_wk_crashwalk: the stream-worker's crash-point walk (issue 17). Random
 * kills almost never land between two writes; this test crashes the worker
 * at every named point in turn, the list taken from the fault build itself
 * (`build/crash/bin/stream-worker --crash-points`), so a new point is
 * walked without editing the test.
 *
 * One stream, one chunk per point: for each point, a fault-build worker
 * runs with MF_CRASH_AT=<point>:2 and must die there by SIGKILL (a point
 * never reached fails the test: the walk would be a lie). Points named
 * worker.txn.* are reached only with WK_EOS=on, so those workers run with
 * Kafka transactions; the others run the effectively-once protocol (a
 * stream that switches between the two is also what an upgrade does).
 * Then a release worker finishes the stream, and:
 *   - every source record has its output (0 lost), every repeat is
 *     byte-identical to its first copy (a consumer drops it by src);
 *   - a stuck_value run that spans every crash is raised exactly once;
 *   - the outputs and the final changelog state per meter equal those of
 *     a reference worker that read the same raw topic without a crash.
 */
#include "mf_wktest.h"

#define METERS     30
#define PER_METER  300
#define STUCK_N    40
#define BATCH      40
#define MAX_POINTS 64
#define REF        "ref."

/* Last value per key of a compacted topic's records (sorted by key). */
static int by_key(const void *a, const void *b)
{
    const struct mf_rec *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* The last record per key (a shallow, sorted copy; free() it). */
static struct mf_rec *latest_per_key(const struct mf_recs *r, size_t *n)
{
    struct mf_rec *v = mf_xcalloc(r->n ? r->n : 1, sizeof *v);
    if (r->n)
        memcpy(v, r->v, r->n * sizeof *v);
    /* Offsets grow within a partition, and a meter lives on one partition. */
    qsort(v, r->n, sizeof *v, by_key);
    size_t d = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (d > 0 && strcmp(v[d - 1].key, v[i].key) == 0)
            d--;
        v[d++] = v[i];
    }
    *n = d;
    return v;
}

static void compare_states(struct wk_stack *s, const char *ref_topic)
{
    struct mf_recs a = {0}, b = {0};
    mf_kafka_read_topic(s->broker->bootstrap, T_STATE, -1, 1500, 60000, &a);
    mf_kafka_read_topic(s->broker->bootstrap, ref_topic, -1, 1500, 60000, &b);
    size_t na, nb;
    struct mf_rec *la = latest_per_key(&a, &na), *lb = latest_per_key(&b, &nb);
    CHECK(na == nb, "%zu meters in the crashed run's changelog, %zu in the reference", na, nb);
    for (size_t i = 0; i < na; i++) {
        CHECK(strcmp(la[i].key, lb[i].key) == 0, "meter %s vs %s", la[i].key, lb[i].key);
        CHECK(la[i].value_len == lb[i].value_len &&
                  memcmp(la[i].value, lb[i].value, la[i].value_len) == 0,
              "meter %s: its final state differs from the run without a crash", la[i].key);
    }
    free(la);
    free(lb);
    mf_recs_release(&a);
    mf_recs_release(&b);
    printf("changelog: %zu meters' final states equal the reference run's\n", na);
}

/*
 * Reads a run's validated + quarantine outputs until `total` distinct srcs
 * are there (a single read can stop early on a busy machine); the recs stay
 * alive in val/quar for the borrowed values.
 */
static struct verdict read_outputs(struct wk_stack *s, const char *tval, const char *tquar,
                                   size_t total, struct mf_recs *val, struct mf_recs *quar,
                                   struct src_seen **seen)
{
    int64_t deadline = mf_mono_ms() + 60000;
    struct verdict v;
    for (;;) {
        mf_kafka_read_topic(s->broker->bootstrap, tval, -1, 1500, 60000, val);
        mf_kafka_read_topic(s->broker->bootstrap, tquar, -1, 500, 60000, quar);
        struct mf_recs *tops[] = {val, quar};
        v = check_outputs(tops, 2, seen);
        if (v.distinct >= total || mf_mono_ms() > deadline)
            return v;
        free(*seen);
        mf_recs_release(val);
        mf_recs_release(quar);
    }
}

static void compare_outputs(struct wk_stack *s, size_t total)
{
    struct mf_recs val = {0}, quar = {0}, rval = {0}, rquar = {0};
    struct src_seen *a = NULL, *b = NULL;
    struct verdict va = read_outputs(s, T_VAL, T_QUAR, total, &val, &quar, &a);
    struct verdict vb = read_outputs(s, REF T_VAL, REF T_QUAR, total, &rval, &rquar, &b);
    CHECK(va.distinct == total && vb.distinct == total,
          "%zu distinct outputs, the reference %zu, for %zu records", va.distinct, vb.distinct,
          total);
    for (size_t i = 0; i < va.distinct; i++)
        CHECK(src_cmp(&a[i], &b[i]) == 0 && strcmp(a[i].value, b[i].value) == 0,
              "output differs from the reference run:\n  %s\n  %s", a[i].value, b[i].value);
    printf("outputs: %zu distinct, equal to the reference run's (%zu repeats after crashes)\n",
           va.distinct, va.repeats);
    free(a);
    free(b);
    mf_recs_release(&val);
    mf_recs_release(&quar);
    mf_recs_release(&rval);
    mf_recs_release(&rquar);
}

int main(void)
{
    char bin[512];
    static char points[MAX_POINTS][MF_CRASH_POINT_MAX];
    int npoints = mf_crash_walk_points("stream-worker", bin, sizeof bin, points, MAX_POINTS);

    struct wk_stack s;
    char **keys, **vals;
    stack_start(&s);
    register_stream(&s, METERS);
    size_t total = build_stream(METERS, PER_METER, STUCK_N, &keys, &vals);
    size_t per = total / (size_t)(npoints + 1);

    char batch[64];
    snprintf(batch, sizeof batch, "WK_BATCH_MAX=%d", BATCH);
    for (int i = 0; i < npoints; i++) {
        produce_keyed(&s, (const char *const *)keys + i * per, (const char *const *)vals + i * per,
                      per);
        char at[160];
        snprintf(at, sizeof at, "MF_CRASH_AT=%.96s:2", points[i]);
        int eos = strncmp(points[i], "worker.txn.", 11) == 0;
        /* A killed member says no goodbye: a short session (tools/kafka-local allows
         * 1 s) lets the next one in quickly. */
        const char *extra[] = {batch,
                               at,
                               "KAFKA_SESSION_TIMEOUT_MS=2000",
                               "KAFKA_HEARTBEAT_INTERVAL_MS=300",
                               eos ? "WK_EOS=on" : NULL,
                               NULL};
        int64_t t0 = mf_mono_ms();
        struct wk_proc_h *w = worker_start_bin(&s, bin, "walk", extra, 0);
        int st = mf_proc_wait(w->proc, 90000);
        if (st < 0)
            mf_proc_signal(w->proc, SIGKILL), mf_proc_wait(w->proc, 10000);
        free(w->proc);
        free(w);
        CHECK(st == 128 + SIGKILL, "crash point %s: the worker %s (status %d), want SIGKILL there",
              points[i], st < 0 ? "never reached it in 90 s" : "exited", st);
        printf("crash point %-28s reached, SIGKILL after %.1f s%s\n", points[i],
               (double)(mf_mono_ms() - t0) / 1000.0, eos ? " (WK_EOS=on)" : "");
        fflush(stdout);
    }
    size_t rest = total - (size_t)npoints * per;
    produce_keyed(&s, (const char *const *)keys + (size_t)npoints * per,
                  (const char *const *)vals + (size_t)npoints * per, rest);

    const char *fin_extra[] = {batch, "KAFKA_SESSION_TIMEOUT_MS=2000",
                               "KAFKA_HEARTBEAT_INTERVAL_MS=300", NULL};
    struct wk_proc_h *w = worker_start(&s, "walk", fin_extra, 1);
    struct mf_recs alerts = {0};
    struct verdict v = wait_all_outputs(&s, total, NULL);
    CHECK(worker_stop(w) == 0, "SIGTERM exit status");

    /* A stuck_value run spanning every crash: raised once (repeats share the src). */
    mf_kafka_read_topic(s.broker->bootstrap, T_ALERT, -1, 1500, 60000, &alerts);
    int raised = alert_count(&alerts, "STUCK", "stuck_value", "raised");
    CHECK(raised == 1, "stuck_value raised %d times across the crashes", raised);

    /* The reference: the same raw topic, a fresh group, no crash, its own outputs. */
    static const char *const ref_topics[] = {
        "TOPIC_VALIDATED=" REF T_VAL, "TOPIC_QUARANTINE=" REF T_QUAR, "TOPIC_DLQ=" REF T_DLQ,
        "TOPIC_ALERTS=" REF T_ALERT,  "TOPIC_STATE=" REF T_STATE,     NULL};
    create_topics_env(&s, ref_topics);
    const char *ref_extra[] = {batch,         "GROUP_ID=crashwalk-reference",
                               ref_topics[0], ref_topics[1],
                               ref_topics[2], ref_topics[3],
                               ref_topics[4], NULL};
    struct wk_proc_h *r = worker_start(&s, "reference", ref_extra, 1);
    CHECK(worker_outputs_wait(r, (double)total, 150000) >= (double)total,
          "the reference worker did not finish");
    CHECK(worker_stop(r) == 0, "reference SIGTERM exit status");
    compare_outputs(&s, total);
    compare_states(&s, REF T_STATE);

    printf("ft_wk_crashwalk: %d crash points walked, %zu records, %zu outputs, %zu repeats, none "
           "lost, stuck raised once, state equal to a run without crashes\n",
           npoints, total, v.outputs, v.repeats);
    free_stream(keys, vals, total);
    mf_recs_release(&alerts);
    stack_stop(&s);
    return 0;
}
