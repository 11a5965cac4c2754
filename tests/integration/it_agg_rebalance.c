/*
 * it_agg_rebalance: two aggregators in one consumer group with rebalances
 * in the middle of a stream: B joins while A is busy (A's partitions are
 * split), then A leaves on SIGTERM (B takes everything). Every reading is
 * counted once, every window closed and published, and both members did
 * part of the work.
 */
#include "mf_aggtest.h"

#define NMETERS 40

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct mf_pgtmp *pgt = mf_pgtmp_start();
    struct mf_broker *broker = mf_broker_start(1);
    int64_t start;
    char why[64];

    mf_time_parse_rfc3339("2025-01-01T00:00:00Z", 20, &start, why, sizeof why);
    itg_rng = 0xba1a9ceull;
    struct itg_set s = itg_generate(NMETERS, start, 3 * 3600, 20, 2.0);
    itg_assign_src(&s);
    size_t third = s.n / 3;

    const char *const env[] = {"AGG_BATCH_MAX=300", "AGG_BATCH_MS=50", NULL};
    struct itg_agg a = itg_start_agg(broker->bootstrap, pgt->dsn, env);
    PGconn *c = itg_pg(pgt->dsn);

    itg_produce(broker->bootstrap, s.v, 0, third);
    itg_check(itg_wait_progress(&c, pgt->dsn, (long long)third / 2, 60000) > 0,
              "A alone: first third flowing");

    /*
     * B joins mid-stream: the group rebalances while A writes. The second
     * third goes out once B holds partitions (its first resync): on a quiet
     * machine A used to take the whole third before the rebalance ended,
     * and B had nothing of it to apply.
     */
    struct itg_agg b = itg_start_agg(broker->bootstrap, pgt->dsn, env);
    double b_resyncs = 0;
    for (int64_t deadline = mf_mono_ms() + 60000; mf_mono_ms() < deadline; usleep(100000))
        if ((b_resyncs = itg_metric(b.port, "meterflow_agg_resyncs_total")) > 0)
            break;
    itg_check(b_resyncs > 0, "B joined the group and holds partitions");
    itg_produce(broker->bootstrap, s.v, third, 2 * third);
    double b_applied = 0;
    for (int64_t deadline = mf_mono_ms() + 60000; mf_mono_ms() < deadline; usleep(200000))
        if ((b_applied = itg_metric(b.port, "meterflow_agg_records_total{outcome=\"applied\"}")) >
            0)
            break;
    itg_check(b_applied > 0, "B got partitions and applied %g readings", b_applied);
    itg_check(itg_wait_progress(&c, pgt->dsn, (long long)(2 * third) - 50, 120000) > 0,
              "two members: second third stored");

    /* A leaves cleanly in the middle of the last third: B takes over. */
    itg_produce(broker->bootstrap, s.v, 2 * third, 2 * third + third / 2);
    double a_applied = itg_metric(a.port, "meterflow_agg_records_total{outcome=\"applied\"}");
    int rc = mf_proc_stop(a.proc, 30000);
    itg_check(rc == 0, "A exits 0 on SIGTERM mid-stream (got %d), having applied %g", rc,
              a_applied);
    itg_produce(broker->bootstrap, s.v, 2 * third + third / 2, s.n);

    itg_check(itg_wait_done(&c, pgt->dsn, (long long)s.n, 120000) == 0,
              "%zu readings in both tables, every window closed", s.n);
    itg_verify_all(broker->bootstrap, c, &s);

    rc = mf_proc_stop(b.proc, 30000);
    itg_check(rc == 0, "B exits 0 on SIGTERM (got %d)", rc);
    PQfinish(c);
    free(s.v);
    mf_broker_stop(broker);
    mf_pgtmp_do(pgt, "destroy");
    return itg_finish("it_agg_rebalance");
}
