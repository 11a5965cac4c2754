/*
 * Unit tests for the analytics API's parameters and routes: widths, times
 * (offsets, epoch ms, an unencoded '+'), ranges (defaults aligned to the
 * window, from >= to, spans over the limit), limits, ids, cursors (round
 * trip; every altered byte, another query's scope and another key
 * refused) and the routes with their normalized cache keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api_params.h"
#include "api_route.h"
#include "mf_common.h"

#define H ((int64_t)3600000)
#define D (24 * H)
/* 2024-03-15T14:30:00.000Z */
#define NOW ((int64_t)1710513000000)

static void test_width(void **state)
{
    (void)state;
    struct api_bad bad;
    enum api_width w;
    unsigned both = 1u << API_W_1M | 1u << API_W_1H;
    assert_int_equal(api_parse_width(NULL, both, API_W_1H, &w, &bad), MF_OK);
    assert_int_equal(w, API_W_1H);
    assert_int_equal(api_parse_width("1m", both, API_W_1H, &w, &bad), MF_OK);
    assert_int_equal(w, API_W_1M);
    assert_int_equal(api_parse_width("1d", both, API_W_1H, &w, &bad), MF_EDATA);
    assert_string_equal(bad.param, "width");
    assert_non_null(strstr(bad.why, "1m, 1h"));
    assert_int_equal(api_parse_width("1H", both, API_W_1H, &w, &bad), MF_EDATA);
    assert_int_equal(api_parse_width("", both, API_W_1H, &w, &bad), MF_EDATA);
    assert_int_equal(api_width_ms(API_W_1D), D);
}

static void test_time(void **state)
{
    (void)state;
    struct api_bad bad;
    int64_t ms;
    assert_int_equal(api_parse_time("from", "2024-03-15T14:30:00Z", &ms, &bad), MF_OK);
    assert_int_equal(ms, NOW);
    assert_int_equal(api_parse_time("from", "2024-03-15T16:30:00+02:00", &ms, &bad), MF_OK);
    assert_int_equal(ms, NOW);
    /* the '+' of a query string arrives as a space */
    assert_int_equal(api_parse_time("from", "2024-03-15T16:30:00 02:00", &ms, &bad), MF_OK);
    assert_int_equal(ms, NOW);
    assert_int_equal(api_parse_time("to", "1710513000000", &ms, &bad), MF_OK);
    assert_int_equal(ms, NOW);
    static const char *const badtimes[] = {
        "",   "yesterday",           "2024-13-01T00:00:00Z",         "2024-03-15",
        "-5", "2024-03-15T14:30:00", "2024-03-15T14:30:00Z trailing"};
    for (size_t i = 0; i < MF_ARRAY_LEN(badtimes); i++) {
        if (api_parse_time("to", badtimes[i], &ms, &bad) != MF_EDATA)
            fail_msg("'%s' accepted", badtimes[i]);
        assert_string_equal(bad.param, "to");
    }
    char longs[200];
    memset(longs, '1', sizeof longs - 1);
    longs[sizeof longs - 1] = '\0';
    assert_int_equal(api_parse_time("to", longs, &ms, &bad), MF_EDATA);
}

static void test_range(void **state)
{
    (void)state;
    struct api_bad bad;
    int64_t f, t;
    /* defaults: to = the end of the window holding now, from = to - span */
    assert_int_equal(api_parse_range(NULL, NULL, NOW, H, D, 92 * D, &f, &t, &bad), MF_OK);
    assert_int_equal(t, NOW - 30 * 60000 + H);
    assert_int_equal(f, t - D);
    /* from aligned down, to up: every window that overlaps is in */
    assert_int_equal(api_parse_range("2024-03-15T10:20:00Z", "2024-03-15T12:00:00.001Z", NOW, H, D,
                                     92 * D, &f, &t, &bad),
                     MF_OK);
    assert_int_equal(t - f, 3 * H);
    /* from after to, equal */
    assert_int_equal(api_parse_range("2024-03-16T00:00:00Z", "2024-03-15T00:00:00Z", NOW, H, D,
                                     92 * D, &f, &t, &bad),
                     MF_EDATA);
    assert_string_equal(bad.param, "from");
    assert_int_equal(api_parse_range("2024-03-15T00:00:00Z", "2024-03-15T00:00:00Z", NOW, H, D,
                                     92 * D, &f, &t, &bad),
                     MF_EDATA);
    /* 366 days of 1h rows: over the limit */
    assert_int_equal(api_parse_range("2023-03-15T00:00:00Z", "2024-03-15T00:00:00Z", NOW, H, D,
                                     92 * D, &f, &t, &bad),
                     MF_EDATA);
    assert_string_equal(bad.param, "from");
    assert_non_null(strstr(bad.why, "92 days"));
    /* a bad `to` is named as such */
    assert_int_equal(api_parse_range(NULL, "soon", NOW, H, D, 92 * D, &f, &t, &bad), MF_EDATA);
    assert_string_equal(bad.param, "to");
}

static void test_limit_ids(void **state)
{
    (void)state;
    struct api_bad bad;
    int l;
    assert_int_equal(api_parse_limit(NULL, &l, &bad), MF_OK);
    assert_int_equal(l, API_LIMIT_DEFAULT);
    assert_int_equal(api_parse_limit("10000", &l, &bad), MF_OK);
    assert_int_equal(l, 10000);
    static const char *const badl[] = {"0", "10001", "-1", "1x", "", "+5", " 5", "99999999999999"};
    for (size_t i = 0; i < MF_ARRAY_LEN(badl); i++) {
        if (api_parse_limit(badl[i], &l, &bad) != MF_EDATA)
            fail_msg("limit '%s' accepted", badl[i]);
        assert_string_equal(bad.param, "limit");
    }
    assert_int_equal(api_check_id("id", "MTR-78910", &bad), MF_OK);
    assert_int_equal(api_check_id("id", "a.b_c:d-E", &bad), MF_OK);
    static const char *const badid[] = {"", "MTR 1", "MTR/1", "MTR'1", "MTR;1", "é"};
    for (size_t i = 0; i < MF_ARRAY_LEN(badid); i++) {
        if (api_check_id("id", badid[i], &bad) != MF_EDATA)
            fail_msg("id '%s' accepted", badid[i]);
        assert_string_equal(bad.param, "id");
    }
    char id65[66];
    memset(id65, 'a', 65);
    id65[65] = '\0';
    assert_int_equal(api_check_id("id", id65, &bad), MF_EDATA);
    id65[64] = '\0';
    assert_int_equal(api_check_id("id", id65, &bad), MF_OK);
    assert_int_equal(api_check_region("North East", &bad), MF_OK);
    assert_int_equal(api_check_region("x'; DROP TABLE meters; --", &bad), MF_EDATA);
}

static void test_cursor(void **state)
{
    (void)state;
    struct api_bad bad;
    char cur[API_CURSOR_MAX + 1];
    int64_t pos;
    const char *scope = "rollups|MTR-1|1h|0|86400000|1000";
    api_cursor_encode("k", 1, scope, NOW, cur);
    assert_true(strlen(cur) <= API_CURSOR_MAX);
    assert_int_equal(api_cursor_decode("k", 1, scope, cur, &pos, &bad), MF_OK);
    assert_int_equal(pos, NOW);
    /* every byte changed to every other character of the alphabet is refused */
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (size_t i = 0; i < strlen(cur); i++) {
        for (size_t a = 0; a < sizeof alpha - 1; a++) {
            char t[API_CURSOR_MAX + 1];
            memcpy(t, cur, sizeof t);
            if (t[i] == alpha[a])
                continue;
            t[i] = alpha[a];
            if (api_cursor_decode("k", 1, scope, t, &pos, &bad) != MF_EDATA)
                fail_msg("cursor altered at %zu to '%c' accepted", i, alpha[a]);
        }
    }
    assert_string_equal(bad.param, "cursor");
    /* another query's cursor, another key, truncated, padded, garbage */
    assert_int_equal(api_cursor_decode("k", 1, "rollups|MTR-2|1h|0|86400000|1000", cur, &pos, &bad),
                     MF_EDATA);
    assert_int_equal(api_cursor_decode("other", 5, scope, cur, &pos, &bad), MF_EDATA);
    cur[strlen(cur) - 1] = '\0';
    assert_int_equal(api_cursor_decode("k", 1, scope, cur, &pos, &bad), MF_EDATA);
    assert_int_equal(api_cursor_decode("k", 1, scope, "", &pos, &bad), MF_EDATA);
    assert_int_equal(api_cursor_decode("k", 1, scope, "%%%%%%%%%%%%%%%%%%%%%%%%%%%%", &pos, &bad),
                     MF_EDATA);
    /* an empty key still makes a checksum that catches edits */
    api_cursor_encode("", 0, scope, 5, cur);
    assert_int_equal(api_cursor_decode("", 0, scope, cur, &pos, &bad), MF_OK);
    assert_int_equal(pos, 5);
}

/* Query parameters from a NULL-terminated list of "name", "value" pairs. */
struct kv {
    const char *const *pairs;
};

static const char *args_get(void *ctx, const char *name)
{
    const char *const *kv = ((const struct kv *)ctx)->pairs;
    for (; kv[0]; kv += 2)
        if (strcmp(kv[0], name) == 0)
            return kv[1];
    return NULL;
}

static enum api_parse parse(const char *path, const char *const *kv, struct api_req *q,
                            struct api_bad *bad)
{
    struct kv ctx = {kv};
    return api_route_parse(path, args_get, &ctx, NOW, "k", 1, q, bad);
}

static void test_routes(void **state)
{
    (void)state;
    struct api_req q, q2;
    struct api_bad bad;
    const char *const none[] = {NULL};
    assert_int_equal(parse("/v1/meters/MTR-1/status", none, &q, &bad), API_PARSE_OK);
    assert_int_equal(q.route, API_R_STATUS);
    assert_string_equal(q.id, "MTR-1");
    assert_int_equal(parse("/v1/meters/MTR-1/nope", none, &q, &bad), API_PARSE_NOT_FOUND);
    assert_int_equal(parse("/v1/meters/MTR-1", none, &q, &bad), API_PARSE_NOT_FOUND);
    assert_int_equal(parse("/v2/fleet/load", none, &q, &bad), API_PARSE_NOT_FOUND);
    assert_int_equal(parse("/v1/meters/MTR%1/status", none, &q, &bad), API_PARSE_BAD);
    assert_string_equal(bad.param, "id");
    char longpath[200];
    snprintf(longpath, sizeof longpath, "/v1/meters/%0100d/status", 7);
    assert_int_equal(parse(longpath, none, &q, &bad), API_PARSE_BAD);
    assert_string_equal(bad.param, "id");

    /* the same question spelled two ways shares a cache key */
    const char *const a1[] = {"from", "2024-03-15T10:00:00Z", "to", "2024-03-15T12:00:00Z", NULL};
    const char *const a2[] = {"to",   "2024-03-15T13:00:00+01:00",     "width", "1h",
                              "from", "2024-03-15T11:59:59.999+01:00", "limit", "1000",
                              NULL};
    assert_int_equal(parse("/v1/meters/MTR-1/rollups", a1, &q, &bad), API_PARSE_OK);
    assert_int_equal(parse("/v1/meters/MTR-1/rollups", a2, &q2, &bad), API_PARSE_OK);
    assert_string_equal(q.key, q2.key);
    assert_int_equal(q.to - q.from, 2 * H);
    /* billing days: 30 by default, aligned to hours (a local midnight may be at :30 UTC) */
    const char *const d1[] = {"width", "1d", NULL};
    assert_int_equal(parse("/v1/meters/MTR-1/rollups", d1, &q, &bad), API_PARSE_OK);
    assert_int_equal(q.width, API_W_1D);
    assert_int_equal(q.to - q.from, 30 * D);
    assert_int_equal(q.to % H, 0);
    const char *const d2[] = {
        "width", "1d", "from", "2024-03-01T00:00:00+05:30", "to", "2024-03-03T00:00:00+05:30",
        NULL};
    assert_int_equal(parse("/v1/meters/MTR-1/rollups", d2, &q, &bad), API_PARSE_OK);
    assert_int_equal(q.to - q.from, 2 * D + H); /* 18:00Z down, 19:00Z up */
    const char *const d3[] = {"width", "1d", "from", "2023-01-01T00:00:00Z", NULL};
    assert_int_equal(parse("/v1/meters/MTR-1/rollups", d3, &q, &bad), API_PARSE_BAD);
    assert_string_equal(bad.param, "from");
    const char *const m8[] = {"width", "1m", "from", "2024-03-01T00:00:00Z", NULL};
    assert_int_equal(parse("/v1/meters/MTR-1/rollups", m8, &q, &bad), API_PARSE_BAD);
    assert_string_equal(bad.param, "from");

    /* a cursor continues its own query only, inside its range */
    char cur[API_CURSOR_MAX + 1];
    assert_int_equal(parse("/v1/meters/MTR-1/rollups", a1, &q, &bad), API_PARSE_OK);
    api_cursor_encode("k", 1, q.scope, q.from + H, cur);
    const char *const c1[] = {
        "from", "2024-03-15T10:00:00Z", "to", "2024-03-15T12:00:00Z", "cursor", cur, NULL};
    assert_int_equal(parse("/v1/meters/MTR-1/rollups", c1, &q2, &bad), API_PARSE_OK);
    assert_int_equal(q2.after, q.from + H);
    assert_string_not_equal(q2.key, q.key);
    assert_int_equal(parse("/v1/meters/MTR-2/rollups", c1, &q2, &bad), API_PARSE_BAD);
    assert_string_equal(bad.param, "cursor");
    api_cursor_encode("k", 1, q.scope, q.to, cur); /* signed but outside */
    assert_int_equal(parse("/v1/meters/MTR-1/rollups", c1, &q2, &bad), API_PARSE_BAD);

    const char *const f1[] = {"width", "1d", "region", "north", NULL};
    assert_int_equal(parse("/v1/fleet/load", f1, &q, &bad), API_PARSE_OK);
    assert_int_equal(q.route, API_R_FLEET_LOAD);
    assert_string_equal(q.region, "north");
    assert_int_equal(q.to % D, 0);
    assert_int_equal(q.to - q.from, 30 * D);
    const char *const f2[] = {"width", "1m", NULL};
    assert_int_equal(parse("/v1/fleet/load", f2, &q, &bad), API_PARSE_BAD);
    assert_string_equal(bad.param, "width");
    const char *const f3[] = {"region", "a/b", NULL};
    assert_int_equal(parse("/v1/fleet/load", f3, &q, &bad), API_PARSE_BAD);
    assert_string_equal(bad.param, "region");
    const char *const f4[] = {"limit", "0", NULL};
    assert_int_equal(parse("/v1/fleet/load", f4, &q, &bad), API_PARSE_BAD);
    assert_string_equal(bad.param, "limit");

    /* quality: hours only, a week by default, its own cache key */
    const char *const q1[] = {"region", "north", NULL};
    assert_int_equal(parse("/v1/fleet/quality", q1, &q, &bad), API_PARSE_OK);
    assert_int_equal(q.route, API_R_QUALITY);
    assert_string_equal(q.region, "north");
    assert_int_equal(q.width, API_W_1H);
    assert_int_equal(q.to - q.from, 7 * D);
    assert_int_equal(parse("/v1/fleet/load", q1, &q2, &bad), API_PARSE_OK);
    assert_string_not_equal(q.key, q2.key);
    assert_int_equal(parse("/v1/fleet/quality", f1, &q, &bad), API_PARSE_BAD);
    assert_string_equal(bad.param, "width");
    assert_int_equal(parse("/v1/fleet/quality", f3, &q, &bad), API_PARSE_BAD);
    assert_string_equal(bad.param, "region");

    /* peaks: the fleet is region '*', a week by default, a year and a day at most */
    assert_int_equal(parse("/v1/fleet/peaks", f2, &q, &bad), API_PARSE_OK);
    assert_int_equal(q.route, API_R_PEAKS);
    assert_string_equal(q.region, "*");
    assert_int_equal(q.to - q.from, 7 * D);
    assert_int_equal(parse("/v1/fleet/peaks", q1, &q2, &bad), API_PARSE_OK);
    assert_string_equal(q2.region, "north");
    assert_string_not_equal(q.key, q2.key);
    assert_int_equal(parse("/v1/fleet/peaks", f3, &q, &bad), API_PARSE_BAD);
    assert_string_equal(bad.param, "region");
    const char *const p1[] = {"from", "2024-01-01T00:00:00Z", "to", "2025-01-03T00:00:00Z", NULL};
    assert_int_equal(parse("/v1/fleet/peaks", p1, &q, &bad), API_PARSE_BAD);

    /* alerts: a meter's, by state, 30 days by default; the cursor is an id, not a time */
    assert_int_equal(parse("/v1/meters/MTR-1/alerts", f2, &q, &bad), API_PARSE_OK);
    assert_int_equal(q.route, API_R_ALERTS);
    assert_string_equal(q.id, "MTR-1");
    assert_string_equal(q.state, "");
    assert_int_equal(q.to - q.from, 30 * D);
    const char *const s1[] = {"state", "raised", NULL};
    assert_int_equal(parse("/v1/meters/MTR-1/alerts", s1, &q, &bad), API_PARSE_OK);
    assert_string_equal(q.state, "raised");
    api_cursor_encode("k", 1, q.scope, 17, cur);
    const char *const s2[] = {"state", "raised", "cursor", cur, NULL};
    assert_int_equal(parse("/v1/meters/MTR-1/alerts", s2, &q2, &bad), API_PARSE_OK);
    assert_int_equal(q2.after, 17);
    const char *const s3[] = {"state", "cleared", "cursor", cur, NULL}; /* another query's */
    assert_int_equal(parse("/v1/meters/MTR-1/alerts", s3, &q2, &bad), API_PARSE_BAD);
    assert_string_equal(bad.param, "cursor");
    const char *const s4[] = {"state", "open", NULL};
    assert_int_equal(parse("/v1/meters/MTR-1/alerts", s4, &q, &bad), API_PARSE_BAD);
    assert_string_equal(bad.param, "state");
}

static void test_source_routes(void **state)
{
    (void)state;
    struct api_req q;
    struct api_bad bad;
    const char *const none[] = {NULL};
    assert_int_equal(parse("/v1/feeders/FDR-1/balance", none, &q, &bad), API_PARSE_OK);
    assert_int_equal(q.route, API_R_FEEDER);
    assert_string_equal(q.id, "FDR-1");
    assert_int_equal(q.to - q.from, D);
    assert_false(api_route_per_key(q.route));
    assert_int_equal(parse("/v1/feeders/FDR-1", none, &q, &bad), API_PARSE_NOT_FOUND);
    assert_int_equal(parse("/v1/feeders/a/b/balance", none, &q, &bad), API_PARSE_NOT_FOUND);
    assert_int_equal(parse("/v1/feeders/F;1/balance", none, &q, &bad), API_PARSE_BAD);
    assert_string_equal(bad.param, "id");
    assert_int_equal(parse("/v1/weather/North East", none, &q, &bad), API_PARSE_OK);
    assert_int_equal(q.route, API_R_WEATHER);
    assert_string_equal(q.region, "North East");
    assert_int_equal(parse("/v1/weather/", none, &q, &bad), API_PARSE_BAD);
    assert_string_equal(bad.param, "region");
    /* a vehicle: the 24 hours up to the end of the hour holding `to` */
    const char *const t[] = {"to", "2024-03-15T14:30:00Z", NULL};
    assert_int_equal(parse("/v1/analytics/performance/EV-7", t, &q, &bad), API_PARSE_OK);
    assert_int_equal(q.route, API_R_VEHICLE);
    assert_string_equal(q.id, "EV-7");
    assert_int_equal(q.to, NOW + 30 * 60000);
    assert_int_equal(q.to - q.from, D);
    assert_true(api_route_per_key(q.route));
    char longid[100];
    snprintf(longid, sizeof longid, "/v1/analytics/performance/%070d", 1);
    assert_int_equal(parse(longid, none, &q, &bad), API_PARSE_BAD);
    assert_string_equal(bad.param, "vehicleId");
    const char *const tb[] = {"to", "soon", NULL};
    assert_int_equal(parse("/v1/analytics/performance/EV-7", tb, &q, &bad), API_PARSE_BAD);
    assert_string_equal(bad.param, "to");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_width),         cmocka_unit_test(test_time),
        cmocka_unit_test(test_range),         cmocka_unit_test(test_limit_ids),
        cmocka_unit_test(test_cursor),        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_source_routes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
