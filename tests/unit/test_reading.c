/*
 * Unit tests for mf_reading: the structural rules of DESIGN §3.1 on single
 * JSON readings, the units, UTF-8, and serialization.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mf_reading.h"
#include "mf_common.h"

struct case_ {
    const char *json;
    const char *error; /* substring of the expected error; NULL = valid */
};

static const struct case_ cases[] = {
    {"{\"meter_id\":\"MTR-78910\",\"ts\":\"2024-03-15T14:00:00Z\",\"value\":1250,\"unit\":\"W\","
     "\"interval_s\":60}",
     NULL},
    {"{\"meter_id\":\"a\",\"ts\":0,\"value\":0}", NULL},
    {"{\"meter_id\":\"A.b_c:d-9\",\"ts\":\"2024-02-29T00:00:00+05:00\",\"value\":-3.5}", NULL},
    /* meter_id */
    {"{\"ts\":0,\"value\":1}", "missing field 'meter_id'"},
    {"{\"meter_id\":null,\"ts\":0,\"value\":1}", "missing field 'meter_id'"},
    {"{\"meter_id\":12,\"ts\":0,\"value\":1}", "meter_id is not a string"},
    {"{\"meter_id\":\"\",\"ts\":0,\"value\":1}", "meter_id is empty"},
    {"{\"meter_id\":\"M\\u00e9ter\",\"ts\":0,\"value\":1}", "outside [A-Za-z0-9._:-]"},
    {"{\"meter_id\":\"M\xc3\xa9ter\",\"ts\":0,\"value\":1}", "outside [A-Za-z0-9._:-]"},
    {"{\"meter_id\":\"a b\",\"ts\":0,\"value\":1}", "outside"},
    {"{\"meter_id\":\"a/b\",\"ts\":0,\"value\":1}", "outside"},
    {"{\"meter_id\":\"0123456789012345678901234567890123456789012345678901234567890123\","
     "\"ts\":0,\"value\":1}",
     NULL}, /* exactly 64 */
    {"{\"meter_id\":\"01234567890123456789012345678901234567890123456789012345678901234\","
     "\"ts\":0,\"value\":1}",
     "longer than 64"},
    /* ts */
    {"{\"meter_id\":\"m\",\"value\":1}", "missing field 'ts'"},
    {"{\"meter_id\":\"m\",\"ts\":\"yesterday\",\"value\":1}", "not RFC 3339"},
    {"{\"meter_id\":\"m\",\"ts\":true,\"value\":1}", "neither an RFC 3339"},
    {"{\"meter_id\":\"m\",\"ts\":-1,\"value\":1}", "before 1970"},
    {"{\"meter_id\":\"m\",\"ts\":1.5,\"value\":1}", "whole number"},
    {"{\"meter_id\":\"m\",\"ts\":\"2023-02-29T00:00:00Z\",\"value\":1}", "does not exist"},
    /* value */
    {"{\"meter_id\":\"m\",\"ts\":0}", "missing field 'value'"},
    {"{\"meter_id\":\"m\",\"ts\":0,\"value\":\"12\"}", "value is not a number"},
    {"{\"meter_id\":\"m\",\"ts\":0,\"value\":1e999}", "not finite"},
    {"{\"meter_id\":\"m\",\"ts\":0,\"value\":-1e999}", "not finite"},
    {"{\"meter_id\":\"m\",\"ts\":0,\"value\":1.7976931348623157e308}", NULL},
    {"{\"meter_id\":\"m\",\"ts\":0,\"value\":5e-324}", NULL},
    {"{\"meter_id\":\"m\",\"ts\":0,\"value\":-0}", NULL},
    /* unit and interval */
    {"{\"meter_id\":\"m\",\"ts\":0,\"value\":1,\"unit\":5}", "unit is not a string"},
    {"{\"meter_id\":\"m\",\"ts\":0,\"value\":1,\"unit\":\"furlongs per fortnight\"}",
     "unit longer than 16"},
    {"{\"meter_id\":\"m\",\"ts\":0,\"value\":1,\"unit\":null}", NULL},
    {"{\"meter_id\":\"m\",\"ts\":0,\"value\":1,\"interval_s\":0}", "out of range"},
    {"{\"meter_id\":\"m\",\"ts\":0,\"value\":1,\"interval_s\":86401}", "out of range"},
    {"{\"meter_id\":\"m\",\"ts\":0,\"value\":1,\"interval_s\":86400}", NULL},
    {"{\"meter_id\":\"m\",\"ts\":0,\"value\":1,\"interval_s\":1}", NULL},
    {"{\"meter_id\":\"m\",\"ts\":0,\"value\":1,\"interval_s\":60.5}", "whole number"},
    {"{\"meter_id\":\"m\",\"ts\":0,\"value\":1,\"interval_s\":\"60\"}", "whole number"},
    /* duplicates and shape */
    {"{\"meter_id\":\"m\",\"ts\":0,\"value\":1,\"value\":2}", "duplicate field 'value'"},
    {"{\"meter_id\":\"m\",\"ts\":0,\"value\":1,\"x\":1,\"x\":2}", "duplicate field 'x'"},
    {"[1]", "not a JSON object"},
};

static void test_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < MF_ARRAY_LEN(cases); i++) {
        char err[160] = "";
        struct mf_reading r;
        cJSON *root;
        int rc = mf_reading_parse(cases[i].json, strlen(cases[i].json), &root, &r, err, sizeof err);
        if (!cases[i].error && rc != MF_OK)
            fail_msg("case %zu: %s: unexpected error '%s'", i, cases[i].json, err);
        if (cases[i].error && (rc != MF_EDATA || !strstr(err, cases[i].error)))
            fail_msg("case %zu: %s: want '%s', got rc %d '%s'", i, cases[i].json, cases[i].error,
                     rc, err);
        cJSON_Delete(root);
    }
}

static void test_not_json(void **state)
{
    (void)state;
    static const char *const bad[] = {"",
                                      "{",
                                      "NaN",
                                      "{\"meter_id\":\"m\",\"ts\":0,\"value\":NaN}",
                                      "{\"meter_id\":\"m\",\"ts\":0,\"value\":Infinity}",
                                      "{'meter_id':'m'}"};
    for (size_t i = 0; i < MF_ARRAY_LEN(bad); i++) {
        char err[160];
        struct mf_reading r;
        cJSON *root;
        assert_int_equal(mf_reading_parse(bad[i], strlen(bad[i]), &root, &r, err, sizeof err),
                         MF_EDATA);
        assert_null(root);
    }
}

static void test_units(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        enum mf_unit u;
    } units[] = {
        {"W", MF_UNIT_W},      {"w", MF_UNIT_W},   {"watts", MF_UNIT_W},   {"WATTS", MF_UNIT_W},
        {"watt", MF_UNIT_W},   {"kW", MF_UNIT_KW}, {"KW", MF_UNIT_KW},     {"kw", MF_UNIT_KW},
        {"MW", MF_UNIT_MW},    {"Wh", MF_UNIT_WH}, {"kWh", MF_UNIT_KWH},   {"KWH", MF_UNIT_KWH},
        {"MWh", MF_UNIT_MWH},  {"", MF_UNIT_NONE}, {"kVA", MF_UNIT_OTHER}, {"kW ", MF_UNIT_OTHER},
        {"GW", MF_UNIT_OTHER},
    };
    for (size_t i = 0; i < MF_ARRAY_LEN(units); i++)
        if (mf_unit_parse(units[i].s, strlen(units[i].s)) != units[i].u)
            fail_msg("unit '%s'", units[i].s);
    assert_string_equal(mf_unit_name(MF_UNIT_KWH), "kWh");
    /* mW (milliwatt) and MW (megawatt) fold together case-insensitively: DESIGN asks for it. */
    assert_int_equal(mf_unit_parse("mw", 2), MF_UNIT_MW);
}

static void test_utf8(void **state)
{
    (void)state;
    assert_true(mf_utf8_valid("plain", 5));
    assert_true(mf_utf8_valid("\xc3\xa9", 2));         /* é */
    assert_true(mf_utf8_valid("\xe2\x82\xac", 3));     /* € */
    assert_true(mf_utf8_valid("\xf0\x9f\x98\x80", 4)); /* U+1F600 */
    assert_false(mf_utf8_valid("\xc3", 1));            /* truncated */
    assert_false(mf_utf8_valid("\xe2\x82", 2));
    assert_false(mf_utf8_valid("\xc0\xaf", 2));         /* overlong '/' */
    assert_false(mf_utf8_valid("\xe0\x80\xaf", 3));     /* overlong */
    assert_false(mf_utf8_valid("\xed\xa0\x80", 3));     /* surrogate U+D800 */
    assert_false(mf_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(mf_utf8_valid("\xff", 1));
    assert_false(mf_utf8_valid("a\x80z", 3)); /* lone continuation */
    /* Past the eight-bytes-at-a-time ASCII path: a bad byte, and a good sequence, at every
     * position of a longer run, and a sequence cut off at its end. */
    char run[40];
    for (size_t at = 0; at + 3 <= sizeof run; at++) {
        memset(run, 'a', sizeof run);
        run[at] = (char)0x80;
        assert_false(mf_utf8_valid(run, sizeof run));
        run[at] = (char)0xe2; /* € */
        run[at + 1] = (char)0x82;
        run[at + 2] = (char)0xac;
        assert_true(mf_utf8_valid(run, sizeof run));
        assert_false(mf_utf8_valid(run, at + 2));
        assert_true(mf_utf8_valid(run, at));
    }
    char err[64];
    struct mf_reading r;
    cJSON *root;
    assert_int_equal(mf_reading_parse("{\"meter_id\":\"\xff\",\"ts\":0,\"value\":1}", 33, &root, &r,
                                      err, sizeof err),
                     MF_EDATA);
    assert_string_equal(err, "not valid UTF-8");
}

static void test_to_json(void **state)
{
    (void)state;
    const char *in =
        "{\"meter_id\":\"MTR-1\",\"ts\":\"2024-03-15T16:00:00.25+02:00\",\"value\":0.1,"
        "\"unit\":\"kwh\",\"interval_s\":900,\"site\":{\"a\":[1,\"x\"]},\"n\":null}";
    char err[160];
    struct mf_reading r;
    cJSON *root;
    struct mf_buf b = MF_BUF_INIT;
    assert_int_equal(mf_reading_parse(in, strlen(in), &root, &r, err, sizeof err), MF_OK);
    assert_int_equal(r.unit, MF_UNIT_KWH);
    assert_int_equal(r.interval_s, 900);
    assert_int_equal(mf_reading_to_json(&r, &b), MF_OK);
    assert_string_equal(b.data, "{\"meter_id\":\"MTR-1\",\"ts\":\"2024-03-15T14:00:00.250Z\","
                                "\"value\":0.1,\"unit\":\"kwh\",\"interval_s\":900,"
                                "\"site\":{\"a\":[1,\"x\"]},\"n\":null}");
    /* The output parses back to the same reading. */
    struct mf_reading r2;
    cJSON *root2;
    assert_int_equal(mf_reading_parse(b.data, b.len, &root2, &r2, err, sizeof err), MF_OK);
    assert_int_equal(r2.ts_ms, r.ts_ms);
    assert_true(r2.value == r.value);
    cJSON_Delete(root2);
    cJSON_Delete(root);
    mf_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases), cmocka_unit_test(test_not_json), cmocka_unit_test(test_units),
        cmocka_unit_test(test_utf8),  cmocka_unit_test(test_to_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
