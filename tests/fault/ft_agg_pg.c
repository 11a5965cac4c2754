/*
 * ft_agg_pg: PostgreSQL dies mid-stream (immediate shutdown, like a
 * crash) and comes back. The aggregator must stop consuming, answer 503
 * on /readyz while it retries, become ready again, and end with every
 * reading counted exactly once, every window closed and published.
 */
#include "mf_aggtest.h"

#define NMETERS 30

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct mf_pgtmp *pgt = mf_pgtmp_start();
    struct mf_broker *broker = mf_broker_start(1);
    int64_t start;
    char why[64];

    mf_time_parse_rfc3339("2024-11-03T00:00:00Z", 20, &start, why, sizeof why);
    itg_rng = 0x9a55ull;
    struct itg_set s = itg_generate(NMETERS, start, 3 * 3600, 15, 2.0);
    itg_assign_src(&s);
    size_t third = s.n / 3;

    const char *const env[] = {"AGG_BATCH_MAX=300", "AGG_BATCH_MS=50", NULL};
    struct itg_agg agg = itg_start_agg(broker->bootstrap, pgt->dsn, env);
    PGconn *c = itg_pg(pgt->dsn);

    itg_produce(broker->bootstrap, s.v, 0, third);
    long long n = itg_wait_progress(&c, pgt->dsn, (long long)third / 2, 60000);
    itg_check(n > 0, "first third flowing (%lld readings stored)", n);

    /* Crash PostgreSQL while batches are being written and more data arrives. */
    itg_check(mf_pgtmp_do(pgt, "kill") == 0, "PostgreSQL killed (immediate shutdown)");
    itg_produce(broker->bootstrap, s.v, third, 2 * third);
    long code = 0;
    for (int64_t deadline = mf_mono_ms() + 20000; mf_mono_ms() < deadline; usleep(100000))
        if ((code = itg_readyz(agg.port)) == 503)
            break;
    itg_check(code == 503, "/readyz answers 503 while PostgreSQL is down (got %ld)", code);
    itg_check(mf_proc_alive(agg.proc), "the aggregator keeps running");
    sleep(3);
    itg_check(mf_pgtmp_do(pgt, "restart") == 0, "PostgreSQL restarted");

    for (int64_t deadline = mf_mono_ms() + 30000; mf_mono_ms() < deadline; usleep(100000))
        if ((code = itg_readyz(agg.port)) == 200)
            break;
    itg_check(code == 200, "/readyz answers 200 again (got %ld)", code);
    itg_produce(broker->bootstrap, s.v, 2 * third, s.n);

    itg_check(itg_wait_done(&c, pgt->dsn, (long long)s.n, 120000) == 0,
              "%zu readings in both tables, every window closed", s.n);
    itg_verify_all(broker->bootstrap, c, &s);
    double resyncs = itg_metric(agg.port, "meterflow_agg_resyncs_total");
    itg_check(resyncs >= 2, "the state was reloaded after the outage (resyncs %g)", resyncs);

    int rc = mf_proc_stop(agg.proc, 30000);
    itg_check(rc == 0, "SIGTERM: the aggregator exits 0 (got %d)", rc);
    PQfinish(c);
    free(s.v);
    mf_broker_stop(broker);
    mf_pgtmp_do(pgt, "destroy");
    return itg_finish("ft_agg_pg");
}
