/*
 * Unit tests for window assignment (agg_window) and the record parser's
 * time checks (agg_record): boundaries to the millisecond, a day and a
 * month turning, DST dates (nothing happens in UTC, whatever TZ says),
 * offsets normalized to UTC, and times before 1970 refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mf_time.h"
#include "agg_record.h"
#include "agg_window.h"
#include "mf_common.h"

static int64_t ts(const char *s)
{
    int64_t ms;
    char why[128];
    assert_int_equal(mf_time_parse_rfc3339(s, strlen(s), &ms, why, sizeof why), MF_OK);
    return ms;
}

/* A timestamp, its 1-minute window start and its hour window start. */
struct win_case {
    const char *at, *minute, *hour;
};

static const struct win_case cases[] = {
    {"2024-03-15T23:59:59.999Z", "2024-03-15T23:59:00Z", "2024-03-15T23:00:00Z"},
    {"2024-03-16T00:00:00.000Z", "2024-03-16T00:00:00Z", "2024-03-16T00:00:00Z"},
    {"2024-03-15T14:00:59.999Z", "2024-03-15T14:00:00Z", "2024-03-15T14:00:00Z"},
    {"2024-03-15T14:01:00.000Z", "2024-03-15T14:01:00Z", "2024-03-15T14:00:00Z"},
    {"2024-03-15T14:59:59.999Z", "2024-03-15T14:59:00Z", "2024-03-15T14:00:00Z"},
    {"2023-12-31T23:59:59.999Z", "2023-12-31T23:59:00Z", "2023-12-31T23:00:00Z"},
    {"2024-02-29T23:30:30.000Z", "2024-02-29T23:30:00Z", "2024-02-29T23:00:00Z"},
    /* Europe's spring-forward and fall-back instants: ordinary hours in UTC. */
    {"2024-03-31T01:00:00.000Z", "2024-03-31T01:00:00Z", "2024-03-31T01:00:00Z"},
    {"2024-03-31T01:59:59.999+00:00", "2024-03-31T01:59:00Z", "2024-03-31T01:00:00Z"},
    {"2024-10-27T02:30:00+01:00", "2024-10-27T01:30:00Z", "2024-10-27T01:00:00Z"},
    {"2024-10-27T02:30:00+02:00", "2024-10-27T00:30:00Z", "2024-10-27T00:00:00Z"},
    /* US fall-back and an offset with minutes. */
    {"2024-11-03T01:30:00-04:00", "2024-11-03T05:30:00Z", "2024-11-03T05:00:00Z"},
    {"2024-11-03T01:30:00-05:00", "2024-11-03T06:30:00Z", "2024-11-03T06:00:00Z"},
    {"2024-03-15T19:45:10+05:45", "2024-03-15T14:00:00Z", "2024-03-15T14:00:00Z"},
    {"1970-01-01T00:00:00.000Z", "1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"},
};

static void test_boundaries(void **state)
{
    (void)state;
    for (size_t i = 0; i < MF_ARRAY_LEN(cases); i++) {
        int64_t t = ts(cases[i].at);
        assert_int_equal(agg_window_start(AGG_W1M, t), ts(cases[i].minute));
        assert_int_equal(agg_window_start(AGG_W1H, t), ts(cases[i].hour));
    }
}

static void test_dst_has_no_effect(void **state)
{
    (void)state;
    /* Windows are integer arithmetic in UTC: the process time zone is never read. */
    static const char *const zones[] = {"UTC", "Europe/London", "America/New_York",
                                        "Asia/Kathmandu"};
    for (size_t z = 0; z < MF_ARRAY_LEN(zones); z++) {
        setenv("TZ", zones[z], 1);
        test_boundaries(state);
        /* Every hour across both 2024 European DST days has 60 one-minute windows. */
        for (int64_t t = ts("2024-03-30T22:00:00Z"); t < ts("2024-04-01T02:00:00Z"); t += 3600000) {
            assert_int_equal(agg_window_start(AGG_W1H, t + 3599999), t);
            assert_int_equal(agg_window_start(AGG_W1M, t + 59 * 60000), t + 59 * 60000);
        }
    }
    unsetenv("TZ");
}

static void test_keys(void **state)
{
    (void)state;
    int64_t t = ts("2024-03-15T23:59:59.999Z");
    for (int w = 0; w < AGG_NWIDTHS; w++) {
        int64_t s = agg_window_start((enum agg_width)w, t);
        int64_t k = agg_window_key((enum agg_width)w, s);
        assert_int_equal(agg_key_width(k), w);
        assert_int_equal(agg_key_start(k), s);
        assert_int_equal(agg_key_end(k), s + agg_widths[w].ms);
        assert_true(t < agg_key_end(k)); /* the end is exclusive */
    }
    assert_int_equal(agg_key_end(agg_window_key(AGG_W1M, ts("2024-03-15T23:59:00Z"))),
                     ts("2024-03-16T00:00:00Z"));
}

static int parse(const char *tsjson, struct agg_record *r, char *why, size_t n)
{
    char buf[512];
    snprintf(buf, sizeof buf,
             "{\"meter_id\":\"MTR-1\",\"ts\":%s,\"value_kw\":1.25,\"energy_kwh\":0.02,"
             "\"quality\":95,\"tier\":\"premium\",\"interpolated\":false,"
             "\"src\":{\"p\":3,\"o\":12345,\"i\":0}}",
             tsjson);
    return agg_record_parse(buf, strlen(buf), r, why, n);
}

static void test_negative_epochs_rejected(void **state)
{
    (void)state;
    struct agg_record r;
    char why[256];
    static const char *const bad[] = {"-1",
                                      "-60000",
                                      "\"1969-12-31T23:59:59.999Z\"",
                                      "\"1970-01-01T00:30:00+01:00\"",
                                      "\"-0001-01-01T00:00:00Z\"",
                                      "1.5",
                                      "\"2024-03-15T14:00:60Z\"",
                                      "null"};
    for (size_t i = 0; i < MF_ARRAY_LEN(bad); i++) {
        assert_int_equal(parse(bad[i], &r, why, sizeof why), MF_EDATA);
        assert_non_null(strstr(why, "'ts'"));
    }
    assert_int_equal(parse("0", &r, why, sizeof why), MF_OK);
    assert_int_equal(r.ts_ms, 0);
    assert_int_equal(parse("1710511200000", &r, why, sizeof why), MF_OK);
    assert_int_equal(r.ts_ms, ts("2024-03-15T14:00:00Z"));
    assert_int_equal(parse("\"2024-03-15T16:00:00+02:00\"", &r, why, sizeof why), MF_OK);
    assert_int_equal(r.ts_ms, ts("2024-03-15T14:00:00Z"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_boundaries),
        cmocka_unit_test(test_dst_has_no_effect),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_negative_epochs_rejected),
    };
    return cmocka_run_group_tests_name("agg_window", tests, NULL, NULL);
}
