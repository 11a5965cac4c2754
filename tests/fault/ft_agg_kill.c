/*
 * ft_agg_kill: an aggregator killed with SIGKILL several times in the
 * middle of a stream (between and inside its transactions, before and
 * after publishing) and restarted each time, while the stream goes on and
 * a worker's repeats (same src) arrive too. Afterwards every reading is
 * counted exactly once, every window is closed, and the rollup topics
 * carry every window's final row (the outbox republished what a kill
 * interrupted). After the second kill the rows are rewritten as a
 * database made before migration 011 holds them (closes stored, no
 * partition): the aggregator must carry on from those.
 */
#include "mf_aggtest.h"

#define NMETERS 30
#define KILLS   4

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct mf_pgtmp *pgt = mf_pgtmp_start();
    struct mf_broker *broker = mf_broker_start(1);
    int64_t start;
    char why[64];

    mf_time_parse_rfc3339("2024-06-30T21:00:00Z", 20, &start, why, sizeof why);
    itg_rng = 0x5eed0f4a11ull;
    struct itg_set s = itg_generate(NMETERS, start, 4 * 3600, 15, 2.0);
    itg_assign_src(&s);
    printf("# %zu readings in %d chunks, %d kills\n", s.n, KILLS + 1, KILLS);

    /* Small batches: many transactions to be killed in. */
    const char *const small[] = {"AGG_BATCH_MAX=300", "AGG_BATCH_MS=50", NULL};
    struct itg_agg agg = itg_start_agg(broker->bootstrap, pgt->dsn, small);
    PGconn *c = itg_pg(pgt->dsn);
    size_t chunk = s.n / (KILLS + 1), produced = 0;
    int restarts = 0;

    for (int k = 0; k < KILLS; k++) {
        size_t to = produced + chunk;
        itg_produce(broker->bootstrap, s.v, produced, to);
        /* A worker crashed and repeated the last 200 of its outputs, same src. */
        if (k == 2)
            itg_produce(broker->bootstrap, s.v, to - 200, to);
        produced = to;
        /* Kill once it is well into this chunk, at a pseudo-random point. */
        long long before = itg_progress(&c, pgt->dsn);
        long long n = itg_wait_progress(&c, pgt->dsn, before + (long long)chunk / 3, 60000);
        usleep((useconds_t)(itg_rand() % 200000));
        mf_proc_signal(agg.proc, SIGKILL);
        int st = mf_proc_wait(agg.proc, 10000);
        itg_check(n >= 0 && st == 128 + SIGKILL, "kill %d: SIGKILL at ~%lld readings stored", k + 1,
                  n);
        mf_proc_stop(agg.proc, 1000);
        if (k == 1) {
            /*
             * The killed aggregator's last COMMIT may still be finishing in
             * its backend: an upgrade runs with no aggregator left, so wait
             * for the backend to go (its transaction ends first), or the
             * rewrite below would mix that commit's rows with older values.
             */
            long long others = -1;
            for (int t = 0; t < 200 && others != 0; t++) {
                others = itg_sql_num(&c, pgt->dsn,
                                     "SELECT count(*) FROM pg_stat_activity"
                                     " WHERE datname = current_database()"
                                     " AND backend_type = 'client backend'"
                                     " AND pid <> pg_backend_pid()");
                if (others != 0)
                    usleep(50000);
            }
            itg_check(others == 0, "kill %d: the killed aggregator's session is gone", k + 1);
            /*
             * As if the rows so far had been written before 011: each one's
             * close and revision stored, no partition. The restarted
             * aggregator must close the open ones itself (and publish them).
             * An aggregator of then kept its outbox as keys: the spans the
             * killed one left (013), which name rows by partition, become
             * the keys of their rows (the statement's one snapshot).
             */
            /* rows * 100000 + open ones; how many are open depends on the timing (an
             * idle flush may have closed them all), the path is taken when some are. */
            long long legacy = itg_sql_num(
                &c, pgt->dsn,
                "WITH ob AS (INSERT INTO agg_outbox_keys"
                " (consumer_group, partition, width, meter_ids, window_starts)"
                " SELECT o.consumer_group, o.partition, '1m', array_agg(r.meter_id),"
                " array_agg(r.window_start) FROM agg_outbox_ranges o JOIN rollup_1m r"
                " ON r.part = o.partition AND r.window_start BETWEEN o.first_start"
                " AND o.last_start GROUP BY 1, 2), d AS (DELETE FROM agg_outbox_ranges),"
                " u AS (UPDATE rollup_1m r SET closed = v.closed, revision = v.revision,"
                " part = NULL FROM rollup_1m_stats v WHERE v.meter_id = r.meter_id"
                " AND v.window_start = r.window_start RETURNING r.closed)"
                " SELECT count(*) * 100000 + count(*) FILTER (WHERE NOT closed) FROM u");
            itg_check(legacy >= 100000, "kill %d: %lld rows turned into pre-011 ones, %lld open",
                      k + 1, legacy / 100000, legacy % 100000);
        }
        agg = itg_start_agg(broker->bootstrap, pgt->dsn, small);
        restarts++;
    }
    itg_produce(broker->bootstrap, s.v, produced, s.n);

    itg_check(itg_wait_done(&c, pgt->dsn, (long long)s.n, 120000) == 0,
              "after %d kills: %zu readings in both tables, every window closed", restarts, s.n);
    itg_verify_all(broker->bootstrap, c, &s);
    long long srcs = itg_sql_num(&c, pgt->dsn, "SELECT count(*) FROM source_positions");
    itg_check(srcs > 0, "source_positions holds %lld rows", srcs);

    int rc = mf_proc_stop(agg.proc, 30000);
    itg_check(rc == 0, "SIGTERM: the aggregator exits 0 (got %d)", rc);
    PQfinish(c);
    free(s.v);
    mf_broker_stop(broker);
    mf_pgtmp_do(pgt, "destroy");
    return itg_finish("ft_agg_kill");
}
