/*
 * ft_wk_kill: SIGKILL a worker mid-stream, several times, at different
 * points (after chunk c, d ms later), and restart it. Then: every source
 * record's outputs appear (none lost); a repeat is identical to its first
 * copy and carries the same src; repeats stay within one batch per kill;
 * and a stuck_value fault whose run spans the kills is raised exactly once.
 *
 * Built twice: ft_wk_kill (the effectively-once protocol: repeats allowed,
 * identical) and ft_wk_kill_eos (WK_EOS=on: 0 repeats visible to
 * read_committed readers, whatever the kills interrupted).
 */
#ifndef KILL_EOS
#define KILL_EOS 0
#endif
#include "mf_wktest.h"

#define METERS    40
#define PER_METER 400 /* 16,000 readings, + the stuck meter's */
#define CHUNKS    8
#define BATCH     300
#define STUCK_N   40 /* hourly: the 25th reading (24 h) raises it */

int main(void)
{
    struct wk_stack s;
    char **keys, **vals;
    stack_start(&s);
    register_stream(&s, METERS);
    size_t total = build_stream(METERS, PER_METER, STUCK_N, &keys, &vals);

    char batch[64];
    snprintf(batch, sizeof batch, "WK_BATCH_MAX=%d", BATCH);
    /* A killed member sends no LeaveGroup: a short session keeps the rejoin quick. */
    const char *extra[] = {batch, "KAFKA_SESSION_TIMEOUT_MS=6000",
                           "KAFKA_HEARTBEAT_INTERVAL_MS=500", KILL_EOS ? "WK_EOS=on" : NULL, NULL};
    struct wk_proc_h *w = worker_start(&s, "kill", extra, 1);

    /* Kill points: after chunk c, wait d ms, SIGKILL, restart. */
    static const struct {
        int chunk, delay_ms;
    } kills[] = {{1, 5}, {3, 40}, {5, 90}};
    size_t per = total / CHUNKS, nkills = 0;
    for (int c = 0; c < CHUNKS; c++) {
        size_t from = c * per, to = c == CHUNKS - 1 ? total : from + per;
        produce_keyed(&s, (const char *const *)keys + from, (const char *const *)vals + from,
                      to - from);
        for (size_t k = 0; k < MF_ARRAY_LEN(kills); k++) {
            if (kills[k].chunk != c)
                continue;
            usleep((useconds_t)kills[k].delay_ms * 1000);
            worker_kill(w);
            nkills++;
            /* Ready = a group member again, so the next kill lands in processing. */
            w = worker_start(&s, "kill", extra, 1);
        }
    }

    struct mf_recs quar = {0}, alerts = {0};
    struct verdict v = wait_all_outputs(&s, total, &quar);
    /* Only the stuck meter's readings after the raise (24 h) are rejected; any other
     * quarantine would be a state that forgot its history (a duplicate, a gap). */
    for (size_t q = 0; q < quar.n; q++)
        CHECK(strcmp(quar.v[q].key, "STUCK") == 0 &&
                  strstr(quar.v[q].value, "\"reasons\":[\"fault:stuck_value\"]"),
              "quarantined: %s", quar.v[q].value);
    CHECK(quar.n >= STUCK_N - 24, "%zu quarantined, want %d (plus repeats)", quar.n, STUCK_N - 24);
    /* One batch per kill at most (each batch: BATCH records, one output each here). */
    CHECK(v.repeats <= nkills * BATCH, "%zu repeats for %zu kills of batches of %d", v.repeats,
          nkills, BATCH);
    if (KILL_EOS)
        CHECK(v.repeats == 0, "%zu repeats visible to read_committed with WK_EOS=on", v.repeats);

    /* The stuck_value run spanned the kills: raised exactly once (repeats share the src). */
    mf_kafka_read_topic(s.broker->bootstrap, T_ALERT, -1, 1500, 60000, &alerts);
    struct mf_recs *atop[] = {&alerts};
    struct src_seen *aseen = NULL;
    check_outputs(atop, 1, &aseen); /* repeats identical */
    free(aseen);
    int raised = alert_count(&alerts, "STUCK", "stuck_value", "raised");
    CHECK(raised == 1, "stuck_value raised %d times", raised);
    CHECK(alert_count(&alerts, "STUCK", "stuck_value", "cleared") == 0, "stuck cleared");
    for (size_t a = 0; a < alerts.n; a++)
        CHECK(strcmp(alerts.v[a].key, "STUCK") == 0, "unexpected alert %s", alerts.v[a].value);

    CHECK(worker_stop(w) == 0, "SIGTERM exit status");
    printf("%s: %zu records, %zu kills, %zu outputs, %zu repeats, none lost, stuck raised "
           "once\n",
           KILL_EOS ? "ft_wk_kill_eos" : "ft_wk_kill", total, nkills, v.outputs, v.repeats);
    free_stream(keys, vals, total);
    mf_recs_release(&quar);
    mf_recs_release(&alerts);
    stack_stop(&s);
    return 0;
}
