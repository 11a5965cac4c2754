/*
 * it_ss_review: the review stores filled by the real source-sink from a
 * real broker into a throw-away PostgreSQL (DESIGN §14). Every record
 * produced to the quarantine, DLQ and alerts topics is counted out:
 * stored once (a worker's repeat with the same src and a DLQ repeat with
 * the same source headers collapse), or, malformed, refused to the DLQ and
 * stored there. The sink is killed with SIGKILL and restarted in between:
 * nothing stored twice, nothing lost. The alerts end in the right state.
 */
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "mf_harness.h"
#include "mf_common.h"

#define NQ   40 /* quarantined readings, distinct */
#define HALF 20 /* NQ / 2 */

static struct mf_pgtmp *pgt;
static struct mf_broker *broker;
static struct mf_proc *ss;
static unsigned ss_port;
static PGconn *pg;

static double num(const char *q)
{
    PGresult *r = PQexec(pg, q);
    double v = NAN;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        v = strtod(PQgetvalue(r, 0, 0), NULL);
    else if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", q, PQerrorMessage(pg));
    PQclear(r);
    return v;
}

static void wait_num(const char *q, double want, int timeout_ms)
{
    double got = NAN;
    for (int waited = 0; waited < timeout_ms; waited += 200) {
        if ((got = num(q)) == want)
            return;
        usleep(200000);
    }
    fail_msg("waited %d ms for %s = %g, got %g", timeout_ms, q, want, got);
}

static void start_ss(void)
{
    static char env[6][320];
    snprintf(env[0], sizeof env[0], "KAFKA_BROKERS=%s", broker->bootstrap);
    snprintf(env[1], sizeof env[1], "PG_DSN=%s", pgt->dsn);
    snprintf(env[2], sizeof env[2], "METRICS_ADDR=127.0.0.1:%u", ss_port);
    snprintf(env[3], sizeof env[3], "KAFKA_SESSION_TIMEOUT_MS=6000");
    snprintf(env[4], sizeof env[4], "SS_ID=it-review");
    const char *e[] = {env[0], env[1], env[2], env[3], env[4], NULL};
    ss = mf_proc_start("source-sink", NULL, e);
    if (mf_wait_http_ok(ss_port, "/healthz", 30000) != 0)
        mf_die("source-sink did not come up");
}

static int setup(void **state)
{
    (void)state;
    pgt = mf_pgtmp_start();
    broker = mf_broker_start(1);
    pg = PQconnectdb(pgt->dsn);
    if (PQstatus(pg) != CONNECTION_OK)
        mf_die("%s", PQerrorMessage(pg));
    ss_port = mf_free_port();
    start_ss();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(mf_proc_stop(ss, 30000), 0);
    PQfinish(pg);
    mf_broker_stop(broker);
    mf_pgtmp_do(pgt, "destroy");
    return 0;
}

static void quarantined(int i, int src_o, char *out, size_t len)
{
    snprintf(out, len,
             "{\"meter_id\":\"MTR-%d\",\"ts\":\"2024-03-15T14:%02d:00.000Z\",\"value_kw\":null,"
             "\"source_value\":%d,\"interval_s\":60,\"energy_kwh\":null,\"quality\":0,"
             "\"tier\":\"quarantine\",\"flags\":[],\"reasons\":[\"%s\"],\"interpolated\":false,"
             "\"src\":{\"p\":%d,\"o\":%d,\"i\":0}}",
             i % 4, i % 60, 100 + i, i % 2 ? "unit_ambiguous" : "over_limit", i % 12, src_o);
}

static void alert(const char *meter, const char *type, const char *state, int o, char *out,
                  size_t len)
{
    snprintf(out, len,
             "{\"meter_id\":\"%s\",\"type\":\"%s\",\"severity\":\"critical\",\"state\":\"%s\","
             "\"since\":\"2024-03-15T10:00:00.000Z\",\"ts\":\"2024-03-15T1%d:00:00.000Z\","
             "\"detail\":{\"hours\":%d.0},\"src\":{\"p\":1,\"o\":%d,\"i\":0}}",
             meter, type, state, o % 10, o, o);
}

static void produce_quarantine(int from, int to, int repeat_of)
{
    char v[512], key[16];
    for (int i = from; i < to; i++) {
        quarantined(i, 1000 + i, v, sizeof v);
        snprintf(key, sizeof key, "MTR-%d", i % 4);
        const char *k[] = {key}, *vv[] = {v};
        mf_kafka_produce(broker->bootstrap, "meter.readings.quarantine", k, vv, 1);
    }
    /* A worker's repeat after a crash: the same record again, the same src. */
    if (repeat_of >= 0) {
        quarantined(repeat_of, 1000 + repeat_of, v, sizeof v);
        snprintf(key, sizeof key, "MTR-%d", repeat_of % 4);
        const char *k[] = {key}, *vv[] = {v};
        mf_kafka_produce(broker->bootstrap, "meter.readings.quarantine", k, vv, 1);
    }
}

static void test_review_stores(void **state)
{
    (void)state;
    char v[512];

    /* 1. Half the quarantined readings, a repeat, a malformed one. */
    produce_quarantine(0, HALF, 3);
    const char *bk[] = {"MTR-9"}, *bv[] = {"{\"meter_id\":\"MTR-9\"}"}; /* no ts */
    mf_kafka_produce(broker->bootstrap, "meter.readings.quarantine", bk, bv, 1);

    /* DLQ: two with the worker's headers, one the same source record again, one without headers. */
    const char *h1[] = {"error.code=parse_error",
                        "error.message=not JSON",
                        "source.topic=meter.readings.raw",
                        "source.partition=3",
                        "source.offset=17",
                        "worker.id=w1",
                        NULL};
    mf_kafka_produce_with_headers(broker->bootstrap, "meter.readings.dlq", "MTR-1", "{oops", h1);
    mf_kafka_produce_with_headers(broker->bootstrap, "meter.readings.dlq", "MTR-1", "{oops", h1);
    const char *h2[] = {"error.code=parse_error",
                        "error.message=not JSON",
                        "source.topic=meter.readings.raw",
                        "source.partition=3",
                        "source.offset=18",
                        "worker.id=w1",
                        NULL};
    mf_kafka_produce_with_headers(broker->bootstrap, "meter.readings.dlq", "MTR-2", "50,kW", h2);
    const char *h3[] = {NULL};
    mf_kafka_produce_with_headers(broker->bootstrap, "meter.readings.dlq", "MTR-3", "x", h3);

    /* Alerts: raised, a repeat of the raise, cleared; another only cleared; one only raised. */
    alert("MTR-1", "overload", "raised", 1, v, sizeof v);
    const char *ak[] = {"MTR-1"}, *av[] = {v};
    mf_kafka_produce(broker->bootstrap, "meter.alerts", ak, av, 1);
    mf_kafka_produce(broker->bootstrap, "meter.alerts", ak, av, 1);
    alert("MTR-1", "overload", "cleared", 2, v, sizeof v);
    mf_kafka_produce(broker->bootstrap, "meter.alerts", ak, av, 1);
    alert("MTR-1", "overload", "raised", 3, v, sizeof v); /* a late repeat of the raise */
    mf_kafka_produce(broker->bootstrap, "meter.alerts", ak, av, 1);
    alert("MTR-2", "stuck_value", "cleared", 4, v, sizeof v);
    const char *ak2[] = {"MTR-2"}, *av2[] = {v};
    mf_kafka_produce(broker->bootstrap, "meter.alerts", ak2, av2, 1);
    alert("MTR-3", "zero_value", "raised", 5, v, sizeof v);
    const char *ak3[] = {"MTR-3"}, *av3[] = {v};
    mf_kafka_produce(broker->bootstrap, "meter.alerts", ak3, av3, 1);

    wait_num("SELECT count(*) FROM quarantine_readings", HALF, 60000);
    /* 3 distinct DLQ records produced + the malformed quarantine record refused by the sink. */
    wait_num("SELECT count(*) FROM dlq_records", 4, 60000);
    wait_num("SELECT count(*) FROM alerts", 3, 60000);

    /* 2. Killed with SIGKILL, restarted; the second half arrives meanwhile. */
    mf_proc_signal(ss, SIGKILL);
    mf_proc_wait(ss, 10000);
    mf_proc_stop(ss, 1000);
    produce_quarantine(HALF, NQ, NQ - 1);
    start_ss();
    wait_num("SELECT count(*) FROM quarantine_readings", NQ, 60000);

    /* Every record once: distinct src, distinct topic position, and nothing else. */
    assert_true(num("SELECT count(DISTINCT (src_partition, src_offset, src_index)) FROM "
                    "quarantine_readings") == NQ);
    assert_true(num("SELECT count(*) FROM quarantine_readings WHERE status = 'pending' AND "
                    "reasons = ARRAY['unit_ambiguous'] AND source_unit IS NULL") == HALF);
    assert_true(num("SELECT sum(source_value) FROM quarantine_readings") ==
                NQ * 100.0 + NQ * (NQ - 1) / 2.0);
    assert_true(num("SELECT count(*) FROM quarantine_readings WHERE record->>'tier' = "
                    "'quarantine' AND id IS NOT NULL") == NQ);
    assert_true(num("SELECT count(*) FROM dlq_records") == 4);
    assert_true(num("SELECT count(*) FROM dlq_records WHERE source_topic = "
                    "'meter.readings.raw' AND source_offset = 17 AND value = '{oops' AND "
                    "key = 'MTR-1' AND headers->>'worker.id' = 'w1'") == 1);
    assert_true(num("SELECT count(*) FROM dlq_records WHERE source_topic = "
                    "'meter.readings.quarantine' AND error_code = 'parse_error' AND "
                    "headers->>'worker.id' = 'it-review' AND value = '{\"meter_id\":\"MTR-9\"}'") ==
                1);
    assert_true(num("SELECT count(*) FROM dlq_records WHERE headers = '{}' AND value = 'x'") == 1);
    assert_true(num("SELECT count(*) FROM alerts WHERE meter_id = 'MTR-1' AND state = 'cleared' "
                    "AND raised_at = '2024-03-15T11:00:00Z' AND cleared_at = "
                    "'2024-03-15T12:00:00Z' AND (detail->>'hours')::float = 2") == 1);
    assert_true(num("SELECT count(*) FROM alerts WHERE meter_id = 'MTR-2' AND state = 'cleared' "
                    "AND raised_at IS NULL") == 1);
    assert_true(num("SELECT count(*) FROM alerts WHERE meter_id = 'MTR-3' AND state = 'raised' "
                    "AND acked_at IS NULL") == 1);
    /* The day partition exists, and the stores' offsets are the sink's group's. */
    assert_true(num("SELECT count(*) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent "
                    "WHERE p.relname = 'quarantine_readings'") >= 1);
    assert_true(num("SELECT sum(next_offset) FROM sink_offsets WHERE topic = "
                    "'meter.readings.quarantine'") == NQ + 2 + 1);

    /* The SLA gauge: two stores, an age once the upkeep ran (at start). */
    struct mf_http_resp r;
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/metrics", ss_port);
    assert_int_equal(mf_http("GET", url, NULL, NULL, 0, &r), 0);
    assert_non_null(
        strstr(r.body, "meterflow_review_oldest_pending_seconds{store=\"quarantine\"}"));
    assert_non_null(strstr(r.body, "meterflow_review_oldest_pending_seconds{store=\"dlq\"}"));
    mf_http_resp_release(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_review_stores),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
