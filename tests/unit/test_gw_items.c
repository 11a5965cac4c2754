/*
 * Unit tests for gw_items and gw_body_parse_objects: /v1/telemetry's
 * routing by shape (camelCase and snake_case mixed in one body, in JSON,
 * NDJSON and CSV), the seed's AC meter shape becoming a §3.1 reading, the
 * single-kind endpoints, and each kind's scope.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gw_body.h"
#include "gw_items.h"
#include "mf_common.h"

/* What a body decoded to: one line per item, "kind key json" or "! error". */
struct got {
    char log[8192];
    unsigned allowed;
};

static void on_obj(void *opaque, size_t index, const cJSON *obj, const char *err)
{
    struct got *g = opaque;
    size_t n = strlen(g->log);
    char why[200], key[MF_METER_ID_MAX + 1];
    enum gw_kind kind;
    struct mf_buf out = MF_BUF_INIT;

    if (!obj) {
        snprintf(g->log + n, sizeof g->log - n, "%zu ! %s\n", index, err);
        return;
    }
    mf_buf_appends(&out, "prefix:");
    if (gw_item_decode(obj, g->allowed, &kind, key, &out, why, sizeof why) != MF_OK) {
        assert_int_equal(out.len, 7); /* left as it was */
        snprintf(g->log + n, sizeof g->log - n, "%zu ! %s\n", index, why);
    } else {
        snprintf(g->log + n, sizeof g->log - n, "%zu %s %s %.*s\n", index, gw_kind_noun(kind), key,
                 (int)(out.len - 7), out.data + 7);
    }
    mf_buf_release(&out);
}

static const char *run(enum gw_body_format f, unsigned allowed, const char *body,
                       enum gw_body_status want)
{
    static struct got g;
    char err[200];
    memset(&g, 0, sizeof g);
    g.allowed = allowed;
    enum gw_body_status st = gw_body_parse_objects(f, body, strlen(body), 10, on_obj, &g, err,
                                                   sizeof err);
    if (st != want)
        fail_msg("status %d, want %d (%s)", st, want, err);
    if (st != GW_BODY_OK)
        snprintf(g.log, sizeof g.log, "%s", err);
    return g.log;
}

static void test_telemetry_mixed(void **state)
{
    (void)state;
    const char *body =
        "[{\"meterId\":\"MTR-1\",\"kwhConsumedAc\":1.5,\"voltage\":231.5,"
        "\"timestamp\":\"2024-03-15T14:00:00Z\"},"
        "{\"vehicleId\":\"EV-7\",\"soc\":54.5,\"kwhDeliveredDc\":0.42,\"batteryTemp\":28.1,"
        "\"timestamp\":\"2024-03-15T14:00:00Z\"},"
        "{\"meter_id\":\"MTR-2\",\"kwh_consumed_ac\":2,\"voltage\":230,\"timestamp\":0},"
        "{\"vehicle_id\":\"EV-8\",\"soc\":140,\"kwh_delivered_dc\":1,\"battery_temp\":20,"
        "\"timestamp\":0},"
        "{\"meter_id\":\"MTR-3\",\"ts\":0,\"value\":5,\"unit\":\"kW\"},"
        "{\"feederId\":\"FDR-1\",\"ts\":0,\"value\":100,\"unit\":\"kW\"},"
        "{\"station_id\":\"LHR\",\"ts\":0,\"temp_c\":12.5},"
        "{\"vehicleId\":\"EV-9\",\"timestamp\":0},"
        "{\"nothing\":1},"
        "{\"meterId\":\"MTR-4\",\"kwhConsumedAc\":1,\"unit\":\"W\",\"timestamp\":0},"
        "7]";
    const char *want =
        "0 meter MTR-1 {\"meter_id\":\"MTR-1\",\"ts\":\"2024-03-15T14:00:00.000Z\",\"value\":1.5,"
        "\"unit\":\"kWh\",\"voltage_v\":231.5}\n"
        "1 vehicle EV-7 {\"vehicle_id\":\"EV-7\",\"ts\":\"2024-03-15T14:00:00.000Z\","
        "\"soc_pct\":54.5,\"kwh_delivered_dc\":0.42,\"battery_temp_c\":28.1}\n"
        "2 meter MTR-2 {\"meter_id\":\"MTR-2\",\"ts\":\"1970-01-01T00:00:00.000Z\",\"value\":2,"
        "\"unit\":\"kWh\",\"voltage_v\":230}\n"
        /* soc 140 is well-formed: the range is source-sink's (DLQ), not the gateway's */
        "3 vehicle EV-8 {\"vehicle_id\":\"EV-8\",\"ts\":\"1970-01-01T00:00:00.000Z\","
        "\"soc_pct\":140,\"kwh_delivered_dc\":1,\"battery_temp_c\":20}\n"
        "4 meter MTR-3 {\"meter_id\":\"MTR-3\",\"ts\":\"1970-01-01T00:00:00.000Z\",\"value\":5,"
        "\"unit\":\"kW\"}\n"
        "5 feeder FDR-1 {\"feeder_id\":\"FDR-1\",\"ts\":\"1970-01-01T00:00:00.000Z\",\"value\":100,"
        "\"unit\":\"kW\"}\n"
        "6 station LHR "
        "{\"station_id\":\"LHR\",\"ts\":\"1970-01-01T00:00:00.000Z\",\"temp_c\":12.5}\n"
        "7 ! missing field 'soc_pct'\n"
        "8 ! cannot tell the item's kind: want one of meter_id, feeder_id, station_id, vehicle_id "
        "(or meterId, feederId, stationId, vehicleId)\n"
        "9 ! kwhConsumedAc is in kWh: no 'unit' beside it\n"
        "10 ! item is not a JSON object\n";
    /* 11 items, limit 10: too many; then with room. */
    run(GW_BODY_JSON, GW_KINDS_ALL, body, GW_BODY_TOO_MANY);
    static struct got g;
    char err[200];
    memset(&g, 0, sizeof g);
    g.allowed = GW_KINDS_ALL;
    assert_int_equal(
        gw_body_parse_objects(GW_BODY_JSON, body, strlen(body), 100, on_obj, &g, err, sizeof err),
        GW_BODY_OK);
    assert_string_equal(g.log, want);
}

static void test_single_kind_endpoints(void **state)
{
    (void)state;
    /* /v1/vehicles reads every item as a vehicle, whatever else it names. */
    assert_string_equal(run(GW_BODY_NDJSON, GW_KIND_BIT(GW_KIND_VEHICLE),
                            "{\"vehicle_id\":\"E1\",\"ts\":0,\"soc_pct\":1}\n\n"
                            "{\"meter_id\":\"M\",\"ts\":0,\"value\":1}\n"
                            "{not json\n",
                            GW_BODY_OK),
                        "0 vehicle E1 {\"vehicle_id\":\"E1\",\"ts\":\"1970-01-01T00:00:00.000Z\","
                        "\"soc_pct\":1}\n"
                        "1 ! missing field 'vehicle_id'\n"
                        "2 ! not JSON\n");
    /* /v1/telemetry may be told to refuse a kind (a route without it). */
    assert_string_equal(run(GW_BODY_JSON, GW_KIND_BIT(GW_KIND_GRID) | GW_KIND_BIT(GW_KIND_WEATHER),
                            "{\"vehicle_id\":\"E1\",\"ts\":0,\"soc_pct\":1}", GW_BODY_OK),
                        "0 ! cannot tell the item's kind: want one of meter_id, feeder_id, "
                        "station_id, vehicle_id (or meterId, feederId, stationId, vehicleId)\n");
    assert_string_equal(run(GW_BODY_JSON, GW_KIND_BIT(GW_KIND_WEATHER), "[]", GW_BODY_BAD),
                        "empty array: no items");
    assert_string_equal(run(GW_BODY_JSON, GW_KIND_BIT(GW_KIND_WEATHER), "5", GW_BODY_BAD),
                        "body is neither an object nor an array of them");
}

static void test_csv_objects(void **state)
{
    (void)state;
    /* One CSV body, two kinds: each row fills its own kind's columns. */
    assert_string_equal(
        run(GW_BODY_CSV, GW_KINDS_ALL,
            "meterId,vehicleId,timestamp,kwhConsumedAc,voltage,soc,kwhDeliveredDc,batteryTemp\n"
            "MTR-1,,1710511200000,1.25,230,,,\n"
            ",007,2024-03-15T14:00:00Z,,,80,0.5,25\n"
            ",EV-2,2024-03-15T14:00:00Z,,,abc,,\n"
            "MTR-1,,0\n",
            GW_BODY_OK),
        "0 meter MTR-1 {\"meter_id\":\"MTR-1\",\"ts\":\"2024-03-15T14:00:00.000Z\",\"value\":1.25,"
        "\"unit\":\"kWh\",\"voltage_v\":230}\n"
        /* an id column stays text: "007", not 7 */
        "1 vehicle 007 {\"vehicle_id\":\"007\",\"ts\":\"2024-03-15T14:00:00.000Z\",\"soc_pct\":80,"
        "\"kwh_delivered_dc\":0.5,\"battery_temp_c\":25}\n"
        "2 ! soc_pct is not a finite number\n"
        "3 ! line 5: 3 fields, the header has 8\n");
    assert_string_equal(run(GW_BODY_CSV, GW_KINDS_ALL, "a,b,a\n1,2,3\n", GW_BODY_BAD),
                        "duplicate CSV column 'a'");
    assert_string_equal(run(GW_BODY_CSV, GW_KINDS_ALL, "a,,b\n1,2,3\n", GW_BODY_BAD),
                        "CSV column 2: a name of 1..64 characters");
    assert_string_equal(run(GW_BODY_CSV, GW_KINDS_ALL, "station_id,ts,temp_c\n", GW_BODY_BAD),
                        "CSV body has a header but no items");
    assert_string_equal(run(GW_BODY_CSV, GW_KIND_BIT(GW_KIND_WEATHER),
                            "station_id,ts,temp_c,humidity_pct\nLHR,0,-3.5,\n", GW_BODY_OK),
                        "0 station LHR {\"station_id\":\"LHR\",\"ts\":\"1970-01-01T00:00:00.000Z\","
                        "\"temp_c\":-3.5}\n");
}

static void test_scopes(void **state)
{
    (void)state;
    assert_int_equal(gw_kind_scope(GW_KIND_READING), MF_SCOPE_READINGS);
    assert_int_equal(gw_kind_scope(GW_KIND_GRID), MF_SCOPE_GRID);
    assert_int_equal(gw_kind_scope(GW_KIND_WEATHER), MF_SCOPE_WEATHER);
    assert_int_equal(gw_kind_scope(GW_KIND_VEHICLE), MF_SCOPE_VEHICLES);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_telemetry_mixed),
        cmocka_unit_test(test_single_kind_endpoints),
        cmocka_unit_test(test_csv_objects),
        cmocka_unit_test(test_scopes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
