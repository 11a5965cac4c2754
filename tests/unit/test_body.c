/*
 * Unit tests for gw_body and mf_csv: request bodies in the three formats,
 * partial acceptance, limits, CSV quoting and the real-data quirks
 * (padded values, CRLF).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gw_body.h"
#include "mf_csv.h"
#include "mf_common.h"

/* What the item callback saw, as one line per item: "0 ok MTR-1 1250" or "1 err <msg>". */
struct seen {
    char log[4096];
    size_t ok, bad;
};

static void on_item(void *opaque, size_t index, const struct mf_reading *r, const char *err)
{
    struct seen *s = opaque;
    size_t n = strlen(s->log);
    if (r) {
        s->ok++;
        snprintf(s->log + n, sizeof s->log - n, "%zu ok %s %g %lld %s %d\n", index, r->meter_id,
                 r->value, (long long)r->ts_ms, r->unit_text, r->interval_s);
    } else {
        s->bad++;
        snprintf(s->log + n, sizeof s->log - n, "%zu err %s\n", index, err);
    }
}

static enum gw_body_status parse(enum gw_body_format f, const char *body, size_t max,
                                 struct seen *s, char *err)
{
    memset(s, 0, sizeof *s);
    err[0] = '\0';
    return gw_body_parse(f, body, strlen(body), max, on_item, s, err, 160);
}

static void test_content_types(void **state)
{
    (void)state;
    assert_int_equal(gw_body_format_of("application/json"), GW_BODY_JSON);
    assert_int_equal(gw_body_format_of("application/json; charset=utf-8"), GW_BODY_JSON);
    assert_int_equal(gw_body_format_of("Application/JSON"), GW_BODY_JSON);
    assert_int_equal(gw_body_format_of("application/x-ndjson"), GW_BODY_NDJSON);
    assert_int_equal(gw_body_format_of("text/csv"), GW_BODY_CSV);
    assert_int_equal(gw_body_format_of("text/plain"), -1);
    assert_int_equal(gw_body_format_of("application/jsonx"), -1);
    assert_int_equal(gw_body_format_of(NULL), -1);
}

static void test_json(void **state)
{
    (void)state;
    struct seen s;
    char err[160];
    assert_int_equal(parse(GW_BODY_JSON, "{\"meter_id\":\"a\",\"ts\":0,\"value\":1}", 10, &s, err),
                     GW_BODY_OK);
    assert_int_equal(s.ok, 1);
    assert_int_equal(parse(GW_BODY_JSON,
                           "[{\"meter_id\":\"a\",\"ts\":0,\"value\":1},7,{\"meter_id\":\"b\"},"
                           "{\"meter_id\":\"c\",\"ts\":1000,\"value\":2.5,\"unit\":\"kW\"}]",
                           10, &s, err),
                     GW_BODY_OK);
    assert_int_equal(s.ok, 2);
    assert_int_equal(s.bad, 2);
    assert_non_null(strstr(s.log, "1 err reading is not a JSON object"));
    assert_non_null(strstr(s.log, "2 err missing field 'ts'"));
    assert_non_null(strstr(s.log, "3 ok c 2.5 1000 kW 0"));

    assert_int_equal(parse(GW_BODY_JSON, "[]", 10, &s, err), GW_BODY_BAD);
    assert_int_equal(parse(GW_BODY_JSON, "", 10, &s, err), GW_BODY_BAD);
    assert_string_equal(err, "empty body");
    assert_int_equal(parse(GW_BODY_JSON, "42", 10, &s, err), GW_BODY_BAD);
    assert_int_equal(parse(GW_BODY_JSON, "[{\"meter_id\":", 10, &s, err), GW_BODY_BAD);
    assert_string_equal(err, "body is not JSON");
    assert_int_equal(parse(GW_BODY_JSON, "{\"a\":1}\xff", 10, &s, err), GW_BODY_BAD);
    assert_string_equal(err, "body is not valid UTF-8");
    /* Exactly the limit passes; one more is refused before any item. */
    assert_int_equal(parse(GW_BODY_JSON, "[{},{},{}]", 3, &s, err), GW_BODY_OK);
    assert_int_equal(parse(GW_BODY_JSON, "[{},{},{},{}]", 3, &s, err), GW_BODY_TOO_MANY);
    assert_int_equal(s.ok + s.bad, 0);
}

static void test_ndjson(void **state)
{
    (void)state;
    struct seen s;
    char err[160];
    const char *body = "{\"meter_id\":\"a\",\"ts\":0,\"value\":1}\r\n"
                       "\n"
                       "   \n"
                       "not json\n"
                       "{\"meter_id\":\"b\",\"ts\":\"2024-01-01T00:00:00Z\",\"value\":2}";
    assert_int_equal(parse(GW_BODY_NDJSON, body, 10, &s, err), GW_BODY_OK);
    assert_int_equal(s.ok, 2);
    assert_int_equal(s.bad, 1);
    assert_non_null(strstr(s.log, "1 err not JSON"));
    assert_non_null(strstr(s.log, "2 ok b 2"));
    assert_int_equal(parse(GW_BODY_NDJSON, "\n\n", 10, &s, err), GW_BODY_BAD);
    assert_int_equal(parse(GW_BODY_NDJSON, "{}\n{}\n{}\n", 2, &s, err), GW_BODY_TOO_MANY);
}

static void test_csv(void **state)
{
    (void)state;
    struct seen s;
    char err[160];
    /* Any column order, padded values, CRLF, quoted fields, an empty unit. */
    const char *body = "value,Meter_ID,ts,unit,interval_s\r\n"
                       " 0.219 ,MAC000002,2013-01-01T00:00:00Z,kWh,1800\r\n"
                       "\"1,5\",\"MAC000003\",1356998400000,,\r\n"
                       "2,m3,2013-01-01T00:30:00+01:00,\"kW\",60\r\n"
                       "3,m4\r\n"
                       "4,m5,2013-01-01T00:00:00Z,kW,60,extra\r\n"
                       "nan,m6,2013-01-01T00:00:00Z,,\r\n"
                       "0x10,m7,2013-01-01T00:00:00Z,,\r\n"
                       "\"5\" x,m8,2013-01-01T00:00:00Z,,\r\n"
                       "6,m9,2013-01-01T00:00:00Z,,1.5\r\n"
                       "7,m10,,kW,\r\n";
    assert_int_equal(parse(GW_BODY_CSV, body, 100, &s, err), GW_BODY_OK);
    assert_non_null(strstr(s.log, "0 ok MAC000002 0.219 1356998400000 kWh 1800"));
    assert_non_null(strstr(s.log, "1 err value is not a finite number")); /* decimal comma */
    assert_non_null(strstr(s.log, "2 ok m3 2 1356996600000 kW 60"));
    assert_non_null(strstr(s.log, "3 err line 5: 2 fields, the header has 5"));
    assert_non_null(strstr(s.log, "4 err line 6: 6 fields, the header has 5"));
    assert_non_null(strstr(s.log, "5 err value is not a finite number"));
    assert_non_null(strstr(s.log, "6 err value is not a finite number"));
    assert_non_null(strstr(s.log, "7 err line 9: text after a closing quote"));
    assert_non_null(strstr(s.log, "8 err interval_s is not a whole number"));
    assert_non_null(strstr(s.log, "9 err missing field 'ts'"));
    assert_int_equal(s.ok, 2);

    /* A quoted meter id with a comma passes the CSV layer and fails the ID rule. */
    assert_int_equal(parse(GW_BODY_CSV, "meter_id,ts,value\n\"a,b\",0,1\n", 10, &s, err),
                     GW_BODY_OK);
    assert_non_null(strstr(s.log, "0 err meter_id has a character outside"));
    /* A newline inside quotes stays inside the field. */
    assert_int_equal(parse(GW_BODY_CSV, "meter_id,ts,value\n\"a\nb\",0,1\nc,0,2\n", 10, &s, err),
                     GW_BODY_OK);
    assert_int_equal(s.bad, 1);
    assert_non_null(strstr(s.log, "1 ok c 2"));

    assert_int_equal(parse(GW_BODY_CSV, "meter_id,ts\nm,0\n", 10, &s, err), GW_BODY_BAD);
    assert_string_equal(err, "CSV header lacks the column 'value'");
    assert_int_equal(parse(GW_BODY_CSV, "meter_id,ts,value,colour\nm,0,1,red\n", 10, &s, err),
                     GW_BODY_BAD);
    assert_non_null(strstr(err, "unknown CSV column 'colour'"));
    assert_int_equal(parse(GW_BODY_CSV, "meter_id,ts,value,ts\n", 10, &s, err), GW_BODY_BAD);
    assert_int_equal(parse(GW_BODY_CSV, "meter_id,ts,value\n", 10, &s, err), GW_BODY_BAD);
    assert_string_equal(err, "CSV body has a header but no readings");
    assert_int_equal(parse(GW_BODY_CSV, "\r\n\r\n", 10, &s, err), GW_BODY_BAD);
    assert_int_equal(parse(GW_BODY_CSV, "meter_id,ts,value\na,0,1\nb,0,1\n", 1, &s, err),
                     GW_BODY_TOO_MANY);
    assert_int_equal(parse(GW_BODY_CSV, "meter_id,ts,value\n\"a,0,1\n", 10, &s, err), GW_BODY_OK);
    assert_non_null(strstr(s.log, "0 err line 2: unterminated quoted field"));
}

static void test_csv_reader(void **state)
{
    (void)state;
    struct mf_csv c;
    char err[128];
    const char *d = "a, \"b \"\"q\"\" \" ,c\n,,\n";
    mf_csv_init(&c, d, strlen(d));
    assert_int_equal(mf_csv_next(&c, err, sizeof err), 1);
    assert_int_equal(c.nfields, 3);
    assert_int_equal(c.f[1].n, 6);
    assert_memory_equal(c.f[1].s, "b \"q\" ", 6);
    assert_int_equal(mf_csv_next(&c, err, sizeof err), 1);
    assert_int_equal(c.nfields, 3);
    assert_int_equal(c.f[0].n + c.f[1].n + c.f[2].n, 0);
    assert_int_equal(mf_csv_next(&c, err, sizeof err), 0);
    mf_csv_release(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_types), cmocka_unit_test(test_json),
        cmocka_unit_test(test_ndjson),        cmocka_unit_test(test_csv),
        cmocka_unit_test(test_csv_reader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
