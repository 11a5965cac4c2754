/*
 * ft_gw_crashwalk: ingest-gw's crash-point walk (issue 17). For every point
 * the fault build lists (`build/crash/bin/ingest-gw --crash-points`), a
 * fault-build gateway runs with MF_CRASH_AT=<point>:2 while a client posts
 * batches of readings; the gateway must die there by SIGKILL (a point never
 * reached fails the test). The client does what DESIGN §7 asks of it: a
 * batch without a 202 (the connection dropped) is sent again, to a
 * restarted gateway, until it gets one. Then, on the real broker's raw
 * topic: every reading ever sent is there (0 lost), and a reading that is
 * there twice is an identical copy of one the client had to resend (the
 * worker rejects such a copy as `duplicate`, so PostgreSQL counts it once:
 * ft_fleet_broker runs that path end to end).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mf_harness.h"
#include "mf_time.h"
#include "mf_common.h"

#define PER_BATCH  50
#define MAX_POINTS 32
#define BATCHES    (3 * MAX_POINTS)
#define TOPIC      "meter.readings.raw"

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            mf_die(__VA_ARGS__);                                                                   \
    } while (0)

static struct mf_proc *start_gw(const char *bin, const char *bootstrap, unsigned port,
                                const char *crash_at)
{
    static char env[5][256];
    snprintf(env[0], sizeof env[0], "KAFKA_BROKERS=%s", bootstrap);
    snprintf(env[1], sizeof env[1], "HTTP_ADDR=127.0.0.1:%u", port);
    snprintf(env[2], sizeof env[2], "%s", "GW_AUTH=off");
    snprintf(env[3], sizeof env[3], "%s", "GW_ACK_TIMEOUT_MS=5000");
    snprintf(env[4], sizeof env[4], "%s", crash_at ? crash_at : "LOG_LEVEL=info");
    const char *e[] = {env[0], env[1], env[2], env[3], env[4], NULL};
    struct mf_proc *p = mf_proc_start(bin, NULL, e);
    CHECK(mf_wait_http_ok(port, "/healthz", 20000) == 0, "%s did not come up", bin);
    return p;
}

/* One batch of readings, meter GW-<batch % 7>, one minute apart, unique ts per batch. */
static void batch_body(int batch, char *body, size_t len)
{
    size_t n = (size_t)snprintf(body, len, "[");
    for (int i = 0; i < PER_BATCH; i++) {
        char ts[MF_TIME_STRLEN];
        mf_time_format(((int64_t)1700000000 + (int64_t)(batch * PER_BATCH + i) * 60) * 1000, ts);
        n += (size_t)snprintf(body + n, len - n,
                              "%s{\"meter_id\":\"GW-%d\",\"ts\":\"%s\",\"value\":1.5,"
                              "\"unit\":\"kW\"}",
                              i ? "," : "", batch % 7, ts);
    }
    snprintf(body + n, len - n, "]");
}

static long post(unsigned port, const char *body)
{
    char url[96];
    struct mf_http_resp r;
    const char *h[] = {"Content-Type: application/json", NULL};
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/readings", port);
    if (mf_http("POST", url, h, body, strlen(body), &r) != 0)
        return -1; /* the connection dropped: the gateway died */
    long code = r.code;
    mf_http_resp_release(&r);
    return code;
}

int main(void)
{
    char bin[512];
    static char points[MAX_POINTS][MF_CRASH_POINT_MAX];
    int npoints = mf_crash_walk_points("ingest-gw", bin, sizeof bin, points, MAX_POINTS);

    struct mf_broker *b = mf_broker_start(1);
    unsigned port = mf_free_port();
    static char body[PER_BATCH * 120 + 16];
    int batch = 0, resent = 0;
    for (int i = 0; i < npoints; i++) {
        char at[160];
        snprintf(at, sizeof at, "MF_CRASH_AT=%.96s:2", points[i]);
        struct mf_proc *g = start_gw(bin, b->bootstrap, port, at);
        long code = 202;
        /* Post until the point fires (the second time it is reached). */
        while (code == 202 && batch < BATCHES) {
            batch_body(batch, body, sizeof body);
            code = post(port, body);
            if (code == 202)
                batch++;
        }
        int st = mf_proc_wait(g, 10000);
        CHECK(code != 202 && st == 128 + SIGKILL,
              "crash point %s: not reached (answer %ld, status %d)", points[i], code, st);
        free(g);
        printf("crash point %-26s reached at batch %d, SIGKILL\n", points[i], batch);
        /* The client's retry, to a restarted gateway, until 202. */
        g = start_gw("ingest-gw", b->bootstrap, port, NULL);
        int64_t deadline = mf_mono_ms() + 30000;
        while ((code = post(port, body)) != 202 && mf_mono_ms() < deadline)
            usleep(200000);
        CHECK(code == 202, "batch %d: no 202 after the restart (answer %ld)", batch, code);
        batch++;
        resent++;
        CHECK(mf_proc_stop(g, 30000) == 0, "ingest-gw SIGTERM exit status");
    }

    /* Every reading ever sent is on the raw topic; copies are identical. */
    size_t want = (size_t)batch * PER_BATCH;
    struct mf_recs recs = {0};
    int64_t deadline = mf_mono_ms() + 60000;
    do {
        mf_recs_release(&recs);
        mf_kafka_read_topic(b->bootstrap, TOPIC, -1, 1500, 60000, &recs);
    } while (recs.n < want && mf_mono_ms() < deadline);
    char *seen = mf_xcalloc(want, 1);
    size_t copies = 0;
    for (size_t r = 0; r < recs.n; r++) {
        const char *ts = strstr(recs.v[r].value, "\"ts\":\"");
        CHECK(ts != NULL, "a raw record without ts: %s", recs.v[r].value);
        int64_t ms;
        const char *end = strchr(ts + 6, '"');
        char why[128];
        CHECK(end &&
                  mf_time_parse_rfc3339(ts + 6, (size_t)(end - ts - 6), &ms, why, sizeof why) == 0,
              "bad ts in %s", recs.v[r].value);
        int64_t k = (ms / 1000 - 1700000000) / 60;
        CHECK(k >= 0 && (size_t)k < want, "a reading that was never sent: %s", recs.v[r].value);
        copies += seen[k];
        seen[k] = 1;
    }
    size_t lost = 0;
    for (size_t k = 0; k < want; k++)
        lost += !seen[k];
    CHECK(lost == 0, "%zu of %zu readings lost", lost, want);
    CHECK(copies <= (size_t)resent * PER_BATCH, "%zu copies for %d resent batches", copies, resent);
    printf("ft_gw_crashwalk: %d crash points walked, %zu readings sent, 0 lost, %zu repeated by "
           "the client's %d resends\n",
           npoints, want, copies, resent);
    free(seen);
    mf_recs_release(&recs);
    mf_broker_stop(b);
    return 0;
}
