/*
 * Unit tests for ss_batch (source-sink's per-record decision): the order
 * parse -> registry -> meaning, each DLQ code with the field named, the
 * feeder's registry interval in the unit conversion, the next offset per
 * (topic, partition), and the registry's sorted lookup.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ss_batch.h"
#include "ss_registry.h"
#include "mf_common.h"

static struct ss_registry reg;

static int setup(void **state)
{
    (void)state;
    ss_registry_add(&reg, MF_SRC_GRID, "F-2", 60);
    ss_registry_add(&reg, MF_SRC_GRID, "F-1", 900);
    ss_registry_sort(&reg, MF_SRC_GRID);
    ss_registry_add(&reg, MF_SRC_WEATHER, "LHR", 0);
    ss_registry_sort(&reg, MF_SRC_WEATHER);
    ss_registry_add(&reg, MF_SRC_VEHICLE, "EV-1", 0);
    ss_registry_sort(&reg, MF_SRC_VEHICLE);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ss_registry_release(&reg);
    return 0;
}

static int add(struct ss_batch *b, enum mf_source_kind k, int32_t p, int64_t o, const char *v)
{
    return ss_batch_add(b, k, p, o, "key", 3, v, strlen(v), ss_registry_lookup, &reg);
}

static void test_decisions(void **state)
{
    (void)state;
    static const struct {
        enum mf_source_kind k;
        const char *value, *code, *msg; /* code NULL: stored */
    } cases[] = {
        {MF_SRC_GRID, "{\"feeder_id\":\"F-1\",\"ts\":0,\"value\":2,\"unit\":\"kWh\"}", NULL, NULL},
        {MF_SRC_GRID, "not json", "parse_error", "not JSON"},
        {MF_SRC_GRID, "{\"feeder_id\":\"F-9\",\"ts\":0,\"value\":2}", "unknown_feeder",
         "feeder_id 'F-9' is not in the registry"},
        /* the registry before the meaning: an unknown feeder with a bad unit is unknown */
        {MF_SRC_GRID, "{\"feeder_id\":\"F-9\",\"ts\":0,\"value\":2,\"unit\":\"x\"}",
         "unknown_feeder", "F-9"},
        {MF_SRC_GRID, "{\"feeder_id\":\"F-1\",\"ts\":0,\"value\":2,\"unit\":\"parsecs\"}",
         "unit_unknown", "unit 'parsecs'"},
        {MF_SRC_GRID, "{\"feeder_id\":\"F-1\",\"ts\":0,\"value\":500}", "unit_ambiguous",
         "unit missing"},
        {MF_SRC_GRID, "{\"feeder_id\":\"F-1\",\"ts\":0,\"value\":2,\"frequency_hz\":71}",
         "out_of_range", "frequency_hz 71 outside 40..70"},
        {MF_SRC_WEATHER, "{\"station_id\":\"LHR\",\"ts\":0,\"temp_c\":80}", "out_of_range",
         "temp_c 80 outside -90..60"},
        {MF_SRC_WEATHER, "{\"station_id\":\"XXX\",\"ts\":0,\"temp_c\":8}", "unknown_station",
         "station_id 'XXX'"},
        {MF_SRC_WEATHER, "{\"station_id\":\"LHR\",\"ts\":0}", "parse_error",
         "missing field 'temp_c'"},
        {MF_SRC_VEHICLE, "{\"vehicle_id\":\"EV-1\",\"ts\":0,\"soc_pct\":140}", "out_of_range",
         "soc_pct 140 outside 0..100"},
        {MF_SRC_VEHICLE, "{\"vehicle_id\":\"EV-1\",\"ts\":0,\"soc_pct\":40,\"battery_temp_c\":-41}",
         "out_of_range", "battery_temp_c -41"},
        {MF_SRC_VEHICLE,
         "{\"vehicle_id\":\"EV-1\",\"ts\":0,\"soc_pct\":40,"
         "\"kwh_delivered_dc\":-0.1}",
         "out_of_range", "kwh_delivered_dc -0.1 below 0"},
        {MF_SRC_VEHICLE, "{\"vehicle_id\":\"EV-2\",\"ts\":0,\"soc_pct\":40}", "unknown_vehicle",
         "vehicle_id 'EV-2'"},
        {MF_SRC_VEHICLE, "{\"vehicle_id\":\"EV-1\",\"ts\":5,\"soc_pct\":100}", NULL, NULL},
    };
    struct ss_batch b;
    ss_batch_init(&b);
    size_t dlq = 0;
    for (size_t i = 0; i < MF_ARRAY_LEN(cases); i++) {
        int stored = add(&b, cases[i].k, (int32_t)(i % 2), (int64_t)(100 + i), cases[i].value);
        if (stored != (cases[i].code == NULL))
            fail_msg("case %zu: stored %d", i, stored);
        if (!cases[i].code)
            continue;
        const struct ss_dlq *d = &b.dlq[dlq++];
        if (strcmp(d->code, cases[i].code) != 0 || !strstr(d->msg, cases[i].msg))
            fail_msg("case %zu: got %s '%s', want %s '%s'", i, d->code, d->msg, cases[i].code,
                     cases[i].msg);
        /* the original bytes, unchanged, for the DLQ */
        assert_memory_equal(b.bytes.data + d->val_off, cases[i].value, strlen(cases[i].value));
        assert_memory_equal(b.bytes.data + d->key_off, "key", 3);
        assert_int_equal(d->offset, 100 + i);
    }
    assert_int_equal(b.ndlq, dlq);
    assert_int_equal(b.count, MF_ARRAY_LEN(cases));
    assert_int_equal(b.nrows[MF_SRC_GRID], 1);
    /* 2 kWh over the feeder's registry interval (900 s) is 8 kW */
    assert_true(b.rows[MF_SRC_GRID][0].value_kw == 8);
    assert_int_equal(b.rows[MF_SRC_GRID][0].interval_s, 900);
    assert_int_equal(b.nrows[MF_SRC_VEHICLE], 1);
    assert_int_equal(b.newest_ts_ms, 5);
    /* next offsets: per (kind, partition), the highest + 1 */
    int64_t want[MF_SRC_COUNT][2] = {{0}};
    for (size_t i = 0; i < MF_ARRAY_LEN(cases); i++)
        want[cases[i].k][i % 2] = (int64_t)(100 + i + 1);
    size_t npos = 0;
    for (int k = 0; k < MF_SRC_COUNT; k++)
        for (int p = 0; p < 2; p++)
            npos += want[k][p] != 0;
    assert_int_equal(b.npos, npos);
    for (size_t i = 0; i < b.npos; i++)
        assert_int_equal(b.pos[i].next_offset, want[b.pos[i].kind][b.pos[i].partition]);

    ss_batch_reset(&b);
    assert_int_equal(b.count + b.ndlq + b.npos + b.nrows[0] + b.nrows[1] + b.nrows[2], 0);
    ss_batch_release(&b);
}

static void test_registry(void **state)
{
    (void)state;
    int iv = -1;
    assert_true(ss_registry_lookup(&reg, MF_SRC_GRID, "F-1", &iv));
    assert_int_equal(iv, 900);
    assert_true(ss_registry_lookup(&reg, MF_SRC_GRID, "F-2", &iv));
    assert_int_equal(iv, 60);
    assert_false(ss_registry_lookup(&reg, MF_SRC_GRID, "F-3", &iv));
    assert_false(ss_registry_lookup(&reg, MF_SRC_WEATHER, "F-1", &iv)); /* per kind */
    assert_string_equal(ss_unknown_code(MF_SRC_VEHICLE), "unknown_vehicle");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decisions),
        cmocka_unit_test(test_registry),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
