/*
 * bench_agg: validated readings per second into the PostgreSQL rollups
 * (both widths) for one aggregator's pipeline, PostgreSQL commit latency
 * p50/p99, and memory per open window.
 *
 * The readings are real: the UCI household's 1-minute active power
 * (/work/shared/data, read in place; exit 77 when absent), replayed for
 * 10,000 meters, each from its own offset in the series, one reading per
 * meter per minute in event-time order (the worst case for rollup_1m:
 * every reading makes a 1-minute row, and every such row is closed and
 * goes to the outbox two minutes later; by its merge when the batch holds
 * more than AGG_LATENESS_S of event time, by an UPDATE otherwise).
 *
 * What is timed is the aggregator's own path from record bytes to a
 * committed transaction: agg_record_parse (JSON), agg_state_add
 * (pre-merge), agg_state_build (closes), agg_partitions_ensure_for_batch
 * and agg_commit_write (COPY, upserts, closes, outbox, status, positions), plus
 * the rollup JSON of every window to publish. Kafka is left out: the real
 * aggregator binary, its consumer included, runs on the real broker in
 * bench.sh's whole-fleet part. Figures are printed, never asserted.
 *
 *   bench_agg [METERS [MINUTES [BATCH [PER_MINUTE]]]]   defaults 10000 100 20000 1
 *
 * PER_MINUTE > 1 replays the series faster (PER_MINUTE readings per meter
 * per minute of event time, each the next value of the series): denser
 * meters, several readings per 1-minute row.
 *
 * BENCH_AGG_DSN=<dsn>: an existing empty database instead of a throw-away
 * cluster, left in place afterwards (EXPLAIN, pg_stat_statements).
 *
 * As the daemon does (agg_committer), the batch commits on a thread of its
 * own while the main thread parses the next records (queued, applied after
 * the commit). BENCH_AGG_SERIAL=1 waits for each commit at once instead:
 * the program before the commit thread, for comparison in the same sitting.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <zlib.h>

#include "mf_buf.h"
#include "mf_harness.h"
#include "mf_time.h"
#include "mf_pg.h"
#include "agg_commit.h"
#include "agg_committer.h"
#include "agg_copy.h"
#include "agg_funcs.h"
#include "agg_partitions.h"
#include "agg_pg.h"
#include "agg_publish.h"
#include "agg_record.h"
#include "agg_state.h"
#include "mf_common.h"

#define DATA "/work/shared/data/uci_household_power_consumption_head.txt.gz"

static double *load_series(size_t *n)
{
    gzFile f = gzopen(DATA, "rb");
    char line[512];
    size_t cap = 16384;
    double *v = mf_xmalloc(cap * sizeof *v);
    *n = 0;
    if (!f) {
        printf("skip: %s not found\n", DATA);
        exit(77);
    }
    gzgets(f, line, sizeof line); /* header */
    while (gzgets(f, line, sizeof line)) {
        /* Date;Time;Global_active_power;... ; '?' marks a missing minute. */
        char *p = strchr(line, ';');
        p = p ? strchr(p + 1, ';') : NULL;
        if (!p || p[1] == '?')
            continue;
        char *end;
        double x = strtod(p + 1, &end);
        if (end == p + 1)
            continue;
        if (*n == cap)
            v = mf_xrealloc(v, (cap *= 2) * sizeof *v);
        v[(*n)++] = x;
    }
    gzclose(f);
    return v;
}

/*
 * The ceiling: as many rows as the batch just committed had readings, one
 * per meter-minute, by a bare binary COPY (committed) into a table shaped
 * and indexed like rollup_1m (its columns, CHECKs, primary key and BRIN;
 * unpartitioned, so one table takes them all): what PostgreSQL takes on
 * this machine for one row per reading. Run after every aggregator batch
 * and timed apart from it, so both see the same load: on a shared
 * machine, a ceiling measured before or after the whole run moved 2x
 * against the aggregator's figure.
 */
struct ceiling {
    struct mf_buf copy;
    size_t k;   /* rows written so far */
    int64_t us; /* time spent writing them */
    long meters;
};

static void ceiling_open(struct agg_pg *pg, struct ceiling *c, long meters)
{
    char err[512];
    const char *ddl =
        "DROP TABLE IF EXISTS bench_ceiling;"
        " CREATE TABLE bench_ceiling (LIKE rollup_1m INCLUDING DEFAULTS INCLUDING CONSTRAINTS);"
        " ALTER TABLE bench_ceiling ADD PRIMARY KEY (meter_id, window_start);"
        " CREATE INDEX ON bench_ceiling USING brin (window_start)";
    if (mf_pg_exec(agg_pg_conn(pg), ddl, err, sizeof err) != MF_OK)
        mf_die("ceiling table: %s", err);
    *c = (struct ceiling){.copy = MF_BUF_INIT, .meters = meters};
}

static void ceiling_batch(struct agg_pg *pg, struct ceiling *c, size_t rows)
{
    struct agg_acc acc = {1, 1.5, 1.5, 1.5, 0, 0.025, 100, 1, 0, 0};
    int64_t t0 = 1710460800000;
    int64_t start = mf_mono_us();
    mf_pgcopy_begin(&c->copy);
    for (size_t end = c->k + rows; c->k < end; c->k++) {
        char id[32];
        snprintf(id, sizeof id, "MTR-%05ld", (long)(c->k % (size_t)c->meters));
        mf_pgcopy_put_tuple(&c->copy, (int16_t)(5 + agg_funcs_count));
        mf_pgcopy_put_text(&c->copy, id);
        mf_pgcopy_put_ts(&c->copy, t0 + (int64_t)(c->k / (size_t)c->meters) * 60000);
        acc.sum_kw = acc.min_kw = acc.max_kw = (double)(c->k % 5000) / 1000.0;
        agg_copy_put_acc_rollup(&c->copy, &acc);
        mf_pgcopy_put_bool(&c->copy, false);
        mf_pgcopy_put_i32(&c->copy, 0);
        mf_pgcopy_put_i32(&c->copy, (int32_t)(c->k % 12));
    }
    mf_pgcopy_end(&c->copy);
    PGconn *conn = agg_pg_conn(pg);
    PGresult *res = PQexec(conn, "COPY bench_ceiling (meter_id, window_start, count, sum_kw,"
                                 " min_kw, max_kw, m2, energy_kwh, quality_sum, premium,"
                                 " standard, interpolated, closed, revision, part)"
                                 " FROM STDIN (FORMAT binary)");
    if (PQresultStatus(res) != PGRES_COPY_IN)
        mf_die("ceiling COPY: %s", PQerrorMessage(conn));
    PQclear(res);
    if (PQputCopyData(conn, c->copy.data, (int)c->copy.len) != 1 || PQputCopyEnd(conn, NULL) != 1)
        mf_die("ceiling COPY data: %s", PQerrorMessage(conn));
    while ((res = PQgetResult(conn))) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            mf_die("ceiling COPY: %s", PQerrorMessage(conn));
        PQclear(res);
    }
    c->us += mf_mono_us() - start;
}

static void ceiling_close(struct agg_pg *pg, struct ceiling *c)
{
    char err[512];
    mf_buf_release(&c->copy);
    mf_pg_exec(agg_pg_conn(pg), "DROP TABLE bench_ceiling", err, sizeof err);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One aggregator's pipeline as the daemon runs it (agg_run): the commit on its thread. */
struct queued {
    int32_t part;
    int64_t offset;
    struct agg_record rec;
};

struct run {
    struct agg_state *st;
    struct agg_pg *pg;
    struct agg_committer *cmt;
    struct agg_batch b;
    struct agg_rows rows;
    struct queued *queue; /* parsed while the batch in flight commits */
    size_t nqueue, qmax;
    struct ceiling ceil;
    struct mf_buf json;
    struct agg_prejson pj; /* the closes' JSON, encoded while their batch commits */
    double *lat;           /* commit latencies, ms */
    size_t nlat, published, max_open, max_bytes;
    bool serial; /* BENCH_AGG_SERIAL: wait for each commit at once (no overlap), to compare */
    /* The main thread's phases, timed apart (a clock read costs ~25 ns); the commit's own. */
    int64_t t_parse, t_add, t_build, t_prejson, t_json, t_wait, t_commit;
};

static const int32_t all_parts[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};

static void add_one(struct run *r, const struct queued *q)
{
    bool late;
    int exp;
    int64_t t0 = mf_mono_us();
    agg_state_add(r->st, q->part, q->offset, &q->rec, 0, &late, &exp);
    r->t_add += mf_mono_us() - t0;
}

/* Builds the batch in hand and hands it to the commit thread. */
static void launch(struct run *r)
{
    int64_t t0 = mf_mono_us();
    bool any = agg_state_build(r->st, &r->b);
    r->t_build += mf_mono_us() - t0;
    if (!any)
        return;
    r->rows.n = 0;
    /* As the daemon does: the last batch's outbox rows go (their publish is not timed). */
    agg_committer_start(r->cmt, &r->b, true, all_parts, 12, &r->rows);
    /* As the daemon does: the closes' JSON while the batch commits. */
    int64_t t1 = mf_mono_us();
    agg_prejson_encode(&r->pj, r->b.closes, r->b.ncloses);
    r->t_prejson += mf_mono_us() - t1;
}

/*
 * Waits for the batch in flight, encodes its closed windows as the
 * publisher would, runs the ceiling's batch (timed apart), applies the
 * queue.
 */
static void settle(struct run *r)
{
    char err[512];
    int64_t us, t0 = mf_mono_us();
    if (!agg_committer_busy(r->cmt))
        return;
    if (agg_committer_finish(r->cmt, &us, err, sizeof err) != MF_OK)
        mf_die("commit: %s", err);
    int64_t t1 = mf_mono_us();
    r->t_wait += t1 - t0;
    r->t_commit += us;
    r->lat[r->nlat++] = (double)us / 1000.0;
    agg_state_committed(r->st);
    for (size_t i = 0; i < r->rows.n; i++) {
        const char *json;
        size_t len;
        if (agg_prejson_get(&r->pj, &r->rows.v[i], &r->json, &json, &len) != MF_OK)
            mf_die("window of '%s' cannot be encoded", r->rows.v[i].meter_id);
    }
    r->t_json += mf_mono_us() - t1;
    r->published += r->rows.n;
    ceiling_batch(r->pg, &r->ceil, r->b.nrecords); /* timed apart, subtracted below */
    if (agg_state_open_windows(r->st) > r->max_open) {
        r->max_open = agg_state_open_windows(r->st);
        r->max_bytes = agg_state_memory_bytes(r->st);
    }
    for (size_t i = 0; i < r->nqueue; i++)
        add_one(r, &r->queue[i]);
    r->nqueue = 0;
}

/* A full batch in hand and none in flight: launch it (and wait for it when serial). */
static void step(struct run *r, bool last)
{
    if (agg_committer_busy(r->cmt) || !(last || agg_state_batch_full(r->st)))
        return;
    launch(r);
    if (r->serial)
        settle(r);
}

int main(int argc, char **argv)
{
    long meters = argc > 1 ? strtol(argv[1], NULL, 10) : 10000;
    long minutes = argc > 2 ? strtol(argv[2], NULL, 10) : 100;
    long batch = argc > 3 ? strtol(argv[3], NULL, 10) : 20000;
    long per = argc > 4 ? strtol(argv[4], NULL, 10) : 1;
    if (meters < 1 || minutes < 1 || batch < 1 || per < 1 || per > 60)
        mf_die("usage: bench_agg [METERS [MINUTES [BATCH [PER_MINUTE (1..60)]]]]");
    size_t nseries;
    double *series = load_series(&nseries);
    char err[512];

    /* BENCH_AGG_DSN: an existing (empty) database, kept afterwards for EXPLAIN and logs. */
    const char *dsn = getenv("BENCH_AGG_DSN");
    struct mf_pgtmp *pgt = dsn && *dsn ? NULL : mf_pgtmp_start();
    struct agg_pg *pg = agg_pg_new(pgt ? pgt->dsn : dsn, "bench", "meter.readings.validated");
    if (agg_pg_migrate(pg, err, sizeof err) < 0)
        mf_die("migrate: %s", err);
    struct agg_partitions *partitions = agg_partitions_new(pg);
    struct agg_commit *commit = agg_commit_new(pg);
    struct agg_state *st = agg_state_new((size_t)batch, 120000, 30000);
    for (int p = 0; p < 12; p++)
        agg_state_assign(st, p, -1, AGG_WM_NONE, 0);

    /* The records as Kafka would carry them, built before the clock starts. */
    size_t n = (size_t)(meters * minutes * per);
    char **recs = mf_xmalloc(n * sizeof *recs);
    int32_t *parts = mf_xmalloc(n * sizeof *parts);
    int64_t t0 = 1710460800000; /* 2024-03-15T00:00:00Z */
    int64_t *next_o = mf_xcalloc(12, sizeof *next_o);
    size_t bytes = 0;
    for (long t = 0, k = 0; t < minutes * per; t++) {
        for (long m = 0; m < meters; m++, k++) {
            char id[32], ts[MF_TIME_STRLEN];
            snprintf(id, sizeof id, "MTR-%05ld", m);
            int32_t p = (int32_t)(m % 12);
            double v = series[((size_t)m * 7919 + (size_t)t) % nseries];
            mf_time_format(t0 + t * (60000 / per) + (m % 60) * (1000 / per), ts);
            recs[k] = mf_xmalloc(400);
            snprintf(recs[k], 400,
                     "{\"meter_id\":\"%s\",\"ts\":\"%s\",\"value_kw\":%.3f,\"source_value\":%.3f,"
                     "\"source_unit\":\"kW\",\"interval_s\":60,\"energy_kwh\":%.6f,"
                     "\"quality\":100,\"tier\":\"premium\",\"flags\":[],\"reasons\":[],"
                     "\"interpolated\":false,\"src\":{\"p\":%d,\"o\":%lld,\"i\":0}}",
                     id, ts, v, v, v / (60.0 * (double)per), p, (long long)next_o[p]++);
            parts[k] = p;
            bytes += strlen(recs[k]);
        }
    }
    printf(
        "# %zu readings (%ld meters x %ld min x %ld a minute, %.0f bytes each), batches of %ld\n",
        n, meters, minutes, per, (double)bytes / (double)n, batch);

    struct run r = {.st = st,
                    .pg = pg,
                    .cmt = agg_committer_new(commit, partitions),
                    .lat = mf_xmalloc((n / (size_t)batch + 8) * sizeof *r.lat),
                    .queue = mf_xmalloc((size_t)batch * sizeof *r.queue),
                    .qmax = (size_t)batch,
                    .json = MF_BUF_INIT,
                    .serial = getenv("BENCH_AGG_SERIAL") && *getenv("BENCH_AGG_SERIAL") == '1'};
    int64_t off[12] = {0};
    ceiling_open(pg, &r.ceil, meters);
    int64_t start = mf_mono_us();
    for (size_t k = 0; k < n; k++) {
        struct queued q = {.part = parts[k], .offset = off[parts[k]]++};
        int64_t p0 = mf_mono_us();
        if (agg_record_parse(recs[k], strlen(recs[k]), &q.rec, err, sizeof err) != MF_OK)
            mf_die("parse: %s", err);
        r.t_parse += mf_mono_us() - p0;
        /* As the daemon does: read on while the batch in flight commits, apply after it. */
        if (agg_committer_busy(r.cmt) && r.nqueue == r.qmax)
            settle(&r);
        step(&r, false);
        if (agg_committer_busy(r.cmt)) {
            r.queue[r.nqueue++] = q;
            continue;
        }
        add_one(&r, &q);
        step(&r, false);
    }
    do {
        settle(&r);
        step(&r, true); /* the rest, and what the watermark closed */
    } while (agg_committer_busy(r.cmt));
    double secs = (double)(mf_mono_us() - start - r.ceil.us) / 1e6;
    qsort(r.lat, r.nlat, sizeof *r.lat, cmp_double);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);

    double rate = (double)n / secs, ceiling = (double)r.ceil.k / ((double)r.ceil.us / 1e6);
    ceiling_close(pg, &r.ceil);
    printf("readings/s into rollup_1m + rollup_1h: %.0f (%zu readings in %.2f s)\n", rate, n, secs);
    printf("ceiling, bare binary COPY of %zu rows into a table shaped like rollup_1m, a batch's"
           " worth after each batch: %.0f rows/s; the aggregator at %.0f %% of it\n",
           r.ceil.k, ceiling, 100.0 * rate / ceiling);
    printf("commit latency per batch: p50 %.1f ms, p99 %.1f ms, max %.1f ms (%zu commits)\n",
           r.lat[r.nlat / 2],
           r.lat[(r.nlat * 99) / 100 < r.nlat ? (r.nlat * 99) / 100 : r.nlat - 1],
           r.lat[r.nlat - 1], r.nlat);
    printf("windows closed and encoded for publishing: %zu\n", r.published);
    /* Where the wall time went: the commit on its thread; the main thread's phases. */
    double inv = 1.0 / (double)n;
    printf("time per reading: commit %.2f us (its thread); main thread: parse %.2f, pre-merge %.2f,"
           " build %.2f, rollup JSON while committing %.2f, committed + the rest of the JSON %.2f,"
           " waiting for the commit %.2f, other %.2f\n",
           (double)r.t_commit * inv, (double)r.t_parse * inv, (double)r.t_add * inv,
           (double)r.t_build * inv, (double)r.t_prejson * inv, (double)r.t_json * inv,
           (double)r.t_wait * inv,
           secs * 1e6 * inv -
               (double)(r.t_parse + r.t_add + r.t_build + r.t_prejson + r.t_json + r.t_wait) * inv);
    printf("open windows (peak): %zu, state memory %zu bytes = %.1f bytes per open window\n",
           r.max_open, r.max_bytes, r.max_open ? (double)r.max_bytes / (double)r.max_open : 0.0);
    printf("batch map (fixed by AGG_BATCH_MAX=%ld): %zu bytes; peak RSS %ld MiB\n", batch,
           (size_t)batch * 2 * (sizeof(struct agg_entry) + 2 * sizeof(uint32_t)) +
               (size_t)batch * (sizeof(struct agg_status) + sizeof(void *)),
           ru.ru_maxrss / 1024);

    for (size_t k = 0; k < n; k++)
        free(recs[k]);
    free(recs);
    free(parts);
    free(r.lat);
    free(r.queue);
    free(next_o);
    free(series);
    mf_buf_release(&r.json);
    agg_prejson_release(&r.pj);
    agg_rows_release(&r.rows);
    agg_committer_destroy(r.cmt);
    agg_state_destroy(st);
    agg_commit_destroy(commit);
    agg_partitions_destroy(partitions);
    agg_pg_destroy(pg);
    if (pgt)
        mf_pgtmp_do(pgt, "destroy");
    return 0;
}
