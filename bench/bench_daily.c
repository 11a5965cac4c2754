/*
 * bench_daily: the daily analytics of issue 14 (DESIGN §13) over METERS
 * meters x 8 days of hourly rollups in a throw-away PostgreSQL: one day's
 * peaks (meterflow_peak_day), one day's billing days of every meter
 * (meterflow_rollup_1d_local, 045), the
 * quality verdicts of every hour, and one neighborhood correlation round
 * (agg_daily: load, judge, commit), each timed alone.
 *
 *   bench_daily [METERS]   default 10000; neighborhoods of 20 meters, 10 regions
 *
 * The meters follow one daily profile with noise, so nobody is raised and
 * nothing is published (no Kafka needed). The rows are stored hour by hour,
 * as the aggregator writes them (a meter's hours scattered over the table).
 * JIT is off, as in the aggregator's rounds. Figures only: nothing asserted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "mf_harness.h"
#include "mf_kafka.h"
#include "mf_metrics.h"
#include "mf_time.h"
#include "agg_daily.h"
#include "agg_pg.h"
#include "mf_common.h"

static double exec_s(PGconn *c, const char *sql)
{
    int64_t t = mf_mono_ms();
    PGresult *res = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
        mf_die("%s: %s", sql, PQresultErrorMessage(res));
    PQclear(res);
    return (double)(mf_mono_ms() - t) / 1000.0;
}

int main(int argc, char **argv)
{
    long meters = argc > 1 ? strtol(argv[1], NULL, 10) : 10000;
    if (meters < 20)
        mf_die("usage: bench_daily [METERS (>= 20)]");
    char err[512], sql[2048];
    struct mf_pgtmp *pgt = mf_pgtmp_start();
    struct agg_pg *pg = agg_pg_new(pgt->dsn, "bench", "meter.readings.validated");
    if (agg_pg_migrate(pg, err, sizeof err) < 0)
        mf_die("migrate: %s", err);
    agg_pg_destroy(pg);
    PGconn *c = PQconnectdb(pgt->dsn);
    if (PQstatus(c) != CONNECTION_OK)
        mf_die("connect: %s", PQerrorMessage(c));

    /* 2024-03-08 .. 2024-03-16 (UTC): 8 days, the last 7 judged. */
    exec_s(c, "SET synchronous_commit = off");
    exec_s(c, "SET jit = off");
    exec_s(c, "SELECT meterflow_ensure_partitions('rollup_1h', '2024-03-08Z', '2024-03-16Z')");
    snprintf(sql, sizeof sql,
             "INSERT INTO meters (meter_id, max_kw, neighborhood, region)"
             " SELECT format('MTR-%%s', i), 20, 'N' || (i / 20), 'R' || (i %% 10)"
             " FROM generate_series(0, %ld) i",
             meters - 1);
    double gen = exec_s(c, sql);
    snprintf(sql, sizeof sql,
             "INSERT INTO rollup_1h (meter_id, window_start, count, sum_kw, min_kw, max_kw, m2,"
             " energy_kwh, quality_sum, premium, standard, interpolated, closed, revision)"
             " SELECT format('MTR-%%s', i), h, 60, 60 * e, e, e, 0, e, 5700, 60, 0, 0, true, 1"
             " FROM generate_series('2024-03-08Z'::timestamptz, '2024-03-15 23:00Z', '1 hour') h,"
             " generate_series(0, %ld) i,"
             " LATERAL (SELECT 0.3 + CASE WHEN extract(hour FROM h) BETWEEN 17 AND 21 THEN 1.5"
             " WHEN extract(hour FROM h) BETWEEN 7 AND 9 THEN 0.8 ELSE 0 END"
             " + 0.2 * random() + 0 * i AS e) x",
             meters - 1);
    gen += exec_s(c, sql);
    gen += exec_s(c, "INSERT INTO region_load_1h (region, window_start, energy_kwh, readings,"
                     " meters, quality_sum) SELECT m.region, r.window_start, sum(r.energy_kwh),"
                     " sum(r.count), count(*), sum(r.quality_sum) FROM rollup_1h r"
                     " JOIN meters m USING (meter_id) GROUP BY 1, 2");
    gen += exec_s(c, "INSERT INTO agg_watermarks (consumer_group, partition, watermark_ms)"
                     " VALUES ('bench', 0, 1710547200000)"); /* 2024-03-16T00:00Z */
    gen += exec_s(c, "VACUUM ANALYZE");
    printf("# %ld meters x 192 hours (%ld rows of rollup_1h) generated in %.1f s\n", meters,
           meters * 192, gen);

    double peaks = exec_s(c, "SELECT meterflow_peak_day('2024-03-15')");
    double billing = exec_s(c, "SELECT count(*), sum(energy_kwh)"
                               " FROM meterflow_rollup_1d_local('2024-03-15', '2024-03-15')");
    double quality = exec_s(c, "SELECT meterflow_quality_alerts('2024-03-16Z')");
    exec_s(c, "DELETE FROM peak_days_dirty");

    mf_metrics_init();
    agg_daily_metrics_init();
    rd_kafka_conf_t *conf = mf_kafka_conf_new(MF_KAFKA_PRODUCER, "127.0.0.1:1", "bench", NULL, err,
                                              sizeof err);
    if (!conf)
        mf_die("producer conf: %s", err);
    const struct agg_daily_conf dc = {.pg_dsn = pgt->dsn,
                                      .fleet_tz = "UTC",
                                      .hemisphere = "north",
                                      .topic_alerts = "meter.alerts",
                                      .every_ms = 1};
    struct agg_daily *d = agg_daily_new(&dc, conf, err, sizeof err);
    if (!d)
        mf_die("agg_daily: %s", err);
    int64_t t = mf_mono_ms();
    if (agg_daily_tick(d, mf_mono_ms() + 1, err, sizeof err) != MF_OK)
        mf_die("round: %s", err);
    double corr = (double)(mf_mono_ms() - t) / 1000.0;
    PGresult *res = PQexec(c, "SELECT count(*) FROM analytics_alert_state"
                              " WHERE type = 'neighborhood_correlation' AND raised");
    long raised = PQresultStatus(res) == PGRES_TUPLES_OK ? strtol(PQgetvalue(res, 0, 0), NULL, 10)
                                                         : -1;
    PQclear(res);
    agg_daily_destroy(d);

    printf("meters %ld: peaks of one day %.3f s, billing days of one day %.3f s,"
           " quality of 192 hours %.3f s, correlation round %.3f s (%ld raised),"
           " total %.3f s\n",
           meters, peaks, billing, quality, corr, raised, peaks + billing + quality + corr);
    PQfinish(c);
    mf_pgtmp_do(pgt, "destroy");
    return 0;
}
