/*
 * ft_wk_faults: the broker's request errors injected through the mock
 * cluster's fault API (Produce, Fetch, OffsetCommit, Heartbeat), then
 * PostgreSQL stopped while the worker runs: it keeps its last registry,
 * stays ready, validates what it knows; after PostgreSQL comes back, a
 * newly registered meter is recognised. No record is lost, repeats are
 * identical.
 *
 * On librdkafka's mock cluster, not the real broker: injecting request
 * errors is the point of this test, and only the mock can.
 */
#include "mf_wktest.h"

#define METERS    24
#define PER_METER 300
#define CHUNKS    6

int main(void)
{
    struct wk_stack s;
    char **keys, **vals;
    stack_start_on(&s, 1);
    register_stream(&s, METERS);
    size_t total = build_stream(METERS, PER_METER, 0, &keys, &vals);
    const char *extra[] = {"WK_BATCH_MAX=400", NULL};
    struct wk_proc_h *w = worker_start(&s, "f1", extra, 1);

    /* Request errors, one kind per chunk; each is retriable, so nothing may be lost. */
    static const char *const faults[CHUNKS] = {
        "err 0 6 4",   /* Produce: NOT_LEADER_FOR_PARTITION */
        "err 1 6 4",   /* Fetch: NOT_LEADER_FOR_PARTITION */
        "err 8 16 3",  /* OffsetCommit: NOT_COORDINATOR */
        "err 12 27 2", /* Heartbeat: REBALANCE_IN_PROGRESS */
        "err 0 7 3",   /* Produce: REQUEST_TIMED_OUT */
        NULL,
    };
    size_t per = total / CHUNKS;
    for (int c = 0; c < CHUNKS; c++) {
        if (faults[c])
            CHECK(mf_broker_cmd(s.broker, faults[c]) == 0, "broker refused '%s'", faults[c]);
        size_t from = c * per, to = c == CHUNKS - 1 ? total : from + per;
        produce_keyed(&s, (const char *const *)keys + from, (const char *const *)vals + from,
                      to - from);
    }
    struct verdict v = wait_all_outputs(&s, total, NULL);

    /* PostgreSQL down: the worker keeps its registry and stays ready. */
    CHECK(mf_pgtmp_do(s.pg, "stop") == 0, "pg stop");
    sleep(3); /* a few refresh attempts fail meanwhile (REGISTRY_REFRESH_S=1) */
    const char *k1[] = {"K000"};
    const char *v1[] = {"{\"meter_id\":\"K000\",\"ts\":\"2024-03-20T00:00:00Z\",\"value\":1.5,"
                        "\"unit\":\"kW\"}"};
    produce_keyed(&s, k1, v1, 1);
    CHECK(mf_wait_http_ok(w->port, "/readyz", 1000) == 0, "not ready while PostgreSQL is down");
    struct mf_recs val = {0};
    int64_t deadline = mf_mono_ms() + 30000;
    int found = 0;
    while (!found && mf_mono_ms() < deadline) {
        mf_recs_release(&val);
        mf_kafka_read_topic(s.broker->bootstrap, T_VAL, -1, 1000, 60000, &val);
        for (size_t i = 0; i < val.n; i++)
            found |= strstr(val.v[i].value, "2024-03-20T00:00:00.000Z") != NULL;
    }
    CHECK(found, "no validated output while PostgreSQL was down");

    /* PostgreSQL back: a meter registered now is known after the next refresh. */
    CHECK(mf_pgtmp_do(s.pg, "restart") == 0, "pg restart");
    sql(&s, "INSERT INTO meters (meter_id, interval_s) VALUES ('NEW1', 60)");
    CHECK(worker_metric_wait(w, "meterflow_worker_registry_meters", METERS + 2, 30000) ==
              METERS + 2,
          "registry not refreshed after the outage");
    const char *k2[] = {"NEW1"};
    const char *v2[] = {"{\"meter_id\":\"NEW1\",\"ts\":\"2024-03-20T00:00:00Z\",\"value\":1,"
                        "\"unit\":\"kW\"}"};
    produce_keyed(&s, k2, v2, 1);
    deadline = mf_mono_ms() + 30000;
    found = 0;
    while (!found && mf_mono_ms() < deadline) {
        mf_recs_release(&val);
        mf_kafka_read_topic(s.broker->bootstrap, T_VAL, -1, 1000, 60000, &val);
        for (size_t i = 0; i < val.n; i++)
            found |= strcmp(val.v[i].key, "NEW1") == 0;
    }
    CHECK(found, "the meter registered after the outage was not validated");

    CHECK(worker_stop(w) == 0, "SIGTERM exit status");
    printf("ft_wk_faults: %zu records through 5 kinds of request errors, %zu repeats, none lost; "
           "PostgreSQL outage survived\n",
           total, v.repeats);
    mf_recs_release(&val);
    free_stream(keys, vals, total);
    stack_stop(&s);
    return 0;
}
