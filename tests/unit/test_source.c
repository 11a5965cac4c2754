/*
 * Unit tests for mf_source: each kind's fields and aliases, every
 * structural refusal, the canonical JSON round trip, and the meaning
 * checks of DESIGN §11: each range bound on both sides, and the grid
 * feed's unit conversion to kW (each unit, inference, unknown, ambiguous).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mf_source.h"
#include "mf_common.h"

static int parse(const char *json, enum mf_source_kind k, struct mf_source_rec *r, char *err)
{
    return mf_source_parse(json, strlen(json), k, r, err, 200);
}

static void test_canonical_and_aliases(void **state)
{
    (void)state;
    char err[200];
    struct mf_source_rec r;

    assert_int_equal(
        parse("{\"feeder_id\":\"FDR-12\",\"ts\":\"2024-03-15T14:00:00Z\",\"value\":1850.5,"
              "\"unit\":\"kW\",\"voltage_v\":11020,\"frequency_hz\":50.01}",
              MF_SRC_GRID, &r, err),
        MF_OK);
    assert_string_equal(r.id, "FDR-12");
    assert_int_equal(r.ts_ms, 1710511200000LL);
    assert_true(r.num[MF_GRID_VALUE] == 1850.5 && r.num[MF_GRID_VOLTAGE] == 11020);
    assert_int_equal(r.has, 7);
    assert_int_equal(r.unit, MF_UNIT_KW);

    /* The seed's camelCase vehicle, with epoch-ms time and a stranger field ignored. */
    assert_int_equal(parse("{\"vehicleId\":\"EV-7\",\"soc\":54.5,\"kwhDeliveredDc\":0.42,"
                           "\"batteryTemp\":28.1,\"timestamp\":1710511200000,\"x\":1}",
                           MF_SRC_VEHICLE, &r, err),
                     MF_OK);
    assert_string_equal(r.id, "EV-7");
    assert_int_equal(r.ts_ms, 1710511200000LL);
    assert_true(r.num[MF_EV_SOC] == 54.5 && r.num[MF_EV_KWH_DC] == 0.42 &&
                r.num[MF_EV_BATTERY_TEMP] == 28.1);
    /* snake_case of the seed's names */
    assert_int_equal(parse("{\"vehicle_id\":\"EV-7\",\"soc\":1,\"kwh_delivered_dc\":0,"
                           "\"battery_temp\":2,\"timestamp\":\"2024-03-15T15:00:00+01:00\"}",
                           MF_SRC_VEHICLE, &r, err),
                     MF_OK);
    assert_int_equal(r.ts_ms, 1710511200000LL);
    assert_int_equal(r.has, 7);

    /* Weather: only temp_c required; null is absent. */
    assert_int_equal(parse("{\"stationId\":\"LHR\",\"ts\":\"2024-03-15T14:00:00Z\",\"temp_c\":12.3,"
                           "\"humidity_pct\":null}",
                           MF_SRC_WEATHER, &r, err),
                     MF_OK);
    assert_int_equal(r.has, 1u << MF_WX_TEMP);

    /* Round trip through the canonical form. */
    struct mf_buf b = MF_BUF_INIT;
    assert_int_equal(
        parse("{\"vehicleId\":\"EV-7\",\"soc\":54.5,\"timestamp\":\"2024-03-15T14:00:00Z\"}",
              MF_SRC_VEHICLE, &r, err),
        MF_OK);
    assert_int_equal(mf_source_to_json(&r, &b), MF_OK);
    mf_buf_appendc(&b, '\0');
    assert_string_equal(
        b.data, "{\"vehicle_id\":\"EV-7\",\"ts\":\"2024-03-15T14:00:00.000Z\",\"soc_pct\":54.5}");
    struct mf_source_rec back;
    assert_int_equal(parse(b.data, MF_SRC_VEHICLE, &back, err), MF_OK);
    assert_memory_equal(&back, &r, sizeof r);
    b.len = 0;
    assert_int_equal(
        parse("{\"feeder_id\":\"F\",\"ts\":0,\"value\":2,\"unit\":\"MWh\",\"interval_s\":900}",
              MF_SRC_GRID, &r, err),
        MF_OK);
    assert_int_equal(mf_source_to_json(&r, &b), MF_OK);
    mf_buf_appendc(&b, '\0');
    assert_string_equal(b.data,
                        "{\"feeder_id\":\"F\",\"ts\":\"1970-01-01T00:00:00.000Z\",\"value\":2,"
                        "\"unit\":\"MWh\",\"interval_s\":900}");
    mf_buf_release(&b);

    cJSON *o = cJSON_Parse("{\"a\":1,\"stationId\":\"x\"}");
    assert_int_equal(mf_source_kind_of(o), MF_SRC_WEATHER);
    cJSON_Delete(o);
    o = cJSON_Parse("{\"meter_id\":\"x\"}");
    assert_int_equal(mf_source_kind_of(o), -1);
    cJSON_Delete(o);
}

static void test_refusals(void **state)
{
    (void)state;
    static const struct {
        enum mf_source_kind k;
        const char *json, *want;
    } bad[] = {
        {MF_SRC_GRID, "[]", "grid record is not a JSON object"},
        {MF_SRC_GRID, "{\"ts\":0,\"value\":1}", "missing field 'feeder_id'"},
        {MF_SRC_GRID, "{\"feeder_id\":\"F\",\"value\":1}", "missing field 'ts'"},
        {MF_SRC_GRID, "{\"feeder_id\":\"F\",\"ts\":0}", "missing field 'value'"},
        {MF_SRC_GRID, "{\"feeder_id\":7,\"ts\":0,\"value\":1}", "feeder_id is not a string"},
        {MF_SRC_GRID, "{\"feeder_id\":\"a b\",\"ts\":0,\"value\":1}", "feeder_id has a character"},
        {MF_SRC_GRID, "{\"feeder_id\":\"\",\"ts\":0,\"value\":1}", "feeder_id is empty"},
        {MF_SRC_GRID, "{\"feeder_id\":\"F\",\"ts\":0,\"value\":\"1\"}",
         "value is not a finite number"},
        {MF_SRC_GRID, "{\"feeder_id\":\"F\",\"ts\":0,\"value\":1,\"unit\":5}",
         "unit is not a string"},
        {MF_SRC_GRID, "{\"feeder_id\":\"F\",\"ts\":0,\"value\":1,\"interval_s\":1.5}",
         "interval_s is not a whole number"},
        {MF_SRC_GRID, "{\"feeder_id\":\"F\",\"ts\":0,\"value\":1,\"interval_s\":0}",
         "interval_s out of range"},
        {MF_SRC_GRID, "{\"feeder_id\":\"F\",\"ts\":true,\"value\":1}", "ts is neither"},
        {MF_SRC_GRID, "{\"feeder_id\":\"F\",\"ts\":\"yesterday\",\"value\":1}", ""},
        {MF_SRC_WEATHER, "{\"station_id\":\"S\",\"ts\":0}", "missing field 'temp_c'"},
        {MF_SRC_WEATHER, "{\"station_id\":\"S\",\"ts\":0,\"temp_c\":1,\"temp_c\":2}",
         "duplicate field 'temp_c'"},
        {MF_SRC_WEATHER, "{\"station_id\":\"S\",\"ts\":0,\"temp_c\":1,\"tempC\":2}",
         "duplicate field 'temp_c' (also as 'tempC')"},
        {MF_SRC_VEHICLE, "{\"vehicleId\":\"E\",\"vehicle_id\":\"E\",\"ts\":0,\"soc\":1}",
         "duplicate field 'vehicle_id' (also as 'vehicle_id')"},
        {MF_SRC_VEHICLE, "{\"vehicle_id\":\"E\",\"ts\":0,\"timestamp\":0,\"soc\":1}",
         "duplicate field 'ts' (also as 'timestamp')"},
        {MF_SRC_VEHICLE, "{\"vehicle_id\":\"E\",\"ts\":0}", "missing field 'soc_pct'"},
        {MF_SRC_VEHICLE, "{\"vehicle_id\":\"E\",\"ts\":0,\"soc\":[1]}",
         "soc_pct is not a finite number"},
        {MF_SRC_VEHICLE, "not json", "not JSON"},
    };
    for (size_t i = 0; i < MF_ARRAY_LEN(bad); i++) {
        char err[200] = "";
        struct mf_source_rec r;
        if (parse(bad[i].json, bad[i].k, &r, err) != MF_EDATA)
            fail_msg("case %zu: accepted %s", i, bad[i].json);
        if (!strstr(err, bad[i].want) || !err[0])
            fail_msg("case %zu: got '%s', want '%s'", i, err, bad[i].want);
    }
}

/* Checks one field at a value: MF_OK, or the code and the field named. */
static void range_case(enum mf_source_kind k, const char *field, double v, int ok)
{
    char json[256], err[200], msg[200];
    const char *code = NULL;
    double kw;
    struct mf_source_rec r;
    const char *id = k == MF_SRC_GRID      ? "feeder_id"
                     : k == MF_SRC_WEATHER ? "station_id"
                                           : "vehicle_id";
    const char *req = k == MF_SRC_GRID      ? "\"value\":5,\"unit\":\"kW\""
                      : k == MF_SRC_WEATHER ? "\"temp_c\":5"
                                            : "\"soc_pct\":5";
    snprintf(json, sizeof json, "{\"%s\":\"X\",\"ts\":0,%s,\"%s\":%.17g}", id, req, field, v);
    /* the required field itself: the later value wins the slot only once */
    if (strstr(req, field))
        snprintf(json, sizeof json, "{\"%s\":\"X\",\"ts\":0,%s%s\"%s\":%.17g}", id,
                 k == MF_SRC_GRID ? "\"unit\":\"kW\"" : "", k == MF_SRC_GRID ? "," : "", field, v);
    if (parse(json, k, &r, err) != MF_OK)
        fail_msg("%s: %s", json, err);
    int rc = mf_source_check(&r, 60, &kw, &code, msg, sizeof msg);
    if (ok && rc != MF_OK)
        fail_msg("%s %.17g: refused (%s)", field, v, msg);
    if (!ok) {
        if (rc != MF_EDATA)
            fail_msg("%s %.17g: accepted", field, v);
        assert_string_equal(code, "out_of_range");
        if (strncmp(msg, field, strlen(field)) != 0)
            fail_msg("%s: message '%s' does not name it", field, msg);
    }
}

static void test_ranges(void **state)
{
    (void)state;
    static const struct {
        enum mf_source_kind k;
        const char *field;
        double lo, hi;
    } ranges[] = {
        {MF_SRC_WEATHER, "temp_c", -90, 60}, {MF_SRC_WEATHER, "humidity_pct", 0, 100},
        {MF_SRC_WEATHER, "wind_ms", 0, 120}, {MF_SRC_WEATHER, "ghi_wm2", 0, 1500},
        {MF_SRC_VEHICLE, "soc_pct", 0, 100}, {MF_SRC_VEHICLE, "battery_temp_c", -40, 90},
        {MF_SRC_GRID, "voltage_v", 0, 1e6},  {MF_SRC_GRID, "frequency_hz", 40, 70},
        {MF_SRC_GRID, "value", 0, 1e7},
    };
    for (size_t i = 0; i < MF_ARRAY_LEN(ranges); i++) {
        range_case(ranges[i].k, ranges[i].field, ranges[i].lo, 1);
        range_case(ranges[i].k, ranges[i].field, ranges[i].hi, 1);
        range_case(ranges[i].k, ranges[i].field, nextafter(ranges[i].lo, -INFINITY), 0);
        range_case(ranges[i].k, ranges[i].field, nextafter(ranges[i].hi, INFINITY), 0);
    }
    /* Energy: >= 0, no upper bound. */
    range_case(MF_SRC_VEHICLE, "kwh_delivered_dc", 0, 1);
    range_case(MF_SRC_VEHICLE, "kwh_delivered_dc", 1e9, 1);
    range_case(MF_SRC_VEHICLE, "kwh_delivered_dc", -1e-9, 0);
    /* The examples. */
    range_case(MF_SRC_VEHICLE, "soc_pct", 140, 0);
    range_case(MF_SRC_WEATHER, "temp_c", 80, 0);
}

static void test_grid_units(void **state)
{
    (void)state;
    static const struct {
        const char *unit; /* NULL: none */
        double value;
        int interval_s; /* 0: none, the default (60) */
        double want_kw;
        const char *code; /* NULL: converted */
    } cases[] = {
        {"W", 1500, 0, 1.5, NULL},
        {"kW", 1850.5, 0, 1850.5, NULL},
        {"MW", 1.85, 0, 1850, NULL},
        {"watts", 2000, 0, 2, NULL},
        {"KWH", 1, 900, 4, NULL},  /* 1 kWh over 15 min = 4 kW */
        {"kWh", 0.5, 0, 30, NULL}, /* over the default 60 s */
        {"Wh", 250, 3600, 0.25, NULL},
        {"MWh", 0.5, 3600, 500, NULL},
        {NULL, 9.5, 0, 9.5, NULL},  /* < 10: kW */
        {NULL, 1500, 0, 1.5, NULL}, /* > 1000: W */
        {NULL, 10, 0, 0, "unit_ambiguous"},
        {NULL, 1000, 0, 0, "unit_ambiguous"},
        {"furlongs", 5, 0, 0, "unit_unknown"},
        {"kW", -1, 0, 0, "out_of_range"},
    };
    for (size_t i = 0; i < MF_ARRAY_LEN(cases); i++) {
        char json[256], u[64] = "", iv[32] = "", err[200], msg[200];
        const char *code = NULL;
        double kw = -1;
        struct mf_source_rec r;
        if (cases[i].unit)
            snprintf(u, sizeof u, ",\"unit\":\"%s\"", cases[i].unit);
        if (cases[i].interval_s)
            snprintf(iv, sizeof iv, ",\"interval_s\":%d", cases[i].interval_s);
        snprintf(json, sizeof json, "{\"feeder_id\":\"F\",\"ts\":0,\"value\":%g%s%s}",
                 cases[i].value, u, iv);
        assert_int_equal(parse(json, MF_SRC_GRID, &r, err), MF_OK);
        int rc = mf_source_check(&r, 60, &kw, &code, msg, sizeof msg);
        if (cases[i].code) {
            if (rc != MF_EDATA || strcmp(code, cases[i].code) != 0)
                fail_msg("case %zu (%s): want %s, got rc %d code %s", i, json, cases[i].code, rc,
                         code ? code : "-");
        } else if (rc != MF_OK || fabs(kw - cases[i].want_kw) > 1e-9) {
            fail_msg("case %zu (%s): want %g kW, got rc %d %g (%s)", i, json, cases[i].want_kw, rc,
                     kw, msg);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_and_aliases),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_grid_units),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
