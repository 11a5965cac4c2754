/*
 * it_agg_random: the aggregator against the local broker and a throw-away
 * PostgreSQL with a random, shuffled stream: out-of-order and late
 * readings, readings arriving hours after their windows closed (which must
 * republish those windows with revision 2), a worker's repeats (same src,
 * counted once) and unparseable records (skipped and counted). The stored
 * rollups must equal an independent two-pass computation, every window
 * closed, and the rollup topics must carry each window's final row.
 */
#include "mf_aggtest.h"

#define NMETERS 40

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct mf_pgtmp *pgt = mf_pgtmp_start();
    struct mf_broker *broker = mf_broker_start(1);
    PGconn *c;

    /* 2024-03-31 22:30Z .. 2024-04-01 01:30Z: a day and a month boundary. */
    int64_t start;
    char why[64];
    mf_time_parse_rfc3339("2024-03-31T22:30:00Z", 20, &start, why, sizeof why);
    struct itg_set s = itg_generate(NMETERS, start, 3 * 3600, 20, 3.0);
    size_t held = itg_hold_back(&s, 2.0);
    itg_assign_src(&s);
    size_t n1 = s.n - held;
    printf("# %zu readings, %zu held back to arrive after their windows closed\n", s.n, held);

    /*
     * Phase 1: the shuffled stream, all there before the aggregator starts,
     * so no partition looks idle to it (an idle partition's watermark jumps
     * to the wall clock, which would make the whole 2024 stream late).
     */
    itg_produce(broker->bootstrap, s.v, 0, n1);
    /* 10 s: on a loaded machine a partition's first fetch can lag its
     * assignment by seconds, and a shorter idle flush made it look idle. */
    const char *const env[] = {"AGG_IDLE_FLUSH_S=10", NULL};
    struct itg_agg agg = itg_start_agg(broker->bootstrap, pgt->dsn, env);
    c = itg_pg(pgt->dsn);
    itg_check(itg_wait_done(&c, pgt->dsn, (long long)n1, 90000) == 0,
              "phase 1: %zu readings in both tables, every window closed", n1);
    double closed1 = itg_metric(agg.port, "meterflow_agg_windows_total{width=\"1m\"}");
    itg_check(closed1 > 0, "meterflow_agg_windows_total{width=\"1m\"} = %g", closed1);
    long long first_rev = itg_sql_num(&c, pgt->dsn, "SELECT min(revision) FROM rollup_1m_stats");
    itg_check(first_rev == 1, "phase 1: closed windows start at revision 1 (min %lld)", first_rev);
    double late1 = itg_metric(agg.port, "meterflow_agg_late_records_total");
    itg_check(late1 > 0 && late1 < 0.1 * (double)n1,
              "phase 1: some readings counted late, not most (%g of %zu)", late1, n1);

    /* Phase 2: very late readings, 300 repeats of applied ones, 6 bad records. */
    itg_produce(broker->bootstrap, s.v, n1, s.n);
    struct itg_reading *dups = mf_xmalloc(300 * sizeof *dups);
    for (size_t k = 0; k < 300; k++)
        /* NOLINTNEXTLINE(clang-analyzer-core.DivideZero): n1 > 0, the stream is fixed */
        dups[k] = s.v[itg_rand() % n1];
    itg_produce(broker->bootstrap, dups, 0, 300);
    const char *bad_keys[] = {"MTR-0001", "MTR-0002", "MTR-0003",
                              "MTR-0004", "MTR-0005", "MTR-0006"};
    const char *bad_vals[] = {
        "not json",
        "{\"meter_id\":\"MTR-0002\"}",
        "{\"meter_id\":\"MTR-0003\",\"ts\":-5,\"value_kw\":1,\"energy_kwh\":0,\"quality\":95,"
        "\"tier\":\"premium\",\"src\":{\"p\":1,\"o\":99999999,\"i\":0}}",
        "{\"meter_id\":\"MTR-0004\",\"ts\":\"2024-03-31T23:00:00Z\",\"value_kw\":1,"
        "\"energy_kwh\":0,\"quality\":95,\"tier\":\"bogus\",\"src\":{\"p\":1,\"o\":99999999,"
        "\"i\":0}}",
        "{\"meter_id\":\"bad id!\",\"ts\":\"2024-03-31T23:00:00Z\",\"value_kw\":1,"
        "\"energy_kwh\":0,\"quality\":95,\"tier\":\"premium\",\"src\":{\"p\":1,\"o\":99999999,"
        "\"i\":0}}",
        "[1,2,3]",
    };
    mf_kafka_produce(broker->bootstrap, ITG_TOPIC, bad_keys, bad_vals, 6);

    itg_check(itg_wait_done(&c, pgt->dsn, (long long)s.n, 90000) == 0,
              "phase 2: %zu readings in both tables, every window closed", s.n);
    itg_verify_all(broker->bootstrap, c, &s);

    long long rev2 = itg_sql_num(&c, pgt->dsn,
                                 "SELECT count(*) FROM rollup_1m WHERE revision >= 2");
    itg_check(rev2 > 0, "%lld closed 1m windows changed by late data carry revision >= 2", rev2);
    double dup = itg_metric(agg.port, "meterflow_agg_records_total{outcome=\"duplicate\"}");
    double inv = itg_metric(agg.port, "meterflow_agg_records_total{outcome=\"invalid\"}");
    double late = itg_metric(agg.port, "meterflow_agg_late_records_total");
    double repub = itg_metric(agg.port, "meterflow_agg_republished_total{width=\"1m\"}");
    itg_check(dup == 300, "300 repeated records dropped as duplicates (metric %g)", dup);
    itg_check(inv == 6, "6 unparseable records skipped and counted (metric %g)", inv);
    itg_check(late >= (double)held, "late records counted: %g (>= %zu held back)", late, held);
    itg_check(repub >= (double)rev2, "meterflow_agg_republished_total{width=\"1m\"} = %g", repub);
    itg_check_stddev_sql(c, &s);

    int rc = mf_proc_stop(agg.proc, 30000);
    itg_check(rc == 0, "SIGTERM: the aggregator exits 0 (got %d)", rc);

    /*
     * Retention: 2024 is older than 30 days, so a restart with it drops
     * every partition, and region_load_1h's hours go with rollup_1h's.
     */
    const char *const keep30[] = {"AGG_IDLE_FLUSH_S=10", "AGG_RETENTION_1H_DAYS=30",
                                  "AGG_RETENTION_1M_DAYS=30", NULL};
    agg = itg_start_agg(broker->bootstrap, pgt->dsn, keep30);
    long long left = -1;
    for (int k = 0; k < 300 && left != 0; k++) {
        left = itg_sql_num(
            &c, pgt->dsn,
            "SELECT (SELECT count(*) FROM rollup_1h) + (SELECT count(*) FROM rollup_1m)"
            " + (SELECT count(*) FROM region_load_1h)");
        if (left != 0)
            usleep(100000);
    }
    itg_check(left == 0, "retention: rollup_1m, rollup_1h and region_load_1h emptied (%lld left)",
              left);
    rc = mf_proc_stop(agg.proc, 30000);
    itg_check(rc == 0, "SIGTERM: the aggregator exits 0 (got %d)", rc);
    PQfinish(c);
    free(dups);
    free(s.v);
    mf_broker_stop(broker);
    mf_pgtmp_do(pgt, "destroy");
    return itg_finish("it_agg_random");
}
