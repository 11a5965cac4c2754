/*
 * Every statement of the analytics API is served by an index: on a filled
 * throw-away PostgreSQL (tests/data/api/fixture.sql), each one is prepared
 * as the API prepares it and EXPLAINed with the arguments of a typical
 * request, under both generic and custom plans; a sequential scan of a
 * rollup partition, the meter status or registry, region_load_1h or the
 * other sources' readings, observations and telemetry fails the test (the
 * small registries of feeders, stations and vehicles may be scanned: a
 * page or two, where the planner rightly prefers it). A statement without arguments here fails too,
 * so a new endpoint cannot skip the check. Skipped (77) without PostgreSQL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "api_query.h"
#include "mf_harness.h"
#include "mf_pg.h"
#include "mf_common.h"

static struct mf_pgtmp *pg;

/* Arguments of a typical request per statement (SQL literals, our own text). */
static const struct {
    const char *name, *args;
} typical[] = {
    {"api_ping", NULL},
    {"api_status", "('MTR-00007')"},
    {"api_meter_known", "('MTR-00007')"},
    {"api_rollups_1m", "('MTR-00007', now() - interval '1 hour', now(), 1001)"},
    {"api_rollups_1h", "('MTR-00007', now() - interval '1 day', now(), 1001)"},
    {"api_rollups_1d", "('MTR-00007', now() - interval '30 days', now(), 1001)"},
    {"api_fleet_1h", "(now() - interval '1 day', now(), 1001)"},
    {"api_region_1h", "(now() - interval '1 day', now(), 1001, 'region-1')"},
    {"api_fleet_1d", "(now() - interval '3 days', now(), 1001)"},
    {"api_region_1d", "(now() - interval '3 days', now(), 1001, 'region-1')"},
    {"api_fleet_quality", "(now() - interval '1 day', now(), 1001)"},
    {"api_region_quality", "(now() - interval '1 day', now(), 1001, 'region-1')"},
    {"api_peaks", "(now() - interval '7 days', now(), 'region-1')"},
    {"api_alerts", "('MTR-00002', now() - interval '30 days', now(), 1001, '', 7)"},
    {"api_feeder_balance", "('FDR-2', now() - interval '1 day', now(), 1001)"},
    {"api_feeder_known", "('FDR-2')"},
    {"api_weather", "('region-1', now() - interval '1 day', now(), 1001)"},
    {"api_region_known", "('region-1')"},
    {"api_vehicle", "('EV-3', now() - interval '1 day', now())"},
};

static const char *const scanned[] = {"Seq Scan on rollup_",
                                      "Seq Scan on region_load_1h",
                                      "Seq Scan on peak_hours",
                                      "Seq Scan on fleet_load_1h",
                                      "Seq Scan on alerts",
                                      "Seq Scan on meter_current_status",
                                      "Seq Scan on meters",
                                      "Seq Scan on grid_feed_readings",
                                      "Seq Scan on weather_observations",
                                      "Seq Scan on vehicle_telemetry_history"};

static int setup(void **state)
{
    (void)state;
    pg = mf_pgtmp_start();
    mf_pgtmp_load(
        pg, "tests/data/api/fixture.sql",
        "-v meters=5000 -v regions=6 -v meters_1h=300 -v days_1h=45 -v meters_1m=40 -v days_1m=2 "
        "-v feeders=100 -v vehicles=300");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    mf_pgtmp_do(pg, "destroy");
    return 0;
}

static void test_plans(void **state)
{
    (void)state;
    char err[512];
    PGconn *c = mf_pg_connect(pg->dsn, "test_api_explain", err, sizeof err);
    assert_non_null(c);
    int checked = 0;
    for (size_t i = 0; i < api_nstmts; i++) {
        const char *args = NULL;
        int known = 0;
        for (size_t j = 0; j < MF_ARRAY_LEN(typical); j++) {
            if (strcmp(typical[j].name, api_stmts[i].name) == 0) {
                args = typical[j].args;
                known = 1;
            }
        }
        if (!known)
            fail_msg("%s has no typical arguments in this test: add them", api_stmts[i].name);
        PGresult *r = PQprepare(c, api_stmts[i].name, api_stmts[i].sql, 0, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            fail_msg("%s: %s", api_stmts[i].name, PQresultErrorMessage(r));
        PQclear(r);
        if (!args)
            continue;
        static const char *const modes[] = {"force_generic_plan", "force_custom_plan"};
        for (size_t m = 0; m < MF_ARRAY_LEN(modes); m++) {
            char sql[512];
            snprintf(sql, sizeof sql, "SET plan_cache_mode = %s", modes[m]);
            PQclear(PQexec(c, sql));
            snprintf(sql, sizeof sql, "EXPLAIN EXECUTE %s%s", api_stmts[i].name, args);
            r = PQexec(c, sql);
            if (PQresultStatus(r) != PGRES_TUPLES_OK)
                fail_msg("%s: %s", sql, PQresultErrorMessage(r));
            for (int row = 0; row < PQntuples(r); row++) {
                const char *line = PQgetvalue(r, row, 0);
                for (size_t s = 0; s < MF_ARRAY_LEN(scanned); s++) {
                    if (strstr(line, scanned[s])) {
                        for (int k = 0; k < PQntuples(r); k++)
                            fprintf(stderr, "  %s\n", PQgetvalue(r, k, 0));
                        fail_msg("%s (%s) scans a table: %s", api_stmts[i].name, modes[m], line);
                    }
                }
            }
            PQclear(r);
            checked++;
        }
    }
    PQfinish(c);
    printf("explain: %d plans of %zu statements use indexes\n", checked, api_nstmts - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_plans)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
