/*
 * ft_agg_crashwalk: the aggregator's crash-point walk (issue 17). For every
 * point the fault build lists (`build/crash/bin/aggregator --crash-points`:
 * a batch staged but not committed, committed but not published, windows
 * sent but not acknowledged, acknowledged but the outbox not cleared, the
 * outbox cleared, the outbox republished on a restart), a fault-build
 * aggregator runs on the stream with MF_CRASH_AT=<point>:1 (the stream it
 * starts on already holds the earlier steps' work) and must die there by
 * SIGKILL; a point never reached fails the test. A worker's repeats (same src) arrive
 * too. Then a release aggregator finishes the stream, and the full check of
 * mf_aggtest holds: every reading counted once in both tables against an
 * independent two-pass computation, every window closed, each window's
 * highest published revision equal to the table, meter_current_status,
 * region_load_1h.
 */
#include "mf_aggtest.h"

#define NMETERS    24
#define MAX_POINTS 32

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    char bin[512];
    static char points[MAX_POINTS][MF_CRASH_POINT_MAX];
    int npoints = mf_crash_walk_points("aggregator", bin, sizeof bin, points, MAX_POINTS);

    struct mf_pgtmp *pgt = mf_pgtmp_start();
    struct mf_broker *broker = mf_broker_start(1);
    int64_t start;
    char why[64];
    mf_time_parse_rfc3339("2024-06-30T21:00:00Z", 20, &start, why, sizeof why);
    itg_rng = 0xc0ffee17ull;
    struct itg_set s = itg_generate(NMETERS, start, 4 * 3600, 15, 2.0);
    itg_assign_src(&s);
    size_t chunk = s.n / (size_t)(npoints + 1), produced = 0;
    printf("# %zu readings, %d crash points\n", s.n, npoints);

    /* Small batches and a short idle flush: many transactions and closes. */
    const char *small[] = {"AGG_BATCH_MAX=200",
                           "AGG_BATCH_MS=50",
                           "KAFKA_SESSION_TIMEOUT_MS=2000",
                           "KAFKA_HEARTBEAT_INTERVAL_MS=300",
                           NULL,
                           NULL};
    for (int i = 0; i < npoints; i++) {
        size_t to = produced + chunk;
        itg_produce(broker->bootstrap, s.v, produced, to);
        if (i == 1) /* a worker crashed and repeated 150 outputs, same src */
            itg_produce(broker->bootstrap, s.v, to - 150, to);
        produced = to;
        /* The first reach: some points come once a start (the restart's
         * republish) or once an idle spell (the outbox cleared between
         * batches), and a busy machine may not idle twice in a chunk. */
        char at[160];
        snprintf(at, sizeof at, "MF_CRASH_AT=%.96s:1", points[i]);
        small[4] = at;
        int64_t t0 = mf_mono_ms();
        struct itg_agg agg = itg_start_agg_bin(bin, broker->bootstrap, pgt->dsn, small, 0);
        int st = mf_proc_wait(agg.proc, 120000);
        if (st < 0)
            mf_proc_signal(agg.proc, SIGKILL);
        mf_proc_stop(agg.proc, 1000);
        itg_check(st == 128 + SIGKILL, "crash point %s: %s (status %d)", points[i],
                  st == 128 + SIGKILL ? "reached, SIGKILL"
                  : st < 0            ? "never reached in 120 s"
                                      : "the aggregator exited otherwise",
                  st);
        printf("# crash point %-30s reached, SIGKILL after %.1f s\n", points[i],
               (double)(mf_mono_ms() - t0) / 1000.0);
        if (!strcmp(points[i], "aggregator.batch.committed")) {
            /* What the next start republishes: keys, and the 1-minute spans (013). */
            PGconn *oc = itg_pg(pgt->dsn);
            printf("# outbox after the commit: %lld key row(s), %lld span(s)\n",
                   itg_sql_num(&oc, pgt->dsn, "SELECT count(*) FROM agg_outbox_keys"),
                   itg_sql_num(&oc, pgt->dsn, "SELECT count(*) FROM agg_outbox_ranges"));
            PQfinish(oc);
        }
    }
    itg_produce(broker->bootstrap, s.v, produced, s.n);

    small[4] = NULL;
    struct itg_agg agg = itg_start_agg(broker->bootstrap, pgt->dsn, small);
    PGconn *c = itg_pg(pgt->dsn);
    itg_check(itg_wait_done(&c, pgt->dsn, (long long)s.n, 120000) == 0,
              "after %d crash points: %zu readings in both tables, every window closed", npoints,
              s.n);
    itg_verify_all(broker->bootstrap, c, &s);
    int rc = mf_proc_stop(agg.proc, 30000);
    itg_check(rc == 0, "SIGTERM: the aggregator exits 0 (got %d)", rc);
    /*
     * The watermark's 1-minute closes went to the outbox as spans (013), not
     * keys. Each backend reports its counts within ~10 s of going idle.
     */
    long long spans = 0;
    for (int64_t until = mf_mono_ms() + 15000; spans <= 0 && mf_mono_ms() < until;) {
        spans = itg_sql_num(
            &c, pgt->dsn,
            "SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = 'agg_outbox_ranges'");
        if (spans <= 0)
            usleep(200000);
    }
    itg_check(spans > 0, "the outbox took %lld span(s) of 1-minute closes", spans);
    PQfinish(c);
    free(s.v);
    mf_broker_stop(broker);
    mf_pgtmp_do(pgt, "destroy");
    return itg_finish("ft_agg_crashwalk");
}
