/*
 * Unit tests for mf_json: the one number writer (exact texts, agreement of
 * its fast paths with the printf path over many values, round trips, the
 * null rule), strings, integers and the extra fields.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mf_json.h"
#include "mf_common.h"

/* The text of v as mf_json writes it, NUL-terminated. */
static const char *fmt(double v, char *out)
{
    size_t n = mf_json_fmt_double(out, v);
    assert_true(n > 0 && n <= MF_JSON_NUM_MAX);
    out[n] = '\0';
    return out;
}

/* The reference: whole values below 2^53 as integers, else the first of %.15g..%.17g that reads
 * back. */
static void reference(double v, char *out, size_t len)
{
    if (v == 0) {
        snprintf(out, len, "0");
        return;
    }
    if (fabs(v) < 9007199254740992.0 && v == (double)(int64_t)v) {
        snprintf(out, len, "%lld", (long long)v);
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, len, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

static void test_number_texts(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *text;
    } cases[] = {
        {0.1, "0.1"},
        {1250, "1250"},
        {-3.5, "-3.5"},
        {0, "0"},
        {-0.0, "0"},
        {33083.0, "33083"},
        {123456.789, "123456.789"},
        {0.30000000000000004, "0.30000000000000004"},
        {1.25, "1.25"},
        {0.0208333, "0.0208333"},
        {1534.123 / 1000, "1.5341230000000001"}, /* not the double nearest 1.534123 */
        {0.000016667, "0.000016667"},            /* a short decimal: plain below 1e-4 too */
        {1e-7, "0.0000001"},
        {1e-9, "0.000000001"},
        {1e-10, "1e-10"},                        /* no short decimal with d <= 9 */
        {1.0 / 60000, "1.6666666666666667e-05"}, /* below 1e-4, not short */
        {999999999.5, "999999999.5"},
        {1e9, "1000000000"},
        {1e9 + 0.5, "1000000000.5"},
        {1e15, "1000000000000000"},
        {9007199254740992.0, "9007199254740992"},
        {1e16, "1e+16"},
        {1.2345678901234567e20, "1.2345678901234567e+20"},
        {-1.7976931348623157e308, "-1.7976931348623157e+308"},
        {5e-324, "4.94065645841247e-324"},
        {NAN, "null"},
        {INFINITY, "null"},
        {-INFINITY, "null"},
    };
    char out[MF_JSON_NUM_MAX + 1];
    for (size_t i = 0; i < MF_ARRAY_LEN(cases); i++) {
        const char *got = fmt(cases[i].v, out);
        if (strcmp(got, cases[i].text) != 0)
            fail_msg("%.17g: got '%s', want '%s'", cases[i].v, got, cases[i].text);
    }
}

/* xorshift64*: the same values every run. */
static uint64_t next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

/* Every value reads back exactly, and agrees with the reference wherever DESIGN's text is it. */
static void check(double v)
{
    char out[MF_JSON_NUM_MAX + 1], want[64];
    fmt(v, out);
    if (strtod(out, NULL) != v)
        fail_msg("%.17g: '%s' does not read back", v, out);
    double a = fabs(v);
    int plain_short = 0;
    for (int d = 0; d <= 9 && a < 1e-4 && a != 0; d++) {
        double r = nearbyint(a * pow(10, d));
        if (r / pow(10, d) == a)
            plain_short = 1;
    }
    if (plain_short) {
        if (strchr(out, 'e'))
            fail_msg("%.17g: '%s' should be plain decimal", v, out);
        return;
    }
    reference(v, want, sizeof want);
    if (strcmp(out, want) != 0)
        fail_msg("%.17g: got '%s', want '%s'", v, out, want);
}

static void test_number_paths_agree(void **state)
{
    (void)state;
    uint64_t s = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 60000; i++) {
        uint64_t x = next(&s);
        /* any double in 1e-6..1e11, both signs: every path and both range ends */
        double v = pow(10, -6 + (double)(x >> 11) / 9007199254740992.0 * 17);
        check(x & 1 ? -v : v);
        /* a meter's k / 10^d, and what W -> kW and kWh -> kW make of it */
        uint64_t y = next(&s);
        double k = (double)(y % 100000000);
        double dec = k / pow(10, (double)(y >> 60 & 7));
        check(dec);
        check(dec / 1000);
        check(dec * 3600 / 900);
        /* random bit patterns: anything finite */
        double z;
        uint64_t bits = next(&s);
        memcpy(&z, &bits, sizeof z);
        if (isfinite(z))
            check(z);
    }
}

static void test_int(void **state)
{
    (void)state;
    static const struct {
        int64_t v;
        const char *text;
    } cases[] = {{0, "0"},
                 {-1, "-1"},
                 {1710460800000, "1710460800000"},
                 {INT64_MAX, "9223372036854775807"},
                 {INT64_MIN, "-9223372036854775808"}};
    for (size_t i = 0; i < MF_ARRAY_LEN(cases); i++) {
        struct mf_buf b = MF_BUF_INIT;
        assert_int_equal(mf_json_int(&b, cases[i].v), MF_OK);
        assert_string_equal(b.data, cases[i].text);
        mf_buf_release(&b);
    }
}

static void test_buffer_max(void **state)
{
    (void)state;
    struct mf_buf b;
    mf_buf_init(&b, 4);
    assert_int_equal(mf_json_double(&b, 0.25), MF_OK);
    assert_int_equal(mf_json_double(&b, 1), MF_EDATA);
    assert_int_equal(mf_json_str(&b, "", 0), MF_EDATA);
    assert_string_equal(b.data, "0.25");
    mf_buf_release(&b);
}

static void test_strings(void **state)
{
    (void)state;
    struct mf_buf b = MF_BUF_INIT;
    const char in[] = "a\"b\\c\n\r\t\x01\x1f\x7f"
                      "\xc3\xa9/";
    assert_int_equal(mf_json_str(&b, in, sizeof in - 1), MF_OK);
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\r\\t\\u0001\\u001f\x7f\xc3\xa9/\"");
    mf_buf_reset(&b);
    assert_int_equal(mf_json_str(&b, "x\0y", 3), MF_OK);
    assert_int_equal(b.len, 10);
    assert_memory_equal(b.data, "\"x\\u0000y\"", 10);
    /* what it writes, cJSON reads back */
    mf_buf_reset(&b);
    mf_json_str(&b, in, sizeof in - 1);
    cJSON *j = cJSON_Parse(b.data);
    assert_true(cJSON_IsString(j));
    assert_string_equal(j->valuestring, in);
    cJSON_Delete(j);
    mf_buf_release(&b);
}

static void test_extras(void **state)
{
    (void)state;
    static const char *const skip[] = {"meter_id", "ts"};
    cJSON *o = cJSON_Parse("{\"meter_id\":\"M\",\"site\":{\"a\":[1,\"x\"]},\"ts\":1,"
                           "\"n\":null,\"q\\\"\":1.5}");
    struct mf_buf b = MF_BUF_INIT;
    assert_non_null(o);
    assert_int_equal(mf_json_extras(&b, o, skip, MF_ARRAY_LEN(skip)), MF_OK);
    assert_string_equal(b.data, ",\"site\":{\"a\":[1,\"x\"]},\"n\":null,\"q\\\"\":1.5");
    cJSON_Delete(o);

    /* Scalars written directly: each value read back is the value given. */
    o = cJSON_Parse("{\"ts\":1,\"v\":230.5,\"big\":1e300,\"tiny\":-1.6666666666666667e-05,"
                    "\"int\":123456789012,\"s\":\"a\\\"b\\u0001\\u00e9\",\"t\":true,\"f\":false}");
    assert_non_null(o);
    mf_buf_reset(&b);
    mf_buf_appendc(&b, '{');
    assert_int_equal(mf_json_extras(&b, o, skip, MF_ARRAY_LEN(skip)), MF_OK);
    assert_string_equal(b.data, "{,\"v\":230.5,\"big\":1e+300,\"tiny\":-1.6666666666666667e-05,"
                                "\"int\":123456789012,\"s\":\"a\\\"b\\u0001\xc3\xa9\",\"t\":true,"
                                "\"f\":false");
    b.data[1] = ' '; /* the leading comma: an object to parse back */
    mf_buf_appendc(&b, '}');
    cJSON *back = cJSON_Parse(b.data);
    assert_non_null(back);
    for (const cJSON *c = o->child->next; c; c = c->next)
        assert_true(cJSON_Compare(c, cJSON_GetObjectItemCaseSensitive(back, c->string), 1));
    cJSON_Delete(back);
    mf_buf_reset(&b);
    assert_int_equal(mf_json_extras(&b, NULL, skip, MF_ARRAY_LEN(skip)), MF_OK);
    assert_int_equal(b.len, 0);
    cJSON_Delete(o);
    mf_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_number_texts), cmocka_unit_test(test_number_paths_agree),
        cmocka_unit_test(test_int),          cmocka_unit_test(test_buffer_max),
        cmocka_unit_test(test_strings),      cmocka_unit_test(test_extras),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
