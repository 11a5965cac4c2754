/*
 * Unit tests for mf_time: RFC 3339 with every offset form, leap days,
 * range limits, epoch ms, formatting and the round trip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <cmocka.h>

#include "mf_time.h"
#include "mf_common.h"

struct ok_case {
    const char *in;
    int64_t ms;
};

static const struct ok_case ok_cases[] = {
    {"1970-01-01T00:00:00Z", 0},
    {"2024-03-15T14:00:00Z", 1710511200000},
    {"2024-03-15T14:00:00.000Z", 1710511200000},
    {"2024-03-15T16:00:00+02:00", 1710511200000},
    {"2024-03-15T08:30:00-05:30", 1710511200000},
    {"2024-03-15T14:00:00+00:00", 1710511200000},
    {"2024-03-15T14:00:00-00:00", 1710511200000},
    {"2024-03-15t14:00:00z", 1710511200000},
    {"2024-03-15 14:00:00Z", 1710511200000},
    {"2024-03-15T14:00:00.5Z", 1710511200500},
    {"2024-03-15T14:00:00.123456789Z", 1710511200123},
    {"2024-03-15T14:00:00.999+23:59", 1710511200999 - (23 * 60 + 59) * 60000LL},
    {"2024-02-29T12:00:00Z", 1709208000000},
    {"2000-02-29T00:00:00Z", 951782400000},
    {"2023-12-31T23:59:59.999Z", 1704067199999},
    {"1970-01-01T01:00:00+01:00", 0},
    {"9999-12-31T23:59:59.999Z", MF_TIME_MAX_MS},
};

static const char *const bad_cases[] = {
    "",
    "2024-03-15",
    "2024-03-15T14:00:00", /* no offset */
    "2024-03-15T14:00Z",   /* no seconds */
    "2024-3-15T14:00:00Z",
    "2024-03-15T14:00:00.Z",    /* empty fraction */
    "2024-03-15T14:00:00+0200", /* offset without colon */
    "2024-03-15T14:00:00+24:00",
    "2024-03-15T14:00:00+02:60",
    "2024-13-01T00:00:00Z",
    "2024-00-01T00:00:00Z",
    "2023-02-29T00:00:00Z", /* not a leap year */
    "1900-02-29T00:00:00Z", /* century, not a leap year */
    "2024-04-31T00:00:00Z",
    "2024-03-15T24:00:00Z",
    "2024-03-15T14:60:00Z",
    "2016-12-31T23:59:60Z", /* leap second */
    "2024-03-15T14:00:00ZZ",
    "2024-03-15T14:00:00Z ",
    "1969-12-31T23:59:59.999Z",  /* before the epoch */
    "1970-01-01T00:30:00+01:00", /* before the epoch through the offset */
    "abcd-ef-ghTij:kl:mnZ",
};

static void test_rfc3339_ok(void **state)
{
    (void)state;
    char err[128];
    for (size_t i = 0; i < MF_ARRAY_LEN(ok_cases); i++) {
        int64_t ms = -1;
        int rc = mf_time_parse_rfc3339(ok_cases[i].in, strlen(ok_cases[i].in), &ms, err,
                                       sizeof err);
        if (rc != MF_OK || ms != ok_cases[i].ms)
            fail_msg("%s: rc %d ms %lld (%s)", ok_cases[i].in, rc, (long long)ms, err);
    }
}

static void test_rfc3339_bad(void **state)
{
    (void)state;
    char err[128];
    for (size_t i = 0; i < MF_ARRAY_LEN(bad_cases); i++) {
        int64_t ms;
        err[0] = '\0';
        if (mf_time_parse_rfc3339(bad_cases[i], strlen(bad_cases[i]), &ms, err, sizeof err) !=
            MF_EDATA)
            fail_msg("accepted '%s'", bad_cases[i]);
        assert_true(strlen(err) > 0);
    }
}

static void test_text_epoch(void **state)
{
    (void)state;
    char err[128];
    int64_t ms;
    assert_int_equal(mf_time_parse_text("1710511200000", 13, &ms, err, sizeof err), MF_OK);
    assert_int_equal(ms, 1710511200000);
    assert_int_equal(mf_time_parse_text("0", 1, &ms, err, sizeof err), MF_OK);
    assert_int_equal(ms, 0);
    assert_int_equal(mf_time_parse_text("9999999999999999", 16, &ms, err, sizeof err), MF_EDATA);
    assert_int_equal(mf_time_parse_text("2024-03-15T14:00:00Z", 20, &ms, err, sizeof err), MF_OK);
    assert_int_equal(ms, 1710511200000);
}

static void test_epoch_number(void **state)
{
    (void)state;
    char err[128];
    int64_t ms;
    assert_int_equal(mf_time_from_epoch_ms(1710511200000.0, &ms, err, sizeof err), MF_OK);
    assert_int_equal(ms, 1710511200000);
    assert_int_equal(mf_time_from_epoch_ms(-1, &ms, err, sizeof err), MF_EDATA);
    assert_int_equal(mf_time_from_epoch_ms(1.5, &ms, err, sizeof err), MF_EDATA);
    assert_int_equal(mf_time_from_epoch_ms(1e300, &ms, err, sizeof err), MF_EDATA);
}

static void test_format_roundtrip(void **state)
{
    (void)state;
    char out[MF_TIME_STRLEN], err[128];
    mf_time_format(1710511200000, out);
    assert_string_equal(out, "2024-03-15T14:00:00.000Z");
    mf_time_format(0, out);
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
    mf_time_format(1709251199999, out);
    assert_string_equal(out, "2024-02-29T23:59:59.999Z");
    mf_time_format(MF_TIME_MAX_MS, out);
    assert_string_equal(out, "9999-12-31T23:59:59.999Z");
    /* Every 7919 s over 60 years (leap days, month ends) survives a round trip. */
    for (int64_t t = 0; t < 60LL * 365 * 86400 * 1000; t += 7919LL * 1000 + 7) {
        int64_t back;
        mf_time_format(t, out);
        assert_int_equal(mf_time_parse_rfc3339(out, strlen(out), &back, err, sizeof err), MF_OK);
        assert_int_equal(back, t);
    }
}

static void test_civil(void **state)
{
    (void)state;
    int64_t y;
    unsigned m, d;
    assert_int_equal(mf_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(mf_days_from_civil(2000, 3, 1), 11017);
    mf_civil_from_days(11016, &y, &m, &d);
    assert_int_equal(y, 2000);
    assert_int_equal(m, 2);
    assert_int_equal(d, 29);
}

/* Zone names: the tz database's are known, anything else is refused (never UTC). */
static void test_tz_known(void **state)
{
    (void)state;
    assert_true(mf_tz_known("UTC"));
    if (access("/usr/share/zoneinfo/Asia/Kolkata", R_OK) != 0 && !getenv("TZDIR")) {
        printf("# tz database absent: only UTC checked\n");
        return;
    }
    static const char *const good[] = {"Europe/London", "America/New_York", "Australia/Lord_Howe",
                                       "Asia/Kolkata",  "Asia/Kathmandu",   "Etc/GMT+5"};
    static const char *const bad[] = {"",
                                      "Mars/Olympus",
                                      "Europe/",
                                      "/etc/passwd",
                                      "../zoneinfo/UTC",
                                      "Europe//London",
                                      "Europe/London ",
                                      "Europe"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_true(mf_tz_known(good[i]));
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_false(mf_tz_known(bad[i]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3339_ok),       cmocka_unit_test(test_rfc3339_bad),
        cmocka_unit_test(test_text_epoch),       cmocka_unit_test(test_epoch_number),
        cmocka_unit_test(test_format_roundtrip), cmocka_unit_test(test_civil),
        cmocka_unit_test(test_tz_known),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
