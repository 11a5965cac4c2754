/*
 * it_ss_sources: the other sources end to end (DESIGN §7, §11): grid
 * feeds, weather observations and vehicle telemetry posted to the real
 * ingest-gw (the single-kind endpoints and the polymorphic /v1/telemetry
 * in the seed's camelCase), consumed by source-sink into a throw-away
 * PostgreSQL, the meters' readings through the real stream-worker and
 * aggregator. Every record is counted in and out: stored, collapsed as a
 * repeat, or in the DLQ with its code and the field named. The feeder
 * balance is checked against the same figures computed here from the
 * values sent.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "mf_buf.h"
#include "mf_harness.h"
#include "mf_time.h"
#include "mf_common.h"

#define H0     1710460800000LL /* 2024-03-15T00:00:00Z */
#define Q_MS   (15 * 60000LL)
#define HOURS  2
#define NQ     (HOURS * 4)
#define NEV    4
#define EV_REP 30

static struct mf_pgtmp *pgt;
static struct mf_broker *broker;
static struct mf_proc *gw, *wk, *agg, *ss;
static unsigned gw_port;
static PGconn *pg;

static void sql(const char *q)
{
    PGresult *r = PQexec(pg, q);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        mf_die("%s: %s", q, PQerrorMessage(pg));
    PQclear(r);
}

/* The first column of the first row as a number; NAN when none or on error. */
static double num(const char *q)
{
    PGresult *r = PQexec(pg, q);
    double v = NAN;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        v = strtod(PQgetvalue(r, 0, 0), NULL);
    PQclear(r);
    return v;
}

/* Waits until q answers want (a condition, not a sleep). */
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

static struct mf_proc *start(const char *prog, const char *const *extra, unsigned port)
{
    static char env[12][320];
    const char *e[13];
    size_t n = 0;
    snprintf(env[n++], sizeof env[0], "KAFKA_BROKERS=%s", broker->bootstrap);
    snprintf(env[n++], sizeof env[0], "PG_DSN=%s", pgt->dsn);
    snprintf(env[n++], sizeof env[0], "METRICS_ADDR=127.0.0.1:%u", port);
    snprintf(env[n++], sizeof env[0], "HTTP_ADDR=127.0.0.1:%u", port);
    snprintf(env[n++], sizeof env[0], "KAFKA_SESSION_TIMEOUT_MS=6000");
    snprintf(env[n++], sizeof env[0], "KAFKA_HEARTBEAT_INTERVAL_MS=500");
    for (size_t k = 0; extra && extra[k]; k++)
        snprintf(env[n++], sizeof env[0], "%s", extra[k]);
    for (size_t k = 0; k < n; k++)
        e[k] = env[k];
    e[n] = NULL;
    struct mf_proc *p = mf_proc_start(prog, NULL, e);
    if (mf_wait_http_ok(port, "/healthz", 30000) != 0)
        mf_die("%s did not come up", prog);
    return p;
}

/* Posts body to path; returns how many items the gateway accepted (fails on another answer). */
static long post(const char *path, const char *ctype, const char *body)
{
    char url[128], ct[96];
    struct mf_http_resp r;
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", gw_port, path);
    snprintf(ct, sizeof ct, "Content-Type: %s", ctype);
    const char *h[] = {ct, NULL};
    if (mf_http("POST", url, h, body, strlen(body), &r) != 0 || r.code != 202)
        fail_msg("POST %s: %ld %s", path, r.code, r.body ? r.body : "");
    const char *a = strstr(r.body, "\"accepted\":");
    long n = a ? strtol(a + 11, NULL, 10) : -1;
    mf_http_resp_release(&r);
    return n;
}

/* The values sent, from which the expectations are computed. */
static double meter_kw(int m, int q)
{
    static const double base[] = {10, 20, 5, 7};
    return base[m] + (m == 0 ? q : m == 2 ? q % 2 : 0);
}

static double feeder_kw(int f, int q)
{
    if (f == 1)
        return meter_kw(3, q) * 1.03;
    double s = meter_kw(0, q) + meter_kw(1, q) + meter_kw(2, q);
    /* 4 % technical losses; the second hour an unregistered 30 kW load. */
    return s * 1.04 + (q >= 4 ? 30 : 0);
}

static void ts_text(int64_t ms, char *out)
{
    mf_time_format(ms, out);
}

static int setup(void **state)
{
    (void)state;
    pgt = mf_pgtmp_start();
    broker = mf_broker_start(1);
    char dsn[320];
    snprintf(dsn, sizeof dsn, "PG_DSN=%s", pgt->dsn);
    const char *args[] = {"migrate", NULL};
    const char *env[] = {dsn, NULL};
    struct mf_proc *m = mf_proc_start("source-sink", args, env);
    assert_int_equal(mf_proc_wait(m, 60000), 0);
    mf_proc_stop(m, 1000);
    pg = PQconnectdb(pgt->dsn);
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    sql("INSERT INTO feeders (feeder_id, region, rated_kw, interval_s) VALUES"
        " ('FDR-1', 'north', 500, 900), ('FDR-2', 'south', 100, 900)");
    sql("INSERT INTO meters (meter_id, max_kw, interval_s, feeder_id, region) VALUES"
        " ('SM-0', 100, 900, 'FDR-1', 'north'), ('SM-1', 100, 900, 'FDR-1', 'north'),"
        " ('SM-2', 100, 900, 'FDR-1', 'north'), ('SM-3', 100, 900, 'FDR-2', 'south')");
    sql("INSERT INTO weather_stations VALUES ('LHR', 'london', 51.47, -0.45),"
        " ('MAN', 'north', 53.35, -2.27)");
    sql("INSERT INTO vehicles (vehicle_id, meter_id, battery_kwh, model) SELECT 'EV-' || g,"
        " 'SM-0', 60, 'test' FROM generate_series(1, 4) g");
    /* A day far past VEHICLE_RETENTION_DAYS below (the test's own days are not) and
     * REVIEW_RETENTION_DAYS (30) in the history and the review stores. */
    sql("SELECT meterflow_vehicle_history_days(ARRAY['2000-01-01'::date]), "
        "meterflow_review_days(ARRAY['2000-01-01'::date])");

    gw_port = mf_free_port();
    const char *gwe[] = {"GW_AUTH=off", NULL};
    gw = start("ingest-gw", gwe, gw_port);
    const char *wke[] = {"TS_CHECK=off", "LOG_LEVEL=warn", NULL};
    wk = start("stream-worker", wke, mf_free_port());
    const char *agge[] = {"AGG_IDLE_FLUSH_S=1", "AGG_BATCH_MS=200", "LOG_LEVEL=warn", NULL};
    agg = start("aggregator", agge, mf_free_port());
    const char *sse[] = {"SS_BATCH_MS=100", "SS_ID=it-ss", "VEHICLE_RETENTION_DAYS=5000", NULL};
    ss = start("source-sink", sse, mf_free_port());
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(mf_proc_stop(ss, 30000), 0);
    assert_int_equal(mf_proc_stop(agg, 30000), 0);
    assert_int_equal(mf_proc_stop(wk, 30000), 0);
    assert_int_equal(mf_proc_stop(gw, 30000), 0);
    PQfinish(pg);
    mf_broker_stop(broker);
    mf_pgtmp_do(pgt, "destroy");
    return 0;
}

static void test_sources_end_to_end(void **state)
{
    (void)state;
    struct mf_buf b = MF_BUF_INIT;
    char ts[MF_TIME_STRLEN];
    long sent = 0, accepted = 0;

    /* Meters: the seed's AC shape on /v1/telemetry (kWh per 15 min; interval from the registry). */
    mf_buf_appendc(&b, '[');
    for (int q = 0; q < NQ; q++)
        for (int m = 0; m < 4; m++, sent++) {
            ts_text(H0 + q * Q_MS, ts);
            mf_buf_appendf(&b,
                           "%s{\"meterId\":\"SM-%d\",\"kwhConsumedAc\":%.10g,\"voltage\":230,"
                           "\"timestamp\":\"%s\"}",
                           b.len > 1 ? "," : "", m, meter_kw(m, q) * 0.25, ts);
        }
    mf_buf_appends(&b, "]");
    mf_buf_appendc(&b, '\0');
    long meters = post("/v1/telemetry", "application/json", b.data);
    assert_int_equal(meters, 4 * NQ);

    /* Grid feeds (NDJSON): FDR-1 in kW, FDR-2 in W; a resend, an unknown feeder, an unknown unit.
     */
    mf_buf_reset(&b);
    for (int q = 0; q < NQ; q++)
        for (int f = 0; f < 2; f++, sent++) {
            ts_text(H0 + q * Q_MS, ts);
            mf_buf_appendf(&b,
                           "{\"feeder_id\":\"FDR-%d\",\"ts\":\"%s\",\"value\":%.12g,"
                           "\"unit\":\"%s\",\"frequency_hz\":50.01}\n",
                           f + 1, ts, f ? feeder_kw(f, q) * 1000 : feeder_kw(f, q), f ? "W" : "kW");
        }
    ts_text(H0, ts);
    mf_buf_appendf(&b,
                   "{\"feeder_id\":\"FDR-1\",\"ts\":\"%s\",\"value\":%.12g,\"unit\":\"kW\","
                   "\"frequency_hz\":50.01}\n",
                   ts, feeder_kw(0, 0));
    mf_buf_appendf(&b, "{\"feeder_id\":\"FDR-X\",\"ts\":\"%s\",\"value\":1,\"unit\":\"kW\"}\n", ts);
    mf_buf_appendf(
        &b, "{\"feeder_id\":\"FDR-1\",\"ts\":\"%s\",\"value\":1,\"unit\":\"furlongs\"}\n", ts);
    sent += 3;
    mf_buf_appendc(&b, '\0');
    accepted += post("/v1/grid", "application/x-ndjson", b.data);

    /* Weather (CSV): two stations hourly for a day; 80 °C, an unknown station, a corrected repeat.
     */
    mf_buf_reset(&b);
    mf_buf_appends(&b, "station_id,ts,temp_c,humidity_pct\n");
    for (int h = 0; h < 24; h++)
        for (int s = 0; s < 2; s++, sent++) {
            ts_text(H0 + h * 3600000LL, ts);
            mf_buf_appendf(&b, "%s,%s,%.1f,%d\n", s ? "MAN" : "LHR", ts, 5.0 + h * 0.5 + s, 80);
        }
    ts_text(H0 + 3 * 3600000LL, ts);
    mf_buf_appendf(&b, "LHR,%s,80,50\nZZZ,%s,10,50\n", ts, ts);
    ts_text(H0, ts);
    mf_buf_appendf(&b, "LHR,%s,4.25,81\n", ts); /* replaces LHR's first hour (was 5.0) */
    sent += 3;
    mf_buf_appendc(&b, '\0');
    accepted += post("/v1/weather", "text/csv", b.data);

    /* Vehicles: camelCase on /v1/telemetry; soc 140, an unknown vehicle, 10 exact repeats. */
    mf_buf_reset(&b);
    mf_buf_appendc(&b, '[');
    for (int i = 0; i < EV_REP; i++)
        for (int v = 1; v <= NEV; v++, sent++) {
            ts_text(H0 + i * 600000LL, ts);
            mf_buf_appendf(&b,
                           "%s{\"vehicleId\":\"EV-%d\",\"soc\":%d,\"kwhDeliveredDc\":0.5,"
                           "\"batteryTemp\":25,\"timestamp\":\"%s\"}",
                           b.len > 1 ? "," : "", v, 20 + i + v, ts);
        }
    for (int i = 0; i < 10; i++, sent++) {
        ts_text(H0 + i * 600000LL, ts);
        mf_buf_appendf(&b,
                       ",{\"vehicleId\":\"EV-1\",\"soc\":%d,\"kwhDeliveredDc\":0.5,"
                       "\"batteryTemp\":25,\"timestamp\":\"%s\"}",
                       20 + i + 1, ts);
    }
    mf_buf_appendf(&b, ",{\"vehicleId\":\"EV-1\",\"soc\":140,\"timestamp\":\"%s\"}", ts);
    mf_buf_appendf(&b, ",{\"vehicleId\":\"EV-9\",\"soc\":40,\"timestamp\":\"%s\"}]", ts);
    sent += 2;
    mf_buf_appendc(&b, '\0');
    accepted += post("/v1/telemetry", "application/json", b.data);
    assert_int_equal(accepted, sent - 4 * NQ); /* every source record accepted by the gateway */

    /* Out: stored rows, the repeats collapsed, and 6 in the DLQ. */
    wait_num("SELECT count(*) FROM grid_feed_readings", 2 * NQ, 60000);
    wait_num("SELECT count(*) FROM weather_observations", 48, 60000);
    wait_num("SELECT count(*) FROM vehicle_telemetry_history", NEV * EV_REP, 60000);
    wait_num("SELECT count(*) FROM vehicle_current_status", NEV, 60000);
    struct mf_recs dlq = {0};
    mf_kafka_read_topic(broker->bootstrap, "meter.readings.dlq", 6, 1000, 60000, &dlq);
    assert_int_equal(dlq.n, 6);
    long stored = 2 * NQ + 48 + NEV * EV_REP, repeats = 1 + 1 + 10;
    assert_int_equal(stored + repeats + (long)dlq.n, accepted);

    /* Each DLQ record: why, with the field named, and where it came from. */
    static const struct {
        const char *code, *msg, *topic;
    } want[] = {
        {"unknown_feeder", "feeder_id 'FDR-X'", "grid.feeds"},
        {"unit_unknown", "unit 'furlongs'", "grid.feeds"},
        {"out_of_range", "temp_c 80 outside -90..60", "weather.observations"},
        {"unknown_station", "station_id 'ZZZ'", "weather.observations"},
        {"out_of_range", "soc_pct 140 outside 0..100", "vehicle.telemetry"},
        {"unknown_vehicle", "vehicle_id 'EV-9'", "vehicle.telemetry"},
    };
    for (size_t w = 0; w < MF_ARRAY_LEN(want); w++) {
        int found = 0;
        for (size_t i = 0; i < dlq.n && !found; i++) {
            const struct mf_rec *r = &dlq.v[i];
            char code[64], msg[256], topic[64];
            snprintf(code, sizeof code, "%s", mf_rec_header(r, "error.code"));
            snprintf(msg, sizeof msg, "%s", mf_rec_header(r, "error.message"));
            snprintf(topic, sizeof topic, "%s", mf_rec_header(r, "source.topic"));
            found = strcmp(code, want[w].code) == 0 && strstr(msg, want[w].msg) &&
                    strcmp(topic, want[w].topic) == 0 && mf_rec_header(r, "source.offset") &&
                    mf_rec_header(r, "source.partition") &&
                    strcmp(mf_rec_header(r, "worker.id"), "it-ss") == 0;
        }
        if (!found)
            fail_msg("no DLQ record %s '%s' from %s", want[w].code, want[w].msg, want[w].topic);
    }
    mf_recs_release(&dlq);

    /* A repeat replaces (weather), the newest by event time is current (vehicles). */
    assert_true(num("SELECT temp_c FROM weather_observations WHERE station_id = 'LHR' AND ts = "
                    "'2024-03-15T00:00Z'") == 4.25);
    assert_true(num("SELECT count(*) FROM vehicle_current_status WHERE ts = "
                    "'2024-03-15T00:00Z'::timestamptz + interval '290 minutes'") == NEV);
    assert_true(num("SELECT soc_pct FROM vehicle_current_status WHERE vehicle_id = 'EV-2'") ==
                20 + (EV_REP - 1) + 2);
    assert_true(num("SELECT max(temp_c_max) FROM weather_hourly WHERE region = 'north'") == 17.5);

    /* The feeder balance against the same sums made here. */
    wait_num("SELECT coalesce(sum(count), 0) FROM rollup_1h_stats WHERE meter_id LIKE 'SM-%'",
             4 * NQ, 90000);
    for (int f = 0; f < 2; f++)
        for (int h = 0; h < HOURS; h++) {
            double feeder = 0, meter = 0;
            for (int q = h * 4; q < h * 4 + 4; q++) {
                feeder += feeder_kw(f, q) * 0.25;
                for (int m = f ? 3 : 0; m < (f ? 4 : 3); m++)
                    meter += meter_kw(m, q) * 0.25;
            }
            char q[512];
            snprintf(q, sizeof q,
                     "SELECT feeder_kwh, meters_kwh, meters_reporting, meters_registered,"
                     " unaccounted_kwh, unaccounted_pct"
                     " FROM feeder_balance_1h WHERE feeder_id = 'FDR-%d' AND window_start ="
                     " '2024-03-15T0%d:00Z'",
                     f + 1, h);
            PGresult *r = PQexec(pg, q);
            assert_int_equal(PQntuples(r), 1);
            double fk = strtod(PQgetvalue(r, 0, 0), NULL), mk = strtod(PQgetvalue(r, 0, 1), NULL);
            long rep = strtol(PQgetvalue(r, 0, 2), NULL, 10);
            long regd = strtol(PQgetvalue(r, 0, 3), NULL, 10);
            double un = strtod(PQgetvalue(r, 0, 4), NULL), pct = strtod(PQgetvalue(r, 0, 5), NULL);
            PQclear(r);
            printf(
                "# FDR-%d hour %d: feeder %.4f kWh, meters %.4f kWh, unaccounted %.4f (%.2f %%)\n",
                f + 1, h, fk, mk, un, pct);
            assert_true(fabs(fk - feeder) < 1e-6 && fabs(mk - meter) < 1e-6);
            assert_true(fabs(un - (feeder - meter)) < 1e-6);
            assert_true(fabs(pct - 100 * (feeder - meter) / feeder) < 1e-6);
            assert_int_equal(rep, f ? 1 : 3);
            assert_int_equal(regd, f ? 1 : 3);
        }
    /* The unregistered load shows: FDR-1's second hour is far above its technical losses. */
    assert_true(num("SELECT unaccounted_pct FROM feeder_balance_1h WHERE feeder_id = 'FDR-1'"
                    " AND window_start = '2024-03-15T01:00Z'") > 20);
    assert_true(num("SELECT unaccounted_pct FROM feeder_balance_1h WHERE feeder_id = 'FDR-2'"
                    " AND window_start = '2024-03-15T01:00Z'") < 6);

    /*
     * A producer's resend of reports stored by earlier batches (the history's COPY meets them and
     * goes through ON CONFLICT instead): stored once, the first stored kept, nothing else lost;
     * one new report in the same request is stored. Waited for by the stored offsets: every
     * vehicle record sent so far, the DLQ-bound ones too.
     */
    mf_buf_reset(&b);
    mf_buf_appendc(&b, '[');
    for (int i = 0; i < 5; i++) {
        ts_text(H0 + i * 600000LL, ts);
        mf_buf_appendf(&b, "{\"vehicleId\":\"EV-2\",\"soc\":99,\"timestamp\":\"%s\"},", ts);
    }
    ts_text(H0 + EV_REP * 600000LL, ts);
    mf_buf_appendf(&b, "{\"vehicleId\":\"EV-3\",\"soc\":77,\"timestamp\":\"%s\"}]", ts);
    mf_buf_appendc(&b, '\0');
    assert_int_equal(post("/v1/vehicles", "application/json", b.data), 6);
    wait_num("SELECT sum(next_offset) FROM sink_offsets WHERE topic = 'vehicle.telemetry'",
             NEV * EV_REP + 10 + 2 + 6, 60000);
    assert_true(num("SELECT count(*) FROM vehicle_telemetry_history") == NEV * EV_REP + 1);
    assert_true(num("SELECT count(*) FROM vehicle_telemetry_history WHERE soc_pct = 99") == 0);
    assert_true(num("SELECT soc_pct FROM vehicle_current_status WHERE vehicle_id = 'EV-3'") == 77);
    /* Retention (at start): the days of 2000 dropped, the test's days kept. */
    assert_true(num("SELECT count(*) FROM pg_class WHERE relname IN ("
                    "'vehicle_telemetry_history_p20000101', 'quarantine_readings_p20000101', "
                    "'dlq_records_p20000101')") == 0);
    assert_true(num("SELECT soc_pct FROM vehicle_current_status WHERE vehicle_id = 'EV-2'") ==
                20 + (EV_REP - 1) + 2);
    mf_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sources_end_to_end),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
