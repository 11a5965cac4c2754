/*
 * Integration tests for analytics-api: the real binary over a throw-away
 * PostgreSQL filled by tests/data/api/fixture.sql, driven over HTTP. Every
 * number it answers is recomputed in SQL; lists are walked page by page
 * through their cursors; bad input of every kind gets its 4xx naming the
 * parameter; tokens give 401/403; the cache answers one key with one
 * query however many ask at once, and 304 to a matching If-None-Match;
 * a flood of connections and a stopped PostgreSQL get bounded answers
 * (503 with Retry-After), and the API recovers when PostgreSQL returns.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <curl/curl.h>

#include "mf_harness.h"
#include "mf_pg.h"
#include "mf_time.h"
#include "mf_common.h"

static struct mf_pgtmp *pg;
static struct mf_proc *api;
static unsigned port;
static char tokens_path[64] = "/tmp/mf-it-api-tokens.XXXXXX";

static const char *const tok_all[] = {"Authorization: Bearer tok-all", NULL};
static const char *const tok_some[] = {"Authorization: Bearer tok-some", NULL};
static const char *const tok_write[] = {"Authorization: Bearer tok-write", NULL};
static const char *const tok_none[] = {"Authorization: Bearer nobody", NULL};

/* GET path with headers; the caller releases r. */
static long get(const char *path, const char *const *headers, struct mf_http_resp *r)
{
    char url[2048];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    if (mf_http("GET", url, headers, NULL, 0, r) != 0)
        r->code = -1;
    return r->code;
}

/* GET path with the all-meters token; parsed JSON (caller frees) and its status. */
static cJSON *get_json(const char *path, long *code)
{
    struct mf_http_resp r;
    *code = get(path, tok_all, &r);
    cJSON *j = cJSON_Parse(r.body);
    if (!j)
        fail_msg("%s: %ld, not JSON: %s", path, *code, r.body);
    mf_http_resp_release(&r);
    return j;
}

/* Asks path (all-meters token) until it is answered 200, within timeout_ms; 1 if it was. */
static int served_within(const char *path, int timeout_ms)
{
    int64_t deadline = mf_mono_ms() + timeout_ms;
    for (;;) {
        struct mf_http_resp r;
        long code = get(path, tok_all, &r);
        mf_http_resp_release(&r);
        if (code == 200)
            return 1;
        if (mf_mono_ms() >= deadline)
            return 0;
        usleep(50 * 1000);
    }
}

static double sql_double(const char *sql)
{
    const char *v = mf_pgtmp_query(pg, sql);
    if (!v)
        fail_msg("query failed: %s", sql);
    return strtod(v, NULL);
}

static struct mf_proc *start_api(void)
{
    static char env[7][512];
    snprintf(env[0], sizeof env[0], "PG_DSN=%s", pg->dsn);
    snprintf(env[1], sizeof env[1], "API_ADDR=127.0.0.1:%u", port);
    snprintf(env[2], sizeof env[2], "API_TOKENS_FILE=%s", tokens_path);
    snprintf(env[3], sizeof env[3], "API_MAX_CONNECTIONS=200");
    snprintf(env[4], sizeof env[4], "API_STATEMENT_TIMEOUT_MS=1000");
    snprintf(env[5], sizeof env[5], "API_RETRY_AFTER_S=7");
    snprintf(env[6], sizeof env[6], "API_IDLE_TIMEOUT_S=2");
    const char *e[] = {env[0], env[1], env[2], env[3], env[4], env[5], env[6], NULL};
    struct mf_proc *p = mf_proc_start("analytics-api", NULL, e);
    if (mf_wait_http_ok(port, "/readyz", 30000) != 0)
        mf_die("analytics-api did not become ready");
    return p;
}

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pg = mf_pgtmp_start();
    mf_pgtmp_load(pg, "tests/data/api/fixture.sql",
                  "-v meters=60 -v regions=3 -v meters_1h=60 -v days_1h=3 -v meters_1m=3 -v "
                  "days_1m=1 -v feeders=3 -v vehicles=5");

    int fd = mkstemp(tokens_path);
    char h1[65], h2[65], h3[65], line[512];
    mf_sha256_hex("tok-all", h1);
    mf_sha256_hex("tok-some", h2);
    mf_sha256_hex("tok-write", h3);
    int n = snprintf(line, sizeof line,
                     "%s all * read\n%s some MTR-0000* read,readings\n%s writer * readings\n", h1,
                     h2, h3);
    if (write(fd, line, (size_t)n) != n)
        mf_die("cannot write the tokens file");
    close(fd);
    port = mf_free_port();
    api = start_api();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int st = mf_proc_stop(api, 30000);
    mf_pgtmp_do(pg, "destroy");
    unlink(tokens_path);
    curl_global_cleanup();
    if (st != 0)
        fail_msg("analytics-api exited %d on SIGTERM", st);
    return 0;
}

static void test_status(void **state)
{
    (void)state;
    long code;
    cJSON *j = get_json("/v1/meters/MTR-00007/status", &code);
    assert_int_equal(code, 200);
    assert_string_equal(cJSON_GetObjectItem(j, "meter_id")->valuestring, "MTR-00007");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "registered")));
    assert_string_equal(cJSON_GetObjectItem(j, "region")->valuestring, "region-1");
    cJSON *last = cJSON_GetObjectItem(j, "last_reading");
    double want = sql_double(
        "SELECT value_kw FROM meter_current_status WHERE meter_id = 'MTR-00007'");
    assert_float_equal(cJSON_GetObjectItem(last, "value_kw")->valuedouble, want, 1e-12);
    const char *ts = cJSON_GetObjectItem(last, "ts")->valuestring;
    assert_int_equal(strlen(ts), 24); /* 2024-03-15T14:00:00.000Z */
    assert_int_equal(ts[23], 'Z');
    cJSON_Delete(j);

    j = get_json("/v1/meters/MTR-99999/status", &code);
    assert_int_equal(code, 404);
    assert_non_null(strstr(cJSON_GetObjectItem(j, "error")->valuestring, "MTR-99999"));
    cJSON_Delete(j);
}

/* Walks every page of path (which has its own '?'), returns the items seen. */
static int walk(const char *path, double *energy, int64_t *first, int64_t *last)
{
    char page[1024];
    snprintf(page, sizeof page, "%s", path);
    int items = 0;
    int64_t prev = -1;
    *energy = 0;
    *first = *last = 0;
    for (int pages = 0; pages < 1000; pages++) {
        long code;
        cJSON *j = get_json(page, &code);
        if (code != 200)
            fail_msg("%s: %ld", page, code);
        cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(j, "items"))
        {
            const char *ws = cJSON_GetObjectItem(it, "window_start")->valuestring;
            int64_t ms;
            char err[64];
            assert_int_equal(mf_time_parse_rfc3339(ws, strlen(ws), &ms, err, sizeof err), MF_OK);
            if (ms <= prev)
                fail_msg("%s: window %s not after the previous one", page, ws);
            if (prev < 0)
                *first = ms;
            prev = *last = ms;
            cJSON *en = cJSON_GetObjectItem(it, "energy_kwh"); /* lists of energy */
            *energy += en ? en->valuedouble : 0;
            items++;
        }
        cJSON *next = cJSON_GetObjectItem(j, "next_cursor");
        if (cJSON_IsNull(next)) {
            cJSON_Delete(j);
            return items;
        }
        snprintf(page, sizeof page, "%s&cursor=%s", path, next->valuestring);
        cJSON_Delete(j);
    }
    fail_msg("%s: more than 1000 pages", path);
    return -1;
}

static void expect_status(const char *path, long want)
{
    struct mf_http_resp r;
    long code = get(path, tok_all, &r);
    if (code != want)
        fail_msg("%s: %ld, want %ld: %s", path, code, want, r.body);
    mf_http_resp_release(&r);
}

static void test_rollups(void **state)
{
    (void)state;
    /* 1h: 80 hours and the open one, 7 rows a page */
    double e;
    int64_t first, last;
    char path[256], t0[MF_TIME_STRLEN], t1[MF_TIME_STRLEN];
    int64_t now = mf_now_ms();
    mf_time_format(now - 80 * 3600000LL, t0);
    mf_time_format(now + 3600000LL, t1);
    snprintf(path, sizeof path, "/v1/meters/MTR-00003/rollups?width=1h&from=%s&to=%s&limit=7", t0,
             t1);
    int n = walk(path, &e, &first, &last);
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM rollup_1h WHERE meter_id = 'MTR-00003' AND window_start >= "
             "date_trunc('hour', '%s'::timestamptz) AND window_start < '%s'",
             t0, t1);
    assert_int_equal(n, (int)sql_double(sql));
    assert_true(n > 70);
    snprintf(sql, sizeof sql,
             "SELECT sum(energy_kwh) FROM rollup_1h WHERE meter_id = 'MTR-00003' AND "
             "window_start >= date_trunc('hour', '%s'::timestamptz) AND window_start < '%s'",
             t0, t1);
    assert_float_equal(e, sql_double(sql), 1e-9);

    /* 1m: the default range (the last hour up to the open minute) */
    n = walk("/v1/meters/MTR-00002/rollups?width=1m&limit=1000", &e, &first, &last);
    assert_int_equal(n, (int)sql_double("SELECT count(*) FROM rollup_1m WHERE meter_id = "
                                        "'MTR-00002' AND window_start > now() - interval '1 hour'"
                                        " - interval '1 minute'") -
                            (int)sql_double("SELECT count(*) FROM rollup_1m WHERE meter_id = "
                                            "'MTR-00002' AND window_start > now() - interval '1 "
                                            "hour' - interval '1 minute' AND window_start < "
                                            "date_trunc('minute', now()) - interval '59 minutes'"));
    /* a registered meter without rows: 200 and an empty list, not 404 */
    long code;
    cJSON *j = get_json("/v1/meters/MTR-00050/rollups?width=1m", &code);
    assert_int_equal(code, 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "items")), 0);
    cJSON_Delete(j);
    j = get_json("/v1/meters/NOPE-1/rollups", &code);
    assert_int_equal(code, 404);
    cJSON_Delete(j);
}

/*
 * Hour by hour, the fleet's and one region's quality (040's quality_sum)
 * equal the readings' average score recomputed from rollup_1h and the
 * registry (the fixture's scores vary by meter and hour).
 */
static void test_fleet_quality(void **state)
{
    (void)state;
    char t0[MF_TIME_STRLEN], t1[MF_TIME_STRLEN];
    int64_t now = mf_now_ms();
    mf_time_format(now - 30 * 3600000LL, t0);
    mf_time_format(now, t1);
    for (int region = 0; region < 2; region++) {
        char path[256];
        snprintf(path, sizeof path, "/v1/fleet/quality?from=%s&to=%s%s", t0, t1,
                 region ? "&region=region-2" : "");
        long code;
        cJSON *j = get_json(path, &code);
        assert_int_equal(code, 200);
        cJSON *items = cJSON_GetObjectItem(j, "items"), *it;
        assert_int_equal(cJSON_GetArraySize(items), 31);
        double lo = 100, hi = 0;
        cJSON_ArrayForEach(it, items)
        {
            char sql[512];
            snprintf(sql, sizeof sql,
                     "SELECT sum(r.quality_sum) / sum(r.count) FROM rollup_1h r JOIN meters m "
                     "USING (meter_id) WHERE r.window_start = '%s' AND %s",
                     cJSON_GetObjectItem(it, "window_start")->valuestring,
                     region ? "m.region = 'region-2'" : "true");
            double q = cJSON_GetObjectItem(it, "quality_avg")->valuedouble;
            assert_float_equal(q, sql_double(sql), 1e-9);
            lo = q < lo ? q : lo;
            hi = q > hi ? q : hi;
        }
        assert_true(hi > lo); /* the comparison can tell hours apart */
        cJSON_Delete(j);
    }
    expect_status("/v1/fleet/quality?width=1d", 400);
}

/*
 * The peak hours of the local days in the range (peak_hours, computed by
 * the fixture as the aggregator would): the fleet's ('*') and a region's,
 * row for row with the table, the holiday's day excluded with its reason.
 */
static void test_fleet_peaks(void **state)
{
    (void)state;
    char t0[MF_TIME_STRLEN], t1[MF_TIME_STRLEN];
    int64_t now = mf_now_ms();
    mf_time_format(now - 5 * 86400000LL, t0);
    mf_time_format(now, t1);
    for (int region = 0; region < 2; region++) {
        char path[256], sql[512];
        snprintf(path, sizeof path, "/v1/fleet/peaks?from=%s&to=%s%s", t0, t1,
                 region ? "&region=region-1" : "");
        long code;
        cJSON *j = get_json(path, &code);
        assert_int_equal(code, 200);
        assert_string_equal(cJSON_GetObjectItem(j, "region")->valuestring,
                            region ? "region-1" : "*");
        cJSON *items = cJSON_GetObjectItem(j, "items"), *it;
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM peak_hours WHERE region = '%s' AND day >= "
                 "meterflow_fleet_day(date_trunc('hour', '%s'::timestamptz)) AND day <= "
                 "meterflow_fleet_day('%s'::timestamptz)",
                 region ? "region-1" : "*", t0, t1);
        int want = (int)sql_double(sql);
        assert_true(want >= 6); /* the fixture's closed days, 3 hours each */
        assert_int_equal(cJSON_GetArraySize(items), want);
        int excluded = 0;
        cJSON_ArrayForEach(it, items)
        {
            const char *day = cJSON_GetObjectItem(it, "day")->valuestring;
            int rank = cJSON_GetObjectItem(it, "rank")->valueint;
            snprintf(sql, sizeof sql,
                     "SELECT energy_kwh FROM peak_hours WHERE region = '%s' AND day = '%s' AND "
                     "rank = %d AND hour_start = '%s'",
                     region ? "region-1" : "*", day, rank,
                     cJSON_GetObjectItem(it, "hour_start")->valuestring);
            assert_float_equal(cJSON_GetObjectItem(it, "energy_kwh")->valuedouble, sql_double(sql),
                               1e-9);
            if (cJSON_IsTrue(cJSON_GetObjectItem(it, "excluded"))) {
                excluded++;
                assert_non_null(strstr(cJSON_GetObjectItem(it, "exclusion")->valuestring,
                                       "holiday: Fixture day"));
            }
        }
        assert_int_equal(excluded, 3); /* the holiday's three hours */
        cJSON_Delete(j);
    }
    expect_status("/v1/fleet/peaks?region=a%2Fb", 400);
    expect_status("/v1/fleet/peaks?from=2024-01-01T00:00:00Z&to=2025-06-01T00:00:00Z", 400);
}

/*
 * A meter's alerts (051's store): the default 30 days, filtered by state,
 * walked one a page through cursors (two share their since: neither is
 * lost or repeated), in (since, id) order as the table has them.
 */
static void test_alerts(void **state)
{
    (void)state;
    const char *want_ids = mf_pgtmp_query(
        pg, "SELECT string_agg(id::text, ',' ORDER BY since, id) FROM alerts WHERE meter_id = "
            "'MTR-00002' AND since >= now() - interval '30 days'");
    assert_non_null(want_ids);
    char want[256];
    snprintf(want, sizeof want, "%s", want_ids);
    char got[256] = "", page[512] = "/v1/meters/MTR-00002/alerts?limit=1";
    int pages = 0;
    for (;;) {
        long code;
        cJSON *j = get_json(page, &code);
        assert_int_equal(code, 200);
        cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(j, "items"))
        {
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%d", got[0] ? "," : "",
                     cJSON_GetObjectItem(it, "id")->valueint);
            assert_true(cJSON_IsObject(cJSON_GetObjectItem(it, "detail")));
            assert_string_equal(
                cJSON_GetObjectItem(cJSON_GetObjectItem(it, "detail"), "note")->valuestring,
                "fixture \"quoted\"");
        }
        pages++;
        cJSON *next = cJSON_GetObjectItem(j, "next_cursor");
        if (cJSON_IsNull(next)) {
            cJSON_Delete(j);
            break;
        }
        snprintf(page, sizeof page, "/v1/meters/MTR-00002/alerts?limit=1&cursor=%s",
                 next->valuestring);
        cJSON_Delete(j);
    }
    assert_string_equal(got, want);
    assert_int_equal(pages, 3); /* spike, gap, flatline; the 40-day-old one out of range */

    long code;
    cJSON *j = get_json("/v1/meters/MTR-00002/alerts?state=cleared", &code);
    assert_int_equal(code, 200);
    cJSON *items = cJSON_GetObjectItem(j, "items");
    assert_int_equal(cJSON_GetArraySize(items), 1);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(items, 0), "type")->valuestring,
                        "flatline");
    assert_false(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(items, 0), "cleared_at")));
    cJSON_Delete(j);
    j = get_json("/v1/meters/MTR-00002/alerts?state=raised&from=2000-01-01T00:00:00Z&to=2000-06-"
                 "01T00:00:00Z",
                 &code);
    assert_int_equal(code, 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "items")), 0);
    cJSON_Delete(j);
    expect_status("/v1/meters/MTR-00040/alerts", 200); /* a meter without alerts */
    expect_status("/v1/meters/NOPE-1/alerts", 404);
    expect_status("/v1/meters/MTR-00002/alerts?state=open", 400);
    expect_status("/v1/meters/MTR-00002/alerts?from=2020-01-01T00:00:00Z&to=2022-01-01T00:00:00Z",
                  400);
}

/*
 * Billing days (041's rollup_1d_local) of a meter in Asia/Kolkata: each local
 * day from its midnight (18:30 UTC) to the next, walked a day a page, the
 * energy the view's.
 */
static void test_billing_days(void **state)
{
    (void)state;
    assert_non_null(mf_pgtmp_query(
        pg, "UPDATE meters SET tz = 'Asia/Kolkata' WHERE meter_id = 'MTR-00006' RETURNING 1"));
    const int64_t H = 3600000;
    int64_t t1 = mf_now_ms() / H * H + H, t0 = t1 - 3 * 24 * H;
    char f[MF_TIME_STRLEN], t[MF_TIME_STRLEN], path[256], sql[512];
    mf_time_format(t0, f);
    mf_time_format(t1, t);
    snprintf(path, sizeof path, "/v1/meters/MTR-00006/rollups?width=1d&from=%s&to=%s&limit=1", f,
             t);
    double e;
    int64_t first, last;
    int n = walk(path, &e, &first, &last);
    snprintf(sql, sizeof sql,
             "SELECT count(*) || ' ' || sum(energy_kwh) FROM rollup_1d_local WHERE meter_id = "
             "'MTR-00006' AND day::timestamp AT TIME ZONE tz >= '%s' AND day::timestamp AT TIME "
             "ZONE tz < '%s'",
             f, t);
    const char *want = mf_pgtmp_query(pg, sql);
    assert_non_null(want);
    assert_int_equal(n, (int)strtol(want, NULL, 10));
    assert_true(n >= 3);
    assert_float_equal(e, strtod(strchr(want, ' ') + 1, NULL), 1e-9);
    assert_int_equal((first + 5 * H + H / 2) % (24 * H), 0); /* a Kolkata midnight */
    long code;
    cJSON *j = get_json(path, &code);
    cJSON *it = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "items"), 0);
    assert_string_equal(cJSON_GetObjectItem(it, "tz")->valuestring, "Asia/Kolkata");
    assert_float_equal(cJSON_GetObjectItem(it, "hours")->valuedouble, 24, 0);
    assert_true(cJSON_IsBool(cJSON_GetObjectItem(it, "exact")));
    cJSON_Delete(j);
}

/*
 * The open hour without a stored row (012: computed from the minutes): a
 * list that reaches it has it, as the minutes sum, not closed; one that ends
 * before the watermark's hour skips the minutes and has every closed hour.
 */
static void test_open_hour(void **state)
{
    (void)state;
    assert_non_null(mf_pgtmp_query(
        pg, "WITH d AS (DELETE FROM rollup_1h WHERE meter_id = 'MTR-00002' AND NOT closed "
            "RETURNING 1) SELECT count(*) FROM d"));
    long code;
    cJSON *j = get_json("/v1/meters/MTR-00002/rollups?width=1h&limit=999", &code);
    assert_int_equal(code, 200);
    cJSON *items = cJSON_GetObjectItem(j, "items");
    int n = cJSON_GetArraySize(items);
    assert_true(n >= 24);
    cJSON *last = cJSON_GetArrayItem(items, n - 1);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(last, "closed")));
    assert_int_equal(
        cJSON_GetObjectItem(last, "count")->valueint,
        (int)sql_double("SELECT sum(count) FROM rollup_1m WHERE meter_id = 'MTR-00002' "
                        "AND window_start >= date_trunc('hour', now())"));
    cJSON_Delete(j);
    char t0[MF_TIME_STRLEN], t1[MF_TIME_STRLEN], path[256];
    int64_t hour = mf_now_ms() / 3600000 * 3600000;
    mf_time_format(hour - 26 * 3600000LL, t0);
    mf_time_format(hour - 2 * 3600000LL, t1);
    snprintf(path, sizeof path, "/v1/meters/MTR-00002/rollups?width=1h&from=%s&to=%s", t0, t1);
    j = get_json(path, &code);
    assert_int_equal(code, 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "items")), 24);
    cJSON_Delete(j);
}

static void test_fleet_load(void **state)
{
    (void)state;
    char path[256], t0[MF_TIME_STRLEN], t1[MF_TIME_STRLEN], sql[512];
    int64_t now = mf_now_ms();
    mf_time_format(now - 30 * 3600000LL, t0);
    mf_time_format(now, t1);
    snprintf(path, sizeof path, "/v1/fleet/load?from=%s&to=%s&limit=5", t0, t1);
    double e;
    int64_t first, last;
    int n = walk(path, &e, &first, &last);
    assert_int_equal(n, 31);
    snprintf(sql, sizeof sql,
             "SELECT sum(energy_kwh) FROM rollup_1h WHERE window_start >= date_trunc('hour', "
             "'%s'::timestamptz) AND window_start < '%s'",
             t0, t1);
    assert_float_equal(e, sql_double(sql), 1e-6);
    /* one region: its meters only */
    snprintf(path, sizeof path, "/v1/fleet/load?region=region-2&from=%s&to=%s", t0, t1);
    n = walk(path, &e, &first, &last);
    assert_int_equal(n, 31);
    snprintf(sql, sizeof sql,
             "SELECT sum(r.energy_kwh) FROM rollup_1h r JOIN meters m USING (meter_id) WHERE "
             "m.region = 'region-2' AND window_start >= date_trunc('hour', '%s'::timestamptz) "
             "AND window_start < '%s'",
             t0, t1);
    assert_float_equal(e, sql_double(sql), 1e-6);
    /* days: the same energy summed by UTC day */
    n = walk("/v1/fleet/load?width=1d&from=2000-01-01T00:00:00Z&to=2000-06-01T00:00:00Z", &e,
             &first, &last);
    assert_int_equal(n, 0);
    mf_time_format(now - 2 * 86400000LL, t0);
    snprintf(path, sizeof path, "/v1/fleet/load?width=1d&from=%s", t0);
    n = walk(path, &e, &first, &last);
    assert_int_equal(n, 3);
    assert_int_equal(first % 86400000, 0);
    snprintf(sql, sizeof sql,
             "SELECT sum(energy_kwh) FROM rollup_1h WHERE window_start >= date_trunc('day', "
             "'%s'::timestamptz)",
             t0);
    assert_float_equal(e, sql_double(sql), 1e-6);
}

/* The other sources: each answer equals its DESIGN §11 view, recomputed in SQL. */
static void test_sources(void **state)
{
    (void)state;
    char path[256], t0[MF_TIME_STRLEN], t1[MF_TIME_STRLEN], sql[512];
    int64_t now = mf_now_ms();
    mf_time_format(now - 20 * 3600000LL, t0);
    mf_time_format(now - 2 * 3600000LL, t1);
    /* feeder balance = feeder_balance_1h, hour by hour */
    snprintf(path, sizeof path, "/v1/feeders/FDR-2/balance?from=%s&to=%s&limit=4", t0, t1);
    double e;
    int64_t first, last;
    int n = walk(path, &e, &first, &last);
    /* every hour that overlaps [t0, t1) */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM feeder_balance_1h WHERE feeder_id = 'FDR-2' AND window_start "
             ">= date_trunc('hour', '%s'::timestamptz) AND window_start < '%s'",
             t0, t1);
    assert_int_equal(n, (int)sql_double(sql));
    assert_true(n >= 18);
    long code;
    cJSON *j = get_json(path, &code);
    cJSON *it = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "items"), 0);
    char ws[MF_TIME_STRLEN];
    mf_time_format(first, ws);
    snprintf(sql, sizeof sql,
             "SELECT feeder_kwh || ' ' || meters_kwh || ' ' || meters_reporting || ' ' || "
             "meters_registered FROM feeder_balance_1h WHERE feeder_id = 'FDR-2' AND "
             "window_start = '%s'",
             ws);
    const char *v = mf_pgtmp_query(pg, sql);
    char want[256], got[256];
    snprintf(want, sizeof want, "%s", v ? v : "");
    want[strcspn(want, "\n")] = '\0';
    snprintf(got, sizeof got, "%g %g %d %d", cJSON_GetObjectItem(it, "feeder_kwh")->valuedouble,
             cJSON_GetObjectItem(it, "meters_kwh")->valuedouble,
             cJSON_GetObjectItem(it, "meters_reporting")->valueint,
             cJSON_GetObjectItem(it, "meters_registered")->valueint);
    char wantg[256];
    double a, b;
    int c, d;
    assert_int_equal(sscanf(want, "%lf %lf %d %d", &a, &b, &c, &d), 4); /* NOLINT(cert-err34-c) */
    snprintf(wantg, sizeof wantg, "%g %g %d %d", a, b, c, d);
    assert_string_equal(got, wantg);
    assert_true(c > 0);
    cJSON_Delete(j);
    expect_status("/v1/feeders/FDR-99/balance", 404);

    /* weather = weather_hourly */
    snprintf(path, sizeof path, "/v1/weather/region-1?from=%s&to=%s", t0, t1);
    j = get_json(path, &code);
    assert_int_equal(code, 200);
    int hours = cJSON_GetArraySize(cJSON_GetObjectItem(j, "items"));
    assert_true(hours >= 18);
    double sum = 0;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(j, "items"))
        sum += cJSON_GetObjectItem(it, "temp_c_avg")->valuedouble;
    cJSON_Delete(j);
    snprintf(sql, sizeof sql,
             "SELECT sum(temp_c_avg) FROM weather_hourly WHERE region = 'region-1' AND "
             "hour_start >= date_trunc('hour', '%s'::timestamptz) AND hour_start < '%s'",
             t0, t1);
    assert_float_equal(sum, sql_double(sql), 1e-9);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM weather_hourly WHERE region = 'region-1' AND "
             "hour_start >= date_trunc('hour', '%s'::timestamptz) AND hour_start < '%s'",
             t0, t1);
    assert_int_equal(hours, (int)sql_double(sql));
    expect_status("/v1/weather/atlantis", 404);

    /* vehicle performance: the last 24 hours of EV-3 and of its charger */
    j = get_json("/v1/analytics/performance/EV-3", &code);
    assert_int_equal(code, 200);
    const char *from = cJSON_GetObjectItem(j, "from")->valuestring;
    const char *to = cJSON_GetObjectItem(j, "to")->valuestring;
    snprintf(sql, sizeof sql,
             "SELECT sum(kwh_delivered_dc) FROM vehicle_telemetry_history WHERE vehicle_id = "
             "'EV-3' AND ts >= '%s' AND ts < '%s'",
             from, to);
    double dc = sql_double(sql);
    snprintf(sql, sizeof sql,
             "SELECT sum(energy_kwh) FROM rollup_1h_stats WHERE meter_id = 'MTR-00003' AND "
             "window_start >= '%s' AND window_start < '%s'",
             from, to);
    double ac = sql_double(sql);
    assert_true(dc > 0 && ac > 0);
    assert_float_equal(cJSON_GetObjectItem(j, "dc_kwh")->valuedouble, dc, 1e-9);
    assert_float_equal(cJSON_GetObjectItem(j, "ac_kwh")->valuedouble, ac, 1e-9);
    double eff = cJSON_GetObjectItem(j, "efficiency")->valuedouble;
    assert_float_equal(eff, dc / ac, 1e-9);
    const char *h = cJSON_GetObjectItem(j, "health")->valuestring;
    assert_string_equal(h, eff >= 0.85 ? "healthy" : eff >= 0.75 ? "degraded" : "critical");
    assert_true(cJSON_GetObjectItem(j, "reports")->valueint > 80);
    cJSON_Delete(j);
    expect_status("/v1/analytics/performance/EV-404", 404);
    /* a vehicle whose charger never reported: no AC energy, health unknown */
    assert_non_null(mf_pgtmp_query(pg, "INSERT INTO vehicles (vehicle_id, meter_id) VALUES "
                                       "('EV-NOAC', 'MTR-NONE') ON CONFLICT DO NOTHING"));
    j = get_json("/v1/analytics/performance/EV-NOAC", &code);
    assert_int_equal(code, 200);
    assert_string_equal(cJSON_GetObjectItem(j, "health")->valuestring, "unknown");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "efficiency")));
    cJSON_Delete(j);
}

static void expect_bad(const char *path, long want, const char *param)
{
    struct mf_http_resp r;
    long code = get(path, tok_all, &r);
    if (code != want)
        fail_msg("%s: %ld, want %ld: %s", path, code, want, r.body);
    if (param) {
        cJSON *j = cJSON_Parse(r.body);
        cJSON *p = j ? cJSON_GetObjectItem(j, "parameter") : NULL;
        if (!p || !cJSON_IsString(p) || strcmp(p->valuestring, param) != 0)
            fail_msg("%s: %s, want parameter %s", path, r.body, param);
        cJSON_Delete(j);
    }
    mf_http_resp_release(&r);
}

/* Sends a GET whose query string is `big` bytes on a socket of its own; the status code. */
static int raw_status(size_t big)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        fail_msg("cannot connect");
    char *req = mf_xmalloc(big + 128);
    int n = snprintf(req, big + 128, "GET /v1/fleet/load?region=");
    memset(req + n, 'a', big);
    n += (int)big;
    n += snprintf(req + n, 64, " HTTP/1.1\r\nHost: x\r\n\r\n");
    /* the server answers before the request ends and closes: stop writing then */
    for (int off = 0; off < n;) {
        ssize_t w = send(fd, req + off, (size_t)(n - off), MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (int)w;
    }
    free(req);
    char buf[64] = "";
    ssize_t got = recv(fd, buf, sizeof buf - 1, 0);
    close(fd);
    return got > 12 && strncmp(buf, "HTTP/1.1 ", 9) == 0 ? (int)strtol(buf + 9, NULL, 10) : 0;
}

static void test_bad_input(void **state)
{
    (void)state;
    expect_bad("/v1/fleet/load?from=2024-03-16T00:00:00Z&to=2024-03-15T00:00:00Z", 400, "from");
    expect_bad("/v1/meters/MTR-00001/rollups?from=2023-03-15T00:00:00Z&to=2024-03-15T00:00:00Z",
               400, "from");
    expect_bad("/v1/meters/MTR-00001/rollups?width=5m", 400, "width");
    expect_bad("/v1/meters/MTR-00001/rollups?width=1w", 400, "width");
    expect_bad("/v1/fleet/load?width=1m", 400, "width");
    expect_bad("/v1/fleet/load?from=last-tuesday", 400, "from");
    expect_bad("/v1/fleet/load?to=2024-02-30T00:00:00Z", 400, "to");
    expect_bad("/v1/meters/MTR%27%3B%20DROP%20TABLE%20meters/status", 400, "id");
    expect_bad("/v1/meters/MTR-00001/rollups?limit=10001", 400, "limit");
    expect_bad("/v1/fleet/load?region=%27%20OR%201%3D1", 400, "region");
    expect_bad("/v1/meters/MTR-00001/rollups?cursor=AQAAAaJFAKWAq4Op9QTnxQTz-wsv", 400, "cursor");
    expect_bad("/v1/nothing", 404, NULL);
    expect_bad("/v1/analytics/performance/EV%201", 400, "vehicleId");
    expect_bad("/v1/analytics/performance/EV-1?to=tomorrow", 400, "to");
    expect_bad("/v1/feeders/FDR%3B1/balance", 400, "id");
    expect_bad("/v1/weather/a%2Fb", 404, NULL);
    expect_bad("/v1/weather/region-1?from=2024-01-01T00:00:00Z&to=2025-01-01T00:00:00Z", 400,
               "from");
    /* a cursor of one meter's list is refused for another's; altered, too */
    long code;
    cJSON *j = get_json("/v1/meters/MTR-00001/rollups?limit=2", &code);
    const char *cur = cJSON_GetObjectItem(j, "next_cursor")->valuestring;
    char path[256];
    snprintf(path, sizeof path, "/v1/meters/MTR-00002/rollups?limit=2&cursor=%s", cur);
    expect_bad(path, 400, "cursor");
    snprintf(path, sizeof path, "/v1/meters/MTR-00001/rollups?limit=2&cursor=%s", cur);
    path[strlen(path) - 3] ^= 1;
    expect_bad(path, 400, "cursor");
    cJSON_Delete(j);
    /* the tables are intact after all that */
    assert_int_equal((int)sql_double("SELECT count(*) FROM meters"), 60);

    /* a 1 MB query string: refused at the door (414), the server carries on */
    assert_int_equal(raw_status(1 << 20), 414);
    struct mf_http_resp r;
    /* other methods */
    snprintf(path, sizeof path, "http://127.0.0.1:%u/v1/fleet/load", port);
    assert_int_equal(mf_http("POST", path, tok_all, "x", 1, &r), 0);
    assert_int_equal(r.code, 405);
    mf_http_resp_release(&r);
    assert_int_equal(get("/healthz", NULL, &r), 200);
    mf_http_resp_release(&r);
}

static void test_auth(void **state)
{
    (void)state;
    struct mf_http_resp r;
    assert_int_equal(get("/v1/meters/MTR-00001/status", NULL, &r), 401);
    mf_http_resp_release(&r);
    assert_int_equal(get("/v1/meters/MTR-00001/status", tok_none, &r), 401);
    mf_http_resp_release(&r);
    assert_int_equal(get("/v1/meters/MTR-00001/status", tok_write, &r), 403);
    mf_http_resp_release(&r);
    assert_int_equal(get("/v1/meters/MTR-00001/status", tok_some, &r), 200);
    mf_http_resp_release(&r);
    assert_int_equal(get("/v1/meters/MTR-00011/rollups", tok_some, &r), 403);
    mf_http_resp_release(&r);
    assert_int_equal(get("/v1/fleet/load", tok_some, &r), 403);
    mf_http_resp_release(&r);
    assert_int_equal(get("/v1/fleet/load", tok_all, &r), 200);
    mf_http_resp_release(&r);
    /* a vehicle is matched by its own id; feeders and weather span meters */
    assert_int_equal(get("/v1/analytics/performance/EV-1", tok_some, &r), 403);
    mf_http_resp_release(&r);
    assert_int_equal(get("/v1/feeders/FDR-1/balance", tok_some, &r), 403);
    mf_http_resp_release(&r);
    assert_int_equal(get("/v1/weather/region-1", tok_some, &r), 403);
    mf_http_resp_release(&r);
    /* /metrics and probes need no token (Kubernetes and Prometheus ask) */
    assert_int_equal(get("/metrics", NULL, &r), 200);
    mf_http_resp_release(&r);
}

static double metric(const char *series)
{
    struct mf_http_resp r;
    get("/metrics", NULL, &r);
    const char *p = strstr(r.body, series);
    double v = p ? strtod(p + strlen(series), NULL) : -1;
    mf_http_resp_release(&r);
    return v;
}

static void *ask(void *arg)
{
    struct mf_http_resp *r = arg;
    get("/v1/meters/MTR-00009/rollups?width=1m&limit=50", tok_all, r);
    return NULL;
}

static void test_cache(void **state)
{
    (void)state;
    double miss0 = metric("meterflow_api_cache_total{result=\"miss\"} ");
    double hit0 = metric("meterflow_api_cache_total{result=\"hit\"} ");
    double co0 = metric("meterflow_api_cache_total{result=\"coalesced\"} ");
    enum { N = 24 };
    pthread_t th[N];
    struct mf_http_resp r[N];
    for (int i = 0; i < N; i++)
        pthread_create(&th[i], NULL, ask, &r[i]);
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(r[i].code, 200);
        assert_string_equal(r[i].body, r[0].body);
        assert_string_equal(r[i].etag, r[0].etag);
        assert_string_equal(r[i].cache_control, r[0].cache_control);
    }
    /* one query for the key; everyone else was served from it */
    assert_int_equal(metric("meterflow_api_cache_total{result=\"miss\"} ") - miss0, 1);
    assert_int_equal(metric("meterflow_api_cache_total{result=\"hit\"} ") - hit0 +
                         metric("meterflow_api_cache_total{result=\"coalesced\"} ") - co0,
                     N - 1);
    assert_non_null(strstr(r[0].cache_control, "max-age="));
    int max_age = (int)strtol(r[0].cache_control + 8, NULL, 10);
    assert_in_range(max_age, 1, 30); /* real-time: the open minute is in */

    /* If-None-Match with the ETag: 304, no body; another tag: 200 */
    char inm[128];
    snprintf(inm, sizeof inm, "If-None-Match: \"x\", %s", r[0].etag);
    const char *h[] = {tok_all[0], inm, NULL};
    struct mf_http_resp c;
    assert_int_equal(get("/v1/meters/MTR-00009/rollups?width=1m&limit=50", h, &c), 304);
    assert_string_equal(c.body, "");
    assert_string_equal(c.etag, r[0].etag);
    mf_http_resp_release(&c);
    const char *h2[] = {tok_all[0], "If-None-Match: \"0000000000000000\"", NULL};
    assert_int_equal(get("/v1/meters/MTR-00009/rollups?width=1m&limit=50", h2, &c), 200);
    mf_http_resp_release(&c);
    for (int i = 0; i < N; i++)
        mf_http_resp_release(&r[i]);

    /* closed windows only: the daily TTL */
    assert_int_equal(get("/v1/meters/MTR-00009/rollups?from=2020-01-01T00:00:00Z&to=2020-01-02T00:"
                         "00:00Z",
                         tok_all, &c),
                     200);
    assert_string_equal(c.cache_control, "max-age=3600");
    mf_http_resp_release(&c);
}

static void test_connections(void **state)
{
    (void)state;
    /* more idle connections than API_MAX_CONNECTIONS (200) */
    enum { N = 400 };
    int fds[N];
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < N; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[i] >= 0 && connect(fds[i], (struct sockaddr *)&a, sizeof a) != 0) {
            close(fds[i]);
            fds[i] = -1;
        }
    }
    /* a request now is answered or refused, quickly: never a hang */
    int64_t t0 = mf_mono_ms();
    struct mf_http_resp r;
    get("/v1/fleet/load", tok_all, &r);
    mf_http_resp_release(&r);
    /* bounded by the idle timeout (API_IDLE_TIMEOUT_S=2) that frees the idle ones */
    assert_true(mf_mono_ms() - t0 < 15000);
    for (int i = 0; i < N; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    /* once they are gone, everything is served again */
    assert_true(served_within("/v1/fleet/load", 10000));
    assert_true(mf_proc_alive(api));
}

static void test_pg_down(void **state)
{
    (void)state;
    struct mf_http_resp r;
    /* cached before the outage: still served */
    assert_int_equal(get("/v1/meters/MTR-00005/status", tok_all, &r), 200);
    mf_http_resp_release(&r);
    mf_pgtmp_do(pg, "stop");
    int64_t t0 = mf_mono_ms();
    assert_int_equal(get("/v1/meters/MTR-00006/status", tok_all, &r), 503);
    assert_string_equal(r.retry_after, "7");
    mf_http_resp_release(&r);
    assert_true(mf_mono_ms() - t0 < 3000);
    assert_int_equal(get("/readyz", NULL, &r), 503);
    mf_http_resp_release(&r);
    assert_int_equal(get("/v1/meters/MTR-00005/status", tok_all, &r), 200);
    mf_http_resp_release(&r);
    /* the 503 was not cached: back to 200 once PostgreSQL is */
    mf_pgtmp_do(pg, "restart");
    assert_true(served_within("/v1/meters/MTR-00006/status", 20000));
}

/* A request of test_pg_frozen's wave: its path, answer and time. */
struct frozen_ask {
    char path[64];
    long code;
    char retry_after[32];
    int64_t ms;
};

static void *ask_frozen(void *arg)
{
    struct frozen_ask *a = arg;
    struct mf_http_resp r;
    int64_t t0 = mf_mono_ms();
    a->code = get(a->path, tok_all, &r);
    a->ms = mf_mono_ms() - t0;
    snprintf(a->retry_after, sizeof a->retry_after, "%s", r.retry_after);
    mf_http_resp_release(&r);
    return NULL;
}

/*
 * PostgreSQL frozen (SIGSTOP: the kernel still accepts its TCP connections,
 * nothing answers, as with a server cut off by the network): libpq's
 * blocking calls would wait for ever, so the pool waits for each answer
 * only until the statement timeout plus its slack, and then not at all for
 * a second. Every request is answered 503 with Retry-After within
 * API_STATEMENT_TIMEOUT_MS (1 s here) + 0.5 s + 1 s for a loaded machine:
 * eight at once (more than the pool's connections and libmicrohttpd's
 * threads), then two after them, and /readyz; all served after the thaw.
 */
static void test_pg_frozen(void **state)
{
    (void)state;
    enum { N = 10, AT_ONCE = 8 };
    struct frozen_ask a[N];
    pthread_t th[AT_ONCE];
    memset(a, 0, sizeof a);
    struct mf_http_resp r;
    assert_int_equal(get("/v1/meters/MTR-00009/status", tok_all, &r), 200); /* pooled */
    mf_http_resp_release(&r);
    for (int i = 0; i < N; i++)
        snprintf(a[i].path, sizeof a[i].path, "/v1/meters/MTR-000%02d/status", 20 + i);
    assert_int_equal(mf_pgtmp_do(pg, "freeze"), 0);
    for (int i = 0; i < AT_ONCE; i++)
        pthread_create(&th[i], NULL, ask_frozen, &a[i]);
    for (int i = 0; i < AT_ONCE; i++)
        pthread_join(th[i], NULL);
    for (int i = AT_ONCE; i < N; i++)
        ask_frozen(&a[i]);
    int64_t t0 = mf_mono_ms();
    long code = get("/readyz", NULL, &r);
    mf_http_resp_release(&r);
    int64_t ms = mf_mono_ms() - t0;
    assert_int_equal(mf_pgtmp_do(pg, "thaw"), 0);
    for (int i = 0; i < N; i++)
        if (a[i].code != 503 || strcmp(a[i].retry_after, "7") != 0 || a[i].ms > 2500)
            fail_msg("%s with PostgreSQL frozen: %ld after %lld ms, Retry-After '%s'", a[i].path,
                     a[i].code, (long long)a[i].ms, a[i].retry_after);
    assert_int_equal(code, 503);
    assert_true(ms <= 2500);
    assert_true(served_within("/v1/meters/MTR-00030/status", 20000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status),       cmocka_unit_test(test_rollups),
        cmocka_unit_test(test_fleet_load),   cmocka_unit_test(test_fleet_quality),
        cmocka_unit_test(test_fleet_peaks),  cmocka_unit_test(test_alerts),
        cmocka_unit_test(test_billing_days), cmocka_unit_test(test_open_hour),
        cmocka_unit_test(test_sources),      cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_auth),         cmocka_unit_test(test_cache),
        cmocka_unit_test(test_connections),  cmocka_unit_test(test_pg_down),
        cmocka_unit_test(test_pg_frozen),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
