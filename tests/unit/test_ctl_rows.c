/*
 * Unit tests for meterctl's CSV checks (meterctl/ctl_rows): columns in any
 * order, empty = null or the column's default, normalised booleans, a
 * byte order mark; and every refusal with its line and column: a missing
 * or unknown or twice-named column, a missing or extra field, a duplicate
 * key (also with a null region), negative and non-finite numbers, bad
 * integers, booleans and dates, unknown time zones and regions, bytes that
 * are not UTF-8, control characters, an empty key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ctl_rows.h"
#include "mf_common.h"

/* The database's answers, as the test decides them; counts the questions. */
static int asked;
static int known(void *ctx, enum ctl_coltype type, const char *s)
{
    (void)ctx;
    asked++;
    if (type == CTL_TZ)
        return strcmp(s, "Europe/London") == 0 || strcmp(s, "Asia/Kolkata") == 0;
    return strcmp(s, "north") == 0;
}

static size_t load(struct ctl_rows *r, const char *kind, const char *csv)
{
    return ctl_rows_load(r, ctl_kind_find(kind), csv, strlen(csv), known, NULL);
}

/* The value of row i's column called name (NULL when null or not in the header). */
static const char *val(const struct ctl_rows *r, size_t i, const char *name)
{
    for (size_t j = 0; j < r->ncols; j++)
        if (strcmp(r->kind->cols[r->col[j]].name, name) == 0)
            return ctl_rows_val(r, i, j);
    return NULL;
}

/* Exactly one error, on line and column, whose message contains what. */
static void expect_one(const char *kind, const char *csv, size_t line, size_t column,
                       const char *what)
{
    struct ctl_rows r;
    size_t n = load(&r, kind, csv);
    if (n != 1 || r.errs[0].line != line || r.errs[0].column != column ||
        !strstr(r.errs[0].msg, what)) {
        for (size_t i = 0; i < r.nerrs && i < CTL_MAX_ERRORS; i++)
            print_error("got %zu:%zu %s: %s\n", r.errs[i].line, r.errs[i].column, r.errs[i].name,
                        r.errs[i].msg);
        fail_msg("%s: want one error at %zu:%zu with '%s', got %zu", csv, line, column, what, n);
    }
    ctl_rows_release(&r);
}

static void test_good_file(void **state)
{
    (void)state;
    struct ctl_rows r;
    const char *csv = "\xef\xbb\xbftz, meter_id ,max_kw,vacant,active,region,neighborhood\n"
                      "Europe/London,M-1,5,YES,0,north,\"Hill, east\"\n"
                      "\n"
                      ",M-2,,,,,\n"
                      "Asia/Kolkata,M-3,2.5e1,f,on,south,\n";
    assert_int_equal(load(&r, "meters", csv), 0);
    assert_int_equal(r.nrows, 3);
    assert_int_equal(r.ncols, 7);
    assert_string_equal(val(&r, 0, "meter_id"), "M-1");
    assert_string_equal(val(&r, 0, "vacant"), "true");
    assert_string_equal(val(&r, 0, "active"), "false");
    assert_string_equal(val(&r, 0, "neighborhood"), "Hill, east");
    /* Empty: the default where the table allows no null, else null. */
    assert_string_equal(val(&r, 1, "max_kw"), "20");
    assert_string_equal(val(&r, 1, "vacant"), "false");
    assert_string_equal(val(&r, 1, "active"), "true");
    assert_null(val(&r, 1, "tz"));
    assert_null(val(&r, 1, "region"));
    assert_string_equal(val(&r, 2, "max_kw"), "2.5e1");
    assert_int_equal(r.lines[2], 5);
    ctl_rows_release(&r);

    /* Holidays: region empty = everywhere, and part of the key. */
    assert_int_equal(
        load(&r, "holidays", "day,region,name\n2024-02-29,,Leap day\n2024-02-29,north,Local\n"), 0);
    assert_int_equal(r.nrows, 2);
    assert_null(val(&r, 0, "region"));
    ctl_rows_release(&r);

    /* Every registry takes its own columns. */
    assert_int_equal(load(&r, "feeders", "feeder_id,rated_kw,interval_s\nF-1,1500,900\n"), 0);
    ctl_rows_release(&r);
    assert_int_equal(load(&r, "stations", "station_id,lat,lon\nLHR,51.47,-0.45\n"), 0);
    ctl_rows_release(&r);
    assert_int_equal(load(&r, "vehicles", "vehicle_id,meter_id,battery_kwh,model\nEV-7,M-1,75,X\n"),
                     0);
    ctl_rows_release(&r);
    assert_null(ctl_kind_find("meterz"));
}

static void test_header_refusals(void **state)
{
    (void)state;
    expect_one("meters", "", 1, 0, "no header");
    expect_one("meters", "max_kw,region\n5,north\n", 1, 0, "missing column 'meter_id'");
    expect_one("holidays", "day,region\n2024-01-01,\n", 1, 0, "missing column 'name'");
    expect_one("meters", "meter_id,maxkw\nM-1,5\n", 1, 2, "unknown column 'maxkw'");
    expect_one("meters", "meter_id,region,region\nM-1,a,b\n", 1, 3, "named twice");
    expect_one("meters", "meter_id,r\xe9gion\nM-1,a\n", 1, 2, "not UTF-8");
}

static void test_row_refusals(void **state)
{
    (void)state;
    const char *h = "meter_id,max_kw,interval_s,vacant,tz\n";
    char csv[512];
#define ROW(row) (snprintf(csv, sizeof csv, "%s%s", h, row), csv)
    expect_one("meters", ROW("M-1,5,60\n"), 2, 4, "missing field");
    expect_one("meters", ROW("M-1,5,60,no,,x\n"), 2, 6, "6 fields");
    expect_one("meters", ROW("M-1,-5,60,no,\n"), 2, 2, "must be above 0");
    expect_one("meters", ROW("M-1,0,60,no,\n"), 2, 2, "must be above 0");
    expect_one("meters", ROW("M-1,nan,60,no,\n"), 2, 2, "not a number");
    expect_one("meters", ROW("M-1,inf,60,no,\n"), 2, 2, "not a number");
    expect_one("meters", ROW("M-1,0x10,60,no,\n"), 2, 2, "not a number");
    expect_one("meters", ROW("M-1,1e999,60,no,\n"), 2, 2, "not a number");
    expect_one("meters", ROW("M-1,5,6.5,no,\n"), 2, 3, "not an integer");
    expect_one("meters", ROW("M-1,5,0,no,\n"), 2, 3, "between 1 and 86400");
    expect_one("meters", ROW("M-1,5,60,maybe,\n"), 2, 4, "not a boolean");
    expect_one("meters", ROW("M-1,5,60,no,Europe/Londn\n"), 2, 5, "unknown time zone");
    expect_one("meters", ROW("M 1,5,60,no,\n"), 2, 1, "not an id");
    expect_one("meters", ROW(",5,60,no,\n"), 2, 1, "the row's key");
    expect_one("meters", ROW("M-1,5,60,no,\n\"M-\xff\",5,60,no,\n"), 3, 1, "byte 0xff at byte 3");
    expect_one("meters", ROW("M-1,5,60,no,\nM-2,5,60,no,\nM-1,6,60,no,\n"), 4, 1,
               "duplicate key 'M-1' (also on line 2)");
    expect_one("meters", ROW("M-1,\"5\n\",60,no,\n"), 2, 2, "control character");
    expect_one("meters", ROW("M-1,\"5,60,no,\n"), 2, 0, "unterminated");
    expect_one("stations", "station_id,lat\nS,91\n", 2, 2, "between -90 and 90");
    expect_one("holidays", "day,region,name\n2023-02-29,,x\n", 2, 1, "not a date");
    expect_one("holidays", "day,region,name\n2024-13-01,,x\n", 2, 1, "not a date");
    expect_one("holidays", "day,region,name\n24-12-25,,x\n", 2, 1, "not a date");
    expect_one("holidays", "day,region,name\n2024-12-25,west,x\n", 2, 2, "unknown region");
    expect_one("holidays", "day,region,name\n2024-12-25,,\n", 2, 3, "required");
    expect_one("holidays", "day,region,name\n2024-12-25,,a\n2024-12-25,,b\n", 3, 1,
               "duplicate key '2024-12-25' (also on line 2)");
#undef ROW
}

static void test_every_error_counted(void **state)
{
    (void)state;
    struct ctl_rows r;
    char csv[8192] = "meter_id,max_kw\nM-0,1\n";
    /* 150 bad rows, and one duplicate of a row that also has a bad value. */
    for (int i = 1; i <= 150; i++)
        snprintf(csv + strlen(csv), sizeof csv - strlen(csv), "M-%d,-1\n", i);
    snprintf(csv + strlen(csv), sizeof csv - strlen(csv), "M-1,x\n");
    assert_int_equal(load(&r, "meters", csv), 152);
    assert_int_equal(r.nerrs, 152);
    assert_int_equal(r.bad_rows, 151);
    assert_int_equal(r.nrows, 1); /* only M-0 was good */
    assert_int_equal(r.errs[0].line, 3);
    assert_int_equal(r.errs[CTL_MAX_ERRORS - 1].line, CTL_MAX_ERRORS + 2);
    ctl_rows_release(&r);

    /* Time zones and regions are asked about only when a value is there. */
    asked = 0;
    assert_int_equal(load(&r, "meters", "meter_id,tz\nM-1,\nM-2,Asia/Kolkata\n"), 0);
    assert_int_equal(asked, 1);
    ctl_rows_release(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_file),
        cmocka_unit_test(test_header_refusals),
        cmocka_unit_test(test_row_refusals),
        cmocka_unit_test(test_every_error_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
