/*
 * ft_fleet_broker: the real Kafka broker itself is killed with SIGKILL in
 * the middle of a stream sent through the gateway, and restarted on the
 * same log directory. The whole fleet runs: ingest-gw, a stream-worker, the
 * aggregator, PostgreSQL. Checked:
 *   - while the broker is down, the gateway answers 503 with Retry-After
 *     within GW_ACK_TIMEOUT_MS + 1 s (3 s + 1 s here), never later
 *     (librdkafka alone reported a dead broker's in-flight records after
 *     8-11 s for 3 s; the gateway's watchdog holds the bound);
 *   - afterwards 202 again; the client retries each 503'd batch until 202,
 *     as a client following Retry-After does;
 *   - every program recovers by itself (still running, ready again);
 *   - PostgreSQL holds every reading exactly once: one per meter-minute,
 *     0 lost, 0 counted twice. A 503'd batch whose records did reach Kafka
 *     before the broker died comes again on the retry; the worker rejects
 *     such a copy as `duplicate` (quarantine), so it is never counted.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mf_harness.h"
#include "mf_time.h"
#include "mf_common.h"

#define METERS  20
#define MINUTES 240
#define KILL_AT 80 /* minute batch before which the broker dies */
#define ACK_MS  3000

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("not ok - ");                                                                   \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
            failures++;                                                                            \
        } else {                                                                                   \
            printf("ok - ");                                                                       \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
        }                                                                                          \
    } while (0)

static long long num(struct mf_pgtmp *pg, const char *sql)
{
    const char *v = mf_pgtmp_query(pg, sql);
    return v && *v ? strtoll(v, NULL, 10) : -1;
}

/* One minute's batch: a reading of every meter, as a JSON array. */
static void minute_body(int minute, char *buf, size_t len)
{
    int64_t t0 = 1710460800000LL; /* 2024-03-15T00:00:00Z */
    size_t o = (size_t)snprintf(buf, len, "[");
    for (int m = 0; m < METERS; m++)
        o += (size_t)snprintf(
            buf + o, len - o,
            "%s{\"meter_id\":\"F%03d\",\"ts\":%lld,\"value\":%.2f,\"unit\":\"kW\"}", m ? "," : "",
            m, (long long)t0 + minute * 60000LL, 1.0 + (double)((minute + m) % 9) * 0.1);
    snprintf(buf + o, len - o, "]");
}

static long post(unsigned port, const char *body, char *retry_after, size_t ralen)
{
    char url[128];
    const char *hdr[] = {"Content-Type: application/json", NULL};
    struct mf_http_resp r;
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/readings", port);
    if (mf_http("POST", url, hdr, body, strlen(body), &r) != 0)
        return 0;
    long code = r.code;
    snprintf(retry_after, ralen, "%s", r.retry_after);
    mf_http_resp_release(&r);
    return code;
}

int main(void)
{
    struct mf_pgtmp *pg = mf_pgtmp_start();
    struct mf_broker *broker = mf_broker_start(1);
    char e_brokers[300], e_dsn[300], e_gw[64], e_wk[64], e_agg[64];
    unsigned gw_port = mf_free_port(), wk_port = mf_free_port(), agg_port = mf_free_port();
    snprintf(e_brokers, sizeof e_brokers, "KAFKA_BROKERS=%s", broker->bootstrap);
    snprintf(e_dsn, sizeof e_dsn, "PG_DSN=%s", pg->dsn);
    snprintf(e_gw, sizeof e_gw, "HTTP_ADDR=127.0.0.1:%u", gw_port);
    snprintf(e_wk, sizeof e_wk, "METRICS_ADDR=127.0.0.1:%u", wk_port);
    snprintf(e_agg, sizeof e_agg, "METRICS_ADDR=127.0.0.1:%u", agg_port);

    const char *margs[] = {"migrate", NULL};
    const char *menv[] = {e_dsn, "LOG_LEVEL=warn", NULL};
    struct mf_proc *m = mf_proc_start("aggregator", margs, menv);
    if (mf_proc_wait(m, 60000) != 0)
        mf_die("aggregator migrate failed");
    free(m);
    char q[256];
    snprintf(q, sizeof q,
             "INSERT INTO meters (meter_id, interval_s) SELECT 'F' || lpad(g::text, 3, '0'), 60 "
             "FROM generate_series(0, %d) g",
             METERS - 1);
    if (!mf_pgtmp_query(pg, q))
        mf_die("registering meters failed");

    const char *gw_env[] = {
        e_brokers, e_gw, "GW_AUTH=off", "GW_ACK_TIMEOUT_MS=3000", "GW_RETRY_AFTER_S=2", NULL};
    const char *wk_env[] = {e_brokers,
                            e_dsn,
                            e_wk,
                            "TS_CHECK=off",
                            "REGISTRY_REFRESH_S=1",
                            "WORKER_ID=fleet-w",
                            "KAFKA_SESSION_TIMEOUT_MS=6000",
                            NULL};
    const char *agg_env[] = {e_brokers,
                             e_dsn,
                             e_agg,
                             "AGG_IDLE_FLUSH_S=1",
                             "AGG_BATCH_MS=200",
                             "KAFKA_SESSION_TIMEOUT_MS=6000",
                             NULL};
    struct mf_proc *gw = mf_proc_start("ingest-gw", NULL, gw_env);
    struct mf_proc *wk = mf_proc_start("stream-worker", NULL, wk_env);
    struct mf_proc *agg = mf_proc_start("aggregator", NULL, agg_env);
    if (mf_wait_http_ok(gw_port, "/readyz", 60000) || mf_wait_http_ok(wk_port, "/readyz", 90000) ||
        mf_wait_http_ok(agg_port, "/readyz", 90000))
        mf_die("the fleet did not become ready");

    char body[8192], ra[32];
    int refused = 0, bound_ok = 1, ra_ok = 1, retried = 0, killed = 0;
    int64_t down_at = 0, longest = 0;
    for (int minute = 0; minute < MINUTES; minute++) {
        if (minute == KILL_AT) {
            if (mf_broker_cmd(broker, "kill") != 0)
                mf_die("could not kill the broker");
            killed = 1;
            down_at = mf_mono_ms();
            printf("# broker killed (SIGKILL) before minute %d\n", minute);
        }
        minute_body(minute, body, sizeof body);
        for (;;) {
            int64_t t0 = mf_mono_ms();
            long code = post(gw_port, body, ra, sizeof ra);
            int64_t took = mf_mono_ms() - t0;
            if (code == 202)
                break;
            if (code != 503)
                mf_die("minute %d: answer %ld, want 202 or 503", minute, code);
            refused++;
            retried |= minute >= KILL_AT;
            if (took > longest)
                longest = took;
            bound_ok &= took <= 3000 + 1000;
            ra_ok &= strcmp(ra, "2") == 0;
            /* Down for ~8 s of 503s, then the broker comes back on its log directory. */
            if (killed && mf_mono_ms() - down_at > 8000) {
                printf("# restarting the broker on the same log directory\n");
                if (mf_broker_cmd(broker, "start") != 0)
                    mf_die("the broker did not come back");
                killed = 0;
            }
            usleep(500000);
        }
    }
    CHECK(refused > 0 && retried, "the gateway answered 503 while the broker was down (%d times)",
          refused);
    CHECK(bound_ok, "every 503 within GW_ACK_TIMEOUT_MS + 1 s = 4 s (longest %lld ms)",
          (long long)longest);
    CHECK(ra_ok, "every 503 carries Retry-After: 2");

    long long want = (long long)METERS * MINUTES, got = -1, rows = -1;
    int64_t deadline = mf_mono_ms() + 120000;
    while (mf_mono_ms() < deadline) {
        got = num(pg, "SELECT coalesce(sum(count), 0) FROM rollup_1m_stats");
        if (got >= want)
            break;
        usleep(500000);
    }
    sleep(2); /* anything counted twice would arrive now */
    got = num(pg, "SELECT coalesce(sum(count), 0) FROM rollup_1m_stats");
    rows = num(pg, "SELECT count(*) FROM rollup_1m_stats WHERE count = 1");
    long long hour = num(pg, "SELECT coalesce(sum(count), 0) FROM rollup_1h_stats");
    long long status = num(pg, "SELECT count(*) FROM meter_current_status");
    CHECK(got == want, "rollup_1m holds %lld readings, want %lld (0 lost, 0 twice)", got, want);
    if (got != want) { /* where the difference is: the topics, then the minutes */
        struct mf_recs raw = {0}, val = {0}, quar = {0};
        mf_kafka_read_topic(broker->bootstrap, "meter.readings.raw", -1, 3000, 60000, &raw);
        mf_kafka_read_topic(broker->bootstrap, "meter.readings.validated", -1, 3000, 60000, &val);
        mf_kafka_read_topic(broker->bootstrap, "meter.readings.quarantine", -1, 3000, 60000, &quar);
        printf("# raw %zu, validated %zu, quarantine %zu records\n", raw.n, val.n, quar.n);
        const char *gaps = mf_pgtmp_query(
            pg,
            "SELECT string_agg(to_char(w, 'HH24:MI'), ' ') FROM generate_series("
            "timestamptz '2024-03-15 00:00Z', timestamptz '2024-03-15 03:59Z', interval '1 "
            "minute') w WHERE NOT EXISTS (SELECT 1 FROM rollup_1m_stats WHERE window_start = w)");
        printf("# minutes missing from rollup_1m: %s\n", gaps ? gaps : "?");
        const char *short_meters = mf_pgtmp_query(
            pg, "SELECT string_agg(meter_id || ':' || n || ':' || lo || '-' || hi, ' ') FROM "
                "(SELECT meter_id, count(*) n, to_char(min(window_start), 'HH24:MI') lo, "
                "to_char(max(window_start), 'HH24:MI') hi FROM rollup_1m_stats GROUP BY 1 "
                "HAVING count(*) < 240) x");
        printf("# meters short (id:windows:first-last): %s\n", short_meters ? short_meters : "?");
        size_t distinct = 0;
        for (size_t i = 0; i < val.n; i++) {
            int dup = 0;
            for (size_t j = 0; j < i && !dup; j++)
                dup = strcmp(val.v[i].value, val.v[j].value) == 0;
            distinct += !dup;
        }
        printf("# validated distinct values: %zu\n", distinct);
        mf_recs_release(&raw);
        mf_recs_release(&val);
        mf_recs_release(&quar);
    }
    CHECK(rows == want, "%lld meter-minutes hold exactly one reading, want %lld", rows, want);
    CHECK(hour == want, "rollup_1h holds %lld readings, want %lld", hour, want);
    CHECK(status == METERS, "meter_current_status has %lld meters", status);
    CHECK(mf_proc_alive(gw) && mf_proc_alive(wk) && mf_proc_alive(agg),
          "every program recovered by itself (none exited)");
    CHECK(mf_wait_http_ok(wk_port, "/readyz", 30000) == 0 &&
              mf_wait_http_ok(agg_port, "/readyz", 30000) == 0 &&
              mf_wait_http_ok(gw_port, "/readyz", 30000) == 0,
          "every program ready again");

    CHECK(mf_proc_stop(gw, 30000) == 0, "ingest-gw exits 0 on SIGTERM");
    CHECK(mf_proc_stop(wk, 40000) == 0, "stream-worker exits 0 on SIGTERM");
    CHECK(mf_proc_stop(agg, 40000) == 0, "aggregator exits 0 on SIGTERM");
    mf_broker_stop(broker);
    mf_pgtmp_do(pg, "destroy");
    if (failures) {
        printf("ft_fleet_broker: %d checks failed\n", failures);
        return 1;
    }
    printf("ft_fleet_broker: broker SIGKILLed and restarted, %d answers 503 (longest %lld ms), "
           "%lld readings stored once each\n",
           refused, (long long)longest, want);
    return 0;
}
