/*
 * bench_e2e: the whole pipeline under load, driven through ingest-gw.
 *
 * Phase 1 (max): sender threads post batches of 500 readings for a fleet
 * of meters as fast as the fleet takes them. The question is the rate the
 * whole fleet sustains, so the load is closed-loop: the senders wait while
 * more than --max-lag of the readings they had acknowledged are not yet
 * counted in PostgreSQL. That is a measuring choice, not a limit of the
 * broker (real Kafka holds any backlog): with --max-lag 0 the senders never
 * wait, the gateway runs flat out and the consumers work through a growing
 * backlog (phase 2 then waits for it to drain). Every second it samples
 * what the gateway acknowledged, what the workers finished (their
 * records_total counters) and what reached PostgreSQL, and reports the
 * steady rate of each stage.
 *
 * What reached PostgreSQL is counted two ways. Exactly, as sum(count) of
 * rollup_1m: a scan of every row written so far (84 ms at a million rows,
 * measured), taken only where a figure comes from (the ends of the timed
 * window, the end of a drain). Polled, five times a second for the closed
 * loop, as the aggregator's stored sink_offsets (next offset per validated
 * partition, written in the same transaction as the rows): a few rows.
 * Offsets count a worker's transaction markers too (WK_EOS=on), so the
 * poll may run ahead by those; it only steers the senders. Polling the
 * exact sum instead took 37 % of PostgreSQL's statement time in the fleet
 * run and slowed the fleet it measured.
 *
 * The senders keep event time in step: none starts a round of its meters
 * (a minute of event time) more than one round ahead of the slowest. The
 * bench plays ~100 minutes of event time in 25 s, so a sender one second
 * behind the others would be minutes behind in event time, past the
 * aggregator's lateness (AGG_LATENESS_S, 120 s): its readings would take
 * the late path (merge, reopen, republish), which a live fleet, whose
 * meters report in wall-clock time, rarely takes. With --agg-metrics the
 * late readings of each phase are printed.
 *
 * Phase 2 (latency): the same load at half the slowest stage's rate, plus a
 * probe reading for a fresh meter every 20 ms, stamped with the event time
 * the slowest sender is at (as a live meter's reading would be; an old
 * stamp would make every probe late data). A probe's latency is its
 * meter_current_status.updated_at (the aggregator's transaction) minus the
 * wall-clock time its POST was sent: gateway + Kafka + worker + Kafka +
 * aggregator + PostgreSQL.
 *
 * --warm-seconds S: the same load as phase 1 for S seconds first, not timed
 * (then drained). A fresh broker JVM compiles the code paths a fleet uses
 * (fetches, offset commits, several producers) while phase 1 runs unless
 * they ran before; bench.sh's record warm-up only produces.
 *
 * --cpu NAME=PID,NAME=PID+,NAME=jvm:PID,...: where the machine's CPU went in
 * each phase (bench_cpu.h; PID+ with its children, jvm: the broker, by
 * thread role); this process is added as the load generator. Phase 1 also
 * prints the CPU time of each watched process a reading into PostgreSQL,
 * which holds when other work shares the machine (the load generator is
 * left out of the sum).
 *
 *   bench_e2e --gw URL --pg DSN --worker-metrics URL[,URL] [--meters N]
 *             [--max-seconds S] [--lat-seconds S] [--warm-seconds S] [--max-lag N]
 *             [--cpu SPEC] [--agg-metrics URL]
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libpq-fe.h>

#include "bench_cpu.h"
#include "mf_buf.h"
#include "mf_time.h"
#include "mf_common.h"

#define SENDERS    4
#define BATCH      500
#define PROBES_MAX 4096
#define START_MS   1704067200000LL    /* 2024-01-01: history, so TS_CHECK=off */
#define LOAD_NAME  "bench_e2e (load)" /* this process in the CPU lines */

static const char *gw_url, *pg_dsn, *worker_metrics, *cpu_spec, *agg_metrics;
static struct bench_cpu cpu;
static int meters = 10000, max_seconds = 20, lat_seconds = 15, warm_seconds;
static long max_lag = 100000;

static atomic_long sent;       /* readings the gateway acknowledged (202) */
static atomic_long failed;     /* readings in non-202 answers */
static atomic_long processed;  /* source records the workers finished */
static atomic_long aggregated; /* readings in PostgreSQL, as polled (pg_progress) */
static atomic_int stop_senders;
static double pace_per_s; /* 0 = as fast as allowed */

static size_t sink(char *p, size_t s, size_t n, void *ud)
{
    struct mf_buf *b = ud;
    if (b)
        mf_buf_append(b, p, s * n);
    return s * n;
}

/* GETs url into b (a worker's /metrics); MF_OK when a body arrived. */
static int fetch(CURL *c, const char *url, struct mf_buf *b)
{
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    return curl_easy_perform(c) == CURLE_OK && b->data ? MF_OK : MF_ERETRY;
}

/* The value of the sample `series` (a metric's name and labels) in a scraped body. */
static bool sample_value(const char *body, const char *series, double *v)
{
    size_t n = strlen(series);
    for (const char *p = strstr(body, series); p; p = strstr(p + n, series))
        if ((p == body || p[-1] == '\n') && p[n] == ' ') {
            *v = strtod(p + n + 1, NULL);
            return true;
        }
    return false;
}

/* Sum of the workers' finished source records, from their /metrics. */
static long scrape_processed(CURL *c)
{
    long total = 0;
    char *urls = mf_xstrdup(worker_metrics), *save = NULL;
    for (char *u = strtok_r(urls, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
        struct mf_buf b = MF_BUF_INIT;
        if (fetch(c, u, &b) == MF_OK) {
            static const char *const outcomes[] = {"validated", "quarantine", "dlq"};
            for (size_t k = 0; k < 3; k++) {
                char series[96];
                double v;
                snprintf(series, sizeof series, "meterflow_worker_records_total{outcome=\"%s\"}",
                         outcomes[k]);
                if (sample_value(b.data, series, &v))
                    total += (long)v;
            }
        }
        mf_buf_release(&b);
    }
    free(urls);
    return total;
}

/*
 * Waits until every worker's registry holds at least n meters, so no bench
 * reading is quarantined as unknown_meter by a registry loaded before the
 * bench registered its meters.
 */
static void wait_registry(long n)
{
    CURL *c = curl_easy_init();
    for (int tries = 0; tries < 600; tries++) {
        int ok = 1;
        char *urls = mf_xstrdup(worker_metrics), *save = NULL;
        for (char *u = strtok_r(urls, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
            struct mf_buf b = MF_BUF_INIT;
            double v;
            if (fetch(c, u, &b) != MF_OK ||
                !sample_value(b.data, "meterflow_worker_registry_meters", &v) || v < (double)n)
                ok = 0;
            mf_buf_release(&b);
        }
        free(urls);
        if (ok) {
            curl_easy_cleanup(c);
            return;
        }
        usleep(100000);
    }
    fprintf(stderr, "bench_e2e: the workers never loaded the %ld bench meters\n", n);
    exit(1);
}

static long pg_long(PGconn *pg, const char *sql)
{
    PGresult *r = PQexec(pg, sql);
    long v = PQresultStatus(r) == PGRES_TUPLES_OK ? strtol(PQgetvalue(r, 0, 0), NULL, 10) : -1;
    PQclear(r);
    return v;
}

/* Readings in PostgreSQL, exactly: a scan of rollup_1m (see the top). */
static long pg_aggregated(PGconn *pg)
{
    return pg_long(pg, "SELECT coalesce(sum(count), 0) FROM rollup_1m");
}

/*
 * Readings in PostgreSQL as the aggregator's stored offsets say: a few
 * rows. The fleet's only sink here is the aggregator, and the bench's
 * topics start empty, so the offsets count its consumed records (plus
 * transaction markers under WK_EOS=on).
 */
static long pg_progress(PGconn *pg)
{
    return pg_long(pg, "SELECT coalesce(sum(next_offset), 0) FROM sink_offsets");
}

/* meterflow_agg_late_records_total from --agg-metrics, or -1. */
static long scrape_late(CURL *c)
{
    long v = -1;
    double x;
    struct mf_buf b = MF_BUF_INIT;
    if (agg_metrics && fetch(c, agg_metrics, &b) == MF_OK &&
        sample_value(b.data, "meterflow_agg_late_records_total", &x))
        v = (long)x;
    mf_buf_release(&b);
    return v;
}

static long post(CURL *c, const char *body, size_t len)
{
    long code = 0;
    curl_easy_setopt(c, CURLOPT_URL, gw_url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, NULL);
    if (curl_easy_perform(c) != CURLE_OK)
        return -1;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

static CURL *new_handle(struct curl_slist **hdrs)
{
    CURL *c = curl_easy_init();
    *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    *hdrs = curl_slist_append(*hdrs, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    return c;
}

/* Where each sender is in its meters' time line; kept across phases, so a
 * meter's readings never repeat a timestamp (that would be a duplicate).
 * rounds[k] is also read by the other senders (event time in step). */
static atomic_long rounds[SENDERS];
static int nexts[SENDERS] = {0, 1, 2, 3};

/* The round (minute of event time) the slowest sender is in. */
static long slowest_round(void)
{
    long m = atomic_load(&rounds[0]);
    for (int k = 1; k < SENDERS; k++)
        if (atomic_load(&rounds[k]) < m)
            m = atomic_load(&rounds[k]);
    return m;
}

/* Sender k owns meters i with i % SENDERS == k: each meter's readings stay in order. */
/* Each sender's index, passed by address to its thread. */
static const long sender_ids[SENDERS] = {0, 1, 2, 3};

static void *sender(void *arg)
{
    long k = *(const long *)arg;
    struct curl_slist *hdrs;
    CURL *c = new_handle(&hdrs);
    struct mf_buf body = MF_BUF_INIT;
    long round = atomic_load(&rounds[k]);
    int next = nexts[k];
    int64_t t0 = mf_mono_ms();
    long mine = 0;

    while (!atomic_load(&stop_senders)) {
        /* Closed loop (phase 1's question is the rate the fleet sustains):
         * at most max_lag acknowledged readings not yet in PostgreSQL. */
        while (max_lag > 0 && atomic_load(&sent) - atomic_load(&aggregated) > max_lag &&
               !atomic_load(&stop_senders))
            usleep(5000);
        /* Event time in step (see the top): at most one round ahead. */
        while (round > slowest_round() + 1 && !atomic_load(&stop_senders))
            usleep(1000);
        if (pace_per_s > 0) {
            double due_ms = (double)mine / (pace_per_s / SENDERS) * 1000.0;
            while ((double)(mf_mono_ms() - t0) < due_ms && !atomic_load(&stop_senders))
                usleep(1000);
        }
        mf_buf_reset(&body);
        mf_buf_appendc(&body, '[');
        for (int i = 0; i < BATCH; i++) {
            char ts[MF_TIME_STRLEN];
            mf_time_format(START_MS + round * 60000, ts);
            mf_buf_appendf(&body,
                           "%s{\"meter_id\":\"BENCH-%05d\",\"ts\":\"%s\",\"value\":%.3f,"
                           "\"unit\":\"kW\",\"interval_s\":60}",
                           i ? "," : "", next, ts, 0.5 + (double)((next * 7 + round) % 97) / 50);
            next += SENDERS;
            if (next >= meters) {
                next = (int)k;
                round++;
                atomic_store(&rounds[k], round);
            }
        }
        mf_buf_appendc(&body, ']');
        long code = post(c, body.data, body.len);
        if (code == 202)
            atomic_fetch_add(&sent, BATCH);
        else
            atomic_fetch_add(&failed, BATCH);
        mine += BATCH;
    }
    nexts[k] = next;
    mf_buf_release(&body);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return NULL;
}

/* Samples both consumers' progress five times a second (own PG connection). */
static void *processed_poller(void *arg)
{
    (void)arg;
    CURL *c = curl_easy_init();
    PGconn *pg = PQconnectdb(pg_dsn);
    while (!atomic_load(&stop_senders)) {
        atomic_store(&processed, scrape_processed(c));
        atomic_store(&aggregated, pg_progress(pg));
        usleep(200000);
    }
    PQfinish(pg);
    curl_easy_cleanup(c);
    return NULL;
}

static void register_meters(PGconn *pg, int probes)
{
    PGresult *r = PQexec(pg, "COPY meters (meter_id, max_kw, interval_s, active) FROM STDIN");
    MF_ASSERT(PQresultStatus(r) == PGRES_COPY_IN);
    PQclear(r);
    char line[96];
    for (int i = 0; i < meters; i++) {
        int n = snprintf(line, sizeof line, "BENCH-%05d\t20\t60\tt\n", i);
        PQputCopyData(pg, line, n);
    }
    for (int i = 0; i < probes; i++) {
        int n = snprintf(line, sizeof line, "PROBE-%05d\t20\t60\tt\n", i);
        PQputCopyData(pg, line, n);
    }
    PQputCopyEnd(pg, NULL);
    r = PQgetResult(pg);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "bench_e2e: registering meters: %s", PQerrorMessage(pg));
        exit(1);
    }
    PQclear(r);
}

struct stage_rates {
    double gw, worker, agg;
};

/*
 * Runs the senders for secs seconds; returns each stage's steady rate (after
 * a 3 s warm-up), and writes where the CPU went over the same window to cpu_out
 * (none if cpu_out is NULL: the untimed warm-up).
 */
static struct stage_rates run_load(PGconn *pg, int secs, FILE *cpu_out)
{
    pthread_t th[SENDERS], poller;
    struct stage_rates out = {0, 0, 0};
    atomic_store(&stop_senders, 0);
    pthread_create(&poller, NULL, processed_poller, NULL);
    for (long k = 0; k < SENDERS; k++)
        pthread_create(&th[k], NULL, sender, (void *)&sender_ids[k]);
    long s0 = 0, p0 = 0, a0 = 0;
    int64_t t0 = 0;
    for (int t = 0; t < secs; t++) {
        sleep(1);
        long s = atomic_load(&sent), p = atomic_load(&processed);
        /* Exact where a figure comes from; the cheap poll in between. */
        long a = t == 2 || t == secs - 1 ? pg_aggregated(pg) : atomic_load(&aggregated);
        fprintf(stderr, "  t=%2ds  gateway acked %8ld  workers done %8ld  in PostgreSQL %8ld%s\n",
                t + 1, s, p, a, t == 2 || t == secs - 1 ? " (exact)" : "");
        if (t == 2) {
            s0 = s, p0 = p, a0 = a;
            t0 = mf_mono_ms();
            bench_cpu_begin(&cpu);
        }
        if (t == secs - 1 && t0) {
            double dt = (double)(mf_mono_ms() - t0) / 1000.0;
            out.gw = (double)(s - s0) / dt;
            out.worker = (double)(p - p0) / dt;
            out.agg = (double)(a - a0) / dt;
            if (cpu_spec && cpu_out) {
                bench_cpu_per_unit(&cpu, "reading into PostgreSQL, whole fleet, phase 1",
                                   (double)(a - a0), LOAD_NAME, cpu_out);
                bench_cpu_report(&cpu, "whole fleet, phase 1 (as fast as it goes)", cpu_out);
            }
        }
    }
    atomic_store(&stop_senders, 1);
    for (int k = 0; k < SENDERS; k++)
        pthread_join(th[k], NULL);
    pthread_join(poller, NULL);
    return out;
}

/*
 * Waits until the workers and PostgreSQL hold everything that was sent
 * (the stored offsets first, then the exact sum); returns the exact sum.
 */
static long drain(PGconn *pg)
{
    CURL *c = curl_easy_init();
    long a = -1;
    for (int i = 0; i < 600; i++) {
        long s = atomic_load(&sent);
        if (scrape_processed(c) >= s && pg_progress(pg) >= s && (a = pg_aggregated(pg)) >= s)
            break;
        usleep(500000);
    }
    curl_easy_cleanup(c);
    return a;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--gw"))
            gw_url = argv[i + 1];
        else if (!strcmp(argv[i], "--pg"))
            pg_dsn = argv[i + 1];
        else if (!strcmp(argv[i], "--worker-metrics"))
            worker_metrics = argv[i + 1];
        else if (!strcmp(argv[i], "--meters"))
            meters = (int)strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--max-seconds"))
            max_seconds = (int)strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--lat-seconds"))
            lat_seconds = (int)strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--warm-seconds"))
            warm_seconds = (int)strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--max-lag"))
            max_lag = strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--cpu"))
            cpu_spec = argv[i + 1];
        else if (!strcmp(argv[i], "--agg-metrics"))
            agg_metrics = argv[i + 1];
    }
    if (!gw_url || !pg_dsn || !worker_metrics || meters < SENDERS) {
        fprintf(stderr, "usage: bench_e2e --gw URL --pg DSN --worker-metrics URL[,URL] "
                        "[--meters N] [--max-seconds S] [--lat-seconds S] [--warm-seconds S] "
                        "[--max-lag N] "
                        "[--cpu SPEC] [--agg-metrics URL]\n");
        return 2;
    }
    if (cpu_spec) {
        if (bench_cpu_watch_spec(&cpu, cpu_spec) != 0) {
            fprintf(stderr, "bench_e2e: bad --cpu '%s' (NAME=PID, NAME=PID+, NAME=jvm:PID)\n",
                    cpu_spec);
            return 2;
        }
        bench_cpu_watch(&cpu, LOAD_NAME, (int)getpid(), BENCH_CPU_PLAIN);
    }
    /* The CPU lines come after the figures. */
    char *cpu_text = NULL;
    size_t cpu_len = 0;
    FILE *cpu_out = open_memstream(&cpu_text, &cpu_len);
    curl_global_init(CURL_GLOBAL_ALL);
    PGconn *pg = PQconnectdb(pg_dsn);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "bench_e2e: %s", PQerrorMessage(pg));
        return 1;
    }
    int nprobes = lat_seconds * 50;
    if (nprobes > PROBES_MAX)
        nprobes = PROBES_MAX;
    register_meters(pg, nprobes);
    wait_registry(meters + nprobes);
    if (warm_seconds > 0) {
        fprintf(stderr, "warm-up: the same load for %d s, not timed\n", warm_seconds);
        run_load(pg, warm_seconds, NULL);
        drain(pg);
    }
    CURL *mc = curl_easy_init();
    long late0 = scrape_late(mc);

    fprintf(stderr, "phase 1: as fast as the fleet takes it, %d s, %d meters\n", max_seconds,
            meters);
    struct stage_rates max = run_load(pg, max_seconds, cpu_out);
    drain(pg);
    long late1 = scrape_late(mc);
    double slowest = fmin(max.gw, fmin(max.worker, max.agg));

    fprintf(stderr, "phase 2: %.0f readings/s (half the slowest stage) + a probe every 20 ms\n",
            slowest / 2);
    pace_per_s = slowest / 2;
    pthread_t th[SENDERS], poller;
    atomic_store(&stop_senders, 0);
    pthread_create(&poller, NULL, processed_poller, NULL);
    for (long k = 0; k < SENDERS; k++)
        pthread_create(&th[k], NULL, sender, (void *)&sender_ids[k]);
    bench_cpu_begin(&cpu);
    struct curl_slist *hdrs;
    CURL *c = new_handle(&hdrs);
    static int64_t sent_at[PROBES_MAX];
    int probes = 0;
    int64_t end = mf_mono_ms() + lat_seconds * 1000;
    while (mf_mono_ms() < end && probes < nprobes) {
        /* A reading of now: the event time the fleet's meters are at. */
        char body[160], ts[MF_TIME_STRLEN];
        mf_time_format(START_MS + slowest_round() * 60000, ts);
        int n = snprintf(body, sizeof body,
                         "{\"meter_id\":\"PROBE-%05d\",\"ts\":\"%s\",\"value\":1,\"unit\":\"kW\"}",
                         probes, ts);
        sent_at[probes] = mf_now_ms();
        if (post(c, body, (size_t)n) == 202)
            atomic_fetch_add(&sent, 1);
        probes++;
        usleep(20000);
    }
    if (cpu_spec) {
        char phase[96];
        snprintf(phase, sizeof phase, "whole fleet, phase 2 (%.0f readings/s, half load)",
                 slowest / 2);
        bench_cpu_report(&cpu, phase, cpu_out);
    }
    atomic_store(&stop_senders, 1);
    for (int k = 0; k < SENDERS; k++)
        pthread_join(th[k], NULL);
    pthread_join(poller, NULL);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    long in_pg = drain(pg);
    long late2 = scrape_late(mc);
    curl_easy_cleanup(mc);

    /* Latency per probe from PostgreSQL's own clock (same machine). */
    double *lat = mf_xcalloc((size_t)probes, sizeof *lat);
    int got = 0;
    PGresult *r = PQexec(pg, "SELECT substr(meter_id, 7)::int, "
                             "(extract(epoch FROM updated_at) * 1000)::bigint "
                             "FROM meter_current_status WHERE meter_id LIKE 'PROBE-%'");
    for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++) {
        int idx = (int)strtol(PQgetvalue(r, i, 0), NULL, 10);
        long long at = strtoll(PQgetvalue(r, i, 1), NULL, 10);
        if (idx >= 0 && idx < probes)
            lat[got++] = (double)(at - sent_at[idx]);
    }
    PQclear(r);
    qsort(lat, (size_t)got, sizeof *lat, cmp_double);
    double p50 = got ? lat[got / 2] : NAN, p99 = got ? lat[(int)(got * 0.99)] : NAN;

    char loop[96];
    if (max_lag > 0)
        snprintf(loop, sizeof loop, "closed loop, at most %ld readings not yet in PostgreSQL",
                 max_lag);
    else
        snprintf(loop, sizeof loop, "open loop, the senders never wait");
    printf("pipeline, as fast as it goes (%s): gateway acked %.0f readings/s; workers processed "
           "%.0f records/s; aggregated into PostgreSQL %.0f readings/s\n",
           loop, max.gw, max.worker, max.agg);
    printf("pipeline, latency at %.0f readings/s: ingest -> rollup transaction p50 %.0f ms, "
           "p99 %.0f ms (%d of %d probes)\n",
           slowest / 2, p50, p99, got, probes);
    printf("readings not acknowledged by the gateway (non-202): %ld; in rollup_1m at the end "
           "(sum(count)): %ld of %ld acknowledged\n",
           atomic_load(&failed), in_pg, atomic_load(&sent));
    if (late0 >= 0 && late1 >= 0 && late2 >= 0)
        printf("aggregator, late readings (their 1-minute window already closed): phase 1 %ld, "
               "phase 2 %ld\n",
               late1 - late0, late2 - late1);
    fclose(cpu_out);
    fputs(cpu_text ? cpu_text : "", stdout);
    free(cpu_text);
    free(lat);
    PQfinish(pg);
    return got == probes && probes > 0 ? 0 : 1;
}
