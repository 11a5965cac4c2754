/*
 * ft_wk_zombie: WK_EOS=on on the real broker. Worker A is frozen with
 * SIGSTOP in the middle of a batch, its transaction open and its outputs
 * already written to the log; it stays frozen past its session timeout, so
 * worker B takes every partition, restores the states and redoes A's open
 * batch. Then A is woken with SIGCONT, a zombie that still believes it owns
 * the partitions. Checked:
 *   - read_committed (what the aggregator reads): every source record's
 *     output exactly once, 0 repeats (the effectively-once protocol would
 *     show repeats here), every meter's validated count exact;
 *   - read_uncommitted: A's aborted outputs are physically in the log (so
 *     the fencing above was needed, the test is not vacuous);
 *   - A writes nothing visible after it wakes, finds itself fenced and
 *     exits 1 (Kubernetes restarts it); a stuck_value alert whose run
 *     spans the freeze is raised exactly once.
 */
#include "mf_wktest.h"

#define METERS    40
#define PER_METER 300
#define STUCK_N   40

int main(void)
{
    struct wk_stack s;
    char **keys, **vals;
    stack_start(&s);
    register_stream(&s, METERS);
    size_t total = build_stream(METERS, PER_METER, STUCK_N, &keys, &vals);
    size_t n1 = total / 3, n2 = total / 4; /* chunk 2 < chunk 1: it stays an open batch */

    /*
     * A's batches end at n1 records or after 60 s: chunk 1 is exactly one
     * committed batch, and chunk 2 sits in an open transaction until the
     * freeze. Deterministic, no race with a batch timer.
     */
    char bmax[64];
    snprintf(bmax, sizeof bmax, "WK_BATCH_MAX=%zu", n1);
    const char *extra_a[] = {"WK_EOS=on",
                             bmax,
                             "WK_BATCH_MS=60000",
                             "KAFKA_SESSION_TIMEOUT_MS=6000",
                             "KAFKA_HEARTBEAT_INTERVAL_MS=500",
                             NULL};
    const char *extra_b[] = {"WK_EOS=on", "WK_BATCH_MAX=500", "KAFKA_SESSION_TIMEOUT_MS=6000",
                             "KAFKA_HEARTBEAT_INTERVAL_MS=500", NULL};
    struct wk_proc_h *a = worker_start(&s, "zombie-a", extra_a, 1);

    produce_keyed(&s, (const char *const *)keys, (const char *const *)vals, n1);
    double done1 = worker_outputs_wait(a, (double)n1, 60000);
    CHECK(done1 >= (double)n1, "A committed %.0f of the first %zu", done1, n1);

    produce_keyed(&s, (const char *const *)keys + n1, (const char *const *)vals + n1, n2);
    sleep(2); /* A consumes chunk 2 and writes its outputs inside the open transaction */
    mf_proc_signal(a->proc, SIGSTOP);
    printf("# A frozen with chunk 2 (%zu records) in an open transaction\n", n2);

    struct wk_proc_h *b = worker_start(&s, "zombie-b", extra_b, 1);
    produce_keyed(&s, (const char *const *)keys + n1 + n2, (const char *const *)vals + n1 + n2,
                  total - n1 - n2);
    struct verdict v1 = wait_all_outputs(&s, total, NULL);
    CHECK(v1.repeats == 0, "%zu repeats visible to read_committed before A woke", v1.repeats);

    mf_proc_signal(a->proc, SIGCONT);
    printf("# A woken: a zombie\n");
    sleep(12); /* A finds it lost the group, or is fenced; either way it may try to write */

    struct mf_recs quar = {0}, val = {0}, alerts = {0};
    struct verdict v = wait_all_outputs(&s, total, &quar);
    CHECK(v.repeats == 0, "%zu repeats visible to read_committed after A woke", v.repeats);
    read_all(&s, T_VAL, -1, &val);
    for (int m = 0; m < METERS; m++) {
        char id[16];
        size_t n = 0;
        snprintf(id, sizeof id, "K%03d", m);
        for (size_t r = 0; r < val.n; r++)
            n += strcmp(val.v[r].key, id) == 0;
        CHECK(n == PER_METER, "meter %s: %zu validated, want %d", id, n, PER_METER);
    }
    mf_kafka_read_topic(s.broker->bootstrap, T_ALERT, -1, 1500, 60000, &alerts);
    CHECK(alert_count(&alerts, "STUCK", "stuck_value", "raised") == 1,
          "stuck_value not raised once");
    size_t alert_n = alerts.n;

    /* The log holds A's aborted outputs: without transactions they would be repeats. */
    struct mf_recs val_all = {0}, quar_all = {0};
    mf_kafka_read_uncommitted(1);
    read_all(&s, T_VAL, -1, &val_all);
    read_all(&s, T_QUAR, -1, &quar_all);
    mf_kafka_read_uncommitted(0);
    struct mf_recs *tops[] = {&val_all, &quar_all};
    struct src_seen *seen = NULL;
    struct verdict all = check_outputs(tops, 2, &seen);
    free(seen);
    CHECK(all.repeats > 0, "no aborted outputs in the log: A was not frozen mid-transaction");

    /* Fenced (its transaction was aborted by the coordinator): A exits 1, to be restarted. */
    int a_status = mf_proc_wait(a->proc, 30000);
    CHECK(a_status == 1, "the zombie's exit status is %d, want 1 (fenced)", a_status);
    free(a->proc);
    free(a);
    CHECK(worker_stop(b) == 0, "B's SIGTERM exit status");
    printf("ft_wk_zombie: %zu records, %zu outputs visible once each (alerts %zu); %zu aborted "
           "copies in the log, fenced\n",
           total, v.outputs, alert_n, all.repeats);
    free_stream(keys, vals, total);
    mf_recs_release(&quar);
    mf_recs_release(&val);
    mf_recs_release(&alerts);
    mf_recs_release(&val_all);
    mf_recs_release(&quar_all);
    stack_stop(&s);
    return 0;
}
