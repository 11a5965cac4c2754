/*
 * ft_ss_kill: source-sink killed with SIGKILL three times in the middle of
 * a stream of the three sources (between and inside its transactions) and
 * restarted each time, while the stream goes on. Afterwards every source
 * record is in its table once, every DLQ-bound record is in the DLQ (at
 * least once: a kill between the DLQ's ack and the commit repeats it with
 * the same source.topic/partition/offset, which is how a reader tells), and
 * the stored offsets are the end of every partition. Each chunk after the
 * first also resends every 10th vehicle report of the chunk before (with
 * another soc) among its own: a producer's repeats, which meet rows of
 * earlier batches (or runs) and are stored once, the first one kept.
 *
 * Built twice: ft_ss_kill (kills at varying moments) and ft_ss_crashwalk
 * (issue 17: instead of kills, a fault-build source-sink crashes at each
 * point `build/crash/bin/source-sink --crash-points` lists, in turn, with
 * MF_CRASH_AT=<point>:2; a point never reached fails the test).
 */
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "mf_harness.h"
#include "mf_time.h"
#include "mf_common.h"

#define NVEH  40
#define VREPS 150 /* reports per vehicle */
#define NFDR  10
#define FREPS 100
#define NSTA  10
#define SREPS 100
#ifndef SS_CRASHWALK
#define SS_CRASHWALK 0
#endif
#define MAX_POINTS 16
#define H0         1710460800000LL

static int failures;

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%s - ", ok ? "ok" : "not ok");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    failures += !ok;
}

static long long num(PGconn *c, const char *q)
{
    PGresult *r = PQexec(c, q);
    long long v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

static long long total(PGconn *c)
{
    return num(c, "SELECT (SELECT count(*) FROM vehicle_telemetry_history) +"
                  " (SELECT count(*) FROM grid_feed_readings) +"
                  " (SELECT count(*) FROM weather_observations)");
}

static int nchunks = 4; /* the stream is produced in this many chunks */

/* source-sink of bin (a name in MF_BIN_DIR, or a path), with crash_at ("MF_CRASH_AT=..." or NULL).
 */
static struct mf_proc *start_ss_bin(const char *bin, const char *bootstrap, const char *dsn,
                                    const char *crash_at)
{
    static char env[4][320];
    snprintf(env[0], sizeof env[0], "KAFKA_BROKERS=%s", bootstrap);
    snprintf(env[1], sizeof env[1], "PG_DSN=%s", dsn);
    unsigned port = mf_free_port();
    snprintf(env[2], sizeof env[2], "METRICS_ADDR=127.0.0.1:%u", port);
    const char *e[] = {env[0],
                       env[1],
                       env[2],
                       "SS_BATCH_MAX=300",
                       "SS_BATCH_MS=30",
                       "KAFKA_SESSION_TIMEOUT_MS=6000",
                       "KAFKA_HEARTBEAT_INTERVAL_MS=500",
                       "LOG_LEVEL=warn",
                       crash_at,
                       NULL};
    struct mf_proc *p = mf_proc_start(bin, NULL, e);
    if (!crash_at && mf_wait_http_ok(port, "/healthz", 30000) != 0)
        mf_die("source-sink did not come up");
    return p;
}

static struct mf_proc *start_ss(const char *bootstrap, const char *dsn)
{
    return start_ss_bin("source-sink", bootstrap, dsn, NULL);
}

/* Vehicle report (minute i, vehicle v) with soc into the n-th key and value slots. */
static void vehicle_report(char (*kb)[16], char (*vb)[160], size_t n, int i, int v, int soc)
{
    char ts[MF_TIME_STRLEN];
    mf_time_format(H0 + i * 60000LL, ts);
    snprintf(kb[n], sizeof kb[n], "EV-%d", v);
    snprintf(vb[n], sizeof vb[n],
             "{\"vehicle_id\":\"EV-%d\",\"ts\":\"%s\",\"soc_pct\":%d,\"kwh_delivered_dc\":0.1}", v,
             ts, soc);
}

/*
 * Records of chunk c (of nchunks) of each source; every 50th vehicle report is out of range.
 * After every 10 vehicle reports, a repeat of the chunk before's (its every 10th, never a bad
 * one) with soc 51 instead of 50.
 */
static size_t dlq_sent, repeats_sent;
static void produce_chunk(const char *bootstrap, int c)
{
    enum { MAXV = NVEH * VREPS + NVEH * VREPS / 10 };
    static char kb[MAXV][16], vb[MAXV][160];
    const char *keys[MAXV], *vals[MAXV];
    char ts[MF_TIME_STRLEN];
    size_t n = 0;
    int rep = c ? (c - 1) * VREPS / nchunks * NVEH : 0, rep_end = c * VREPS / nchunks * NVEH;

    for (int i = c * VREPS / nchunks; i < (c + 1) * VREPS / nchunks; i++)
        for (int v = 0; v < NVEH; v++, n++) {
            int bad = (i * NVEH + v) % 50 == 49;
            dlq_sent += bad;
            vehicle_report(kb, vb, n, i, v, bad ? 140 : 50);
            if ((i * NVEH + v) % 10 != 9)
                continue;
            while (rep < rep_end && rep % 10 != 3)
                rep++;
            if (rep < rep_end) {
                vehicle_report(kb, vb, ++n, rep / NVEH, rep % NVEH, 51);
                repeats_sent++;
                rep++;
            }
        }
    for (size_t k = 0; k < n; k++) {
        keys[k] = kb[k];
        vals[k] = vb[k];
    }
    mf_kafka_produce(bootstrap, "vehicle.telemetry", keys, vals, n);
    n = 0;
    for (int i = c * FREPS / nchunks; i < (c + 1) * FREPS / nchunks; i++)
        for (int f = 0; f < NFDR; f++, n++) {
            mf_time_format(H0 + i * 900000LL, ts);
            snprintf(kb[n], sizeof kb[n], "F-%d", f);
            snprintf(vb[n], sizeof vb[n],
                     "{\"feeder_id\":\"F-%d\",\"ts\":\"%s\",\"value\":%d,"
                     "\"unit\":\"kW\"}",
                     f, ts, 100 + i);
            keys[n] = kb[n];
            vals[n] = vb[n];
        }
    mf_kafka_produce(bootstrap, "grid.feeds", keys, vals, n);
    n = 0;
    for (int i = c * SREPS / nchunks; i < (c + 1) * SREPS / nchunks; i++)
        for (int s = 0; s < NSTA; s++, n++) {
            mf_time_format(H0 + i * 3600000LL, ts);
            snprintf(kb[n], sizeof kb[n], "S-%d", s);
            snprintf(vb[n], sizeof vb[n], "{\"station_id\":\"S-%d\",\"ts\":\"%s\",\"temp_c\":%d}",
                     s, ts, i % 30);
            keys[n] = kb[n];
            vals[n] = vb[n];
        }
    mf_kafka_produce(bootstrap, "weather.observations", keys, vals, n);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
#if SS_CRASHWALK
    char bin[512];
    static char points[MAX_POINTS][MF_CRASH_POINT_MAX];
    int npoints = mf_crash_walk_points("source-sink", bin, sizeof bin, points, MAX_POINTS);
#endif
    struct mf_pgtmp *pgt = mf_pgtmp_start();
    struct mf_broker *broker = mf_broker_start(1);
    char dsn[320];
    snprintf(dsn, sizeof dsn, "PG_DSN=%s", pgt->dsn);
    const char *args[] = {"migrate", NULL};
    const char *env[] = {dsn, NULL};
    struct mf_proc *m = mf_proc_start("source-sink", args, env);
    if (mf_proc_wait(m, 60000) != 0)
        mf_die("source-sink migrate failed");
    mf_proc_stop(m, 1000);
    PGconn *c = PQconnectdb(pgt->dsn);
    PQclear(PQexec(
        c,
        "INSERT INTO vehicles (vehicle_id) SELECT 'EV-' || g FROM generate_series(0, 39) g;"
        "INSERT INTO feeders (feeder_id) SELECT 'F-' || g FROM generate_series(0, 9) g;"
        "INSERT INTO weather_stations (station_id) SELECT 'S-' || g FROM generate_series(0, 9) g"));

    long long want = (long long)NVEH * VREPS + NFDR * FREPS + NSTA * SREPS;
    int kills = 0;
#if SS_CRASHWALK
    /* One chunk per crash point, each crashed in turn; then the last chunk. */
    nchunks = npoints + 1;
    for (int k = 0; k < npoints; k++) {
        produce_chunk(broker->bootstrap, k);
        char at[160];
        snprintf(at, sizeof at, "MF_CRASH_AT=%.96s:2", points[k]);
        struct mf_proc *crash = start_ss_bin(bin, broker->bootstrap, pgt->dsn, at);
        int st = mf_proc_wait(crash, 90000);
        if (st < 0)
            mf_proc_signal(crash, SIGKILL);
        mf_proc_stop(crash, 1000);
        check(st == 128 + SIGKILL, "crash point %s: %s (status %d)", points[k],
              st < 0 ? "never reached in 90 s" : "reached, SIGKILL", st);
        kills++;
    }
    produce_chunk(broker->bootstrap, npoints);
    struct mf_proc *ss = start_ss(broker->bootstrap, pgt->dsn);
#else
    struct mf_proc *ss = start_ss(broker->bootstrap, pgt->dsn);
    for (int k = 0; k < nchunks; k++) {
        produce_chunk(broker->bootstrap, k);
        if (k == nchunks - 1)
            break;
        /* Kill once it is into this chunk, at a varying point. */
        long long target = want / nchunks * k + want / nchunks / 3;
        for (int w = 0; w < 600 && total(c) < target; w++)
            usleep(50000);
        usleep((useconds_t)(k * 37000 % 150000));
        mf_proc_signal(ss, SIGKILL);
        int st = mf_proc_wait(ss, 10000);
        check(st == 128 + SIGKILL, "kill %d: SIGKILL at ~%lld rows stored", k + 1, total(c));
        mf_proc_stop(ss, 1000);
        ss = start_ss(broker->bootstrap, pgt->dsn);
        kills++;
    }
#endif
    long long stored_want = want - (long long)dlq_sent;
    long long got = -1;
    for (int w = 0; w < 1200 && (got = total(c)) < stored_want; w++)
        usleep(100000);
    check(got == stored_want, "after %d kills: %lld rows stored, want %lld", kills, got,
          stored_want);
    /* The hot path holds each vehicle's newest stored report (the history's latest). */
    check(num(c, "SELECT count(*) FROM vehicle_current_status s WHERE s.ts = (SELECT max(ts)"
                 " FROM vehicle_telemetry_history h WHERE h.vehicle_id = s.vehicle_id)") == NVEH,
          "vehicle_current_status: every vehicle at its newest report");
    /* The stored offsets reach the end of every partition: nothing left, nothing skipped. */
    long long ends = -1;
    for (int w = 0; w < 200; w++) {
        ends = num(c,
                   "SELECT sum(next_offset) FROM sink_offsets WHERE consumer_group = 'source-sink' "
                   "AND topic IN ('grid.feeds', 'weather.observations', 'vehicle.telemetry')");
        if (ends == want + (long long)repeats_sent)
            break;
        usleep(100000);
    }
    check(ends == want + (long long)repeats_sent,
          "sink_offsets sum to %lld, the records produced (%lld and %zu repeats)", ends, want,
          repeats_sent);
    check(repeats_sent > 0 &&
              num(c, "SELECT count(*) FROM vehicle_telemetry_history WHERE soc_pct = 51") == 0,
          "%zu repeats stored once, the first report kept", repeats_sent);

    /* Every DLQ-bound record in the DLQ, each (partition, offset) at least once. */
    struct mf_recs dlq = {0};
    mf_kafka_read_topic(broker->bootstrap, "meter.readings.dlq", -1, 2000, 60000, &dlq);
    size_t distinct = 0;
    char(*pos)[48] = mf_xcalloc(dlq.n + 1, sizeof *pos);
    for (size_t i = 0; i < dlq.n; i++) {
        char topic[24], part[16]; /* mf_rec_header's buffer is static: one copy per call */
        snprintf(topic, sizeof topic, "%s", mf_rec_header(&dlq.v[i], "source.topic"));
        snprintf(part, sizeof part, "%s", mf_rec_header(&dlq.v[i], "source.partition"));
        snprintf(pos[i], sizeof pos[i], "%s/%s/%s", topic, part,
                 mf_rec_header(&dlq.v[i], "source.offset"));
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(pos[i], pos[j]) == 0;
        distinct += !seen;
    }
    free(pos);
    check(distinct == dlq_sent, "DLQ: %zu distinct source positions (of %zu records), want %zu",
          distinct, dlq.n, dlq_sent);
    mf_recs_release(&dlq);

    int rc = mf_proc_stop(ss, 30000);
    check(rc == 0, "SIGTERM: source-sink exits 0 (got %d)", rc);
    PQfinish(c);
    mf_broker_stop(broker);
    mf_pgtmp_do(pgt, "destroy");
    printf("%s: %d %s, %s\n", SS_CRASHWALK ? "ft_ss_crashwalk" : "ft_ss_kill", kills,
           SS_CRASHWALK ? "crash points walked" : "kills", failures ? "FAILED" : "passed");
    return failures ? 1 : 0;
}
