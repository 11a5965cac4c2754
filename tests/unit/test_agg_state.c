/*
 * Unit tests for the batch state (agg_state) and the record parser
 * (agg_record): pre-merge per (meter, window), a worker's repeats dropped
 * by src order, offsets below the stored one dropped, what a batch hands
 * PostgreSQL (positions, fence values, statuses), the memory per open
 * window, and parser edge cases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "agg_record.h"
#include "agg_state.h"
#include "mf_common.h"

static struct agg_record rec(const char *meter, int64_t t, double v, int64_t o, int32_t i)
{
    struct agg_record r;
    memset(&r, 0, sizeof r);
    snprintf(r.meter_id, sizeof r.meter_id, "%s", meter);
    r.ts_ms = t;
    r.value_kw = v;
    r.quality = 80;
    r.tier = MF_TIER_STANDARD;
    r.src.p = 3;
    r.src.o = o;
    r.src.i = i;
    return r;
}

static void test_premerge_and_dedup(void **state)
{
    (void)state;
    struct agg_state *st = agg_state_new(1000, 120000, 30000);
    struct agg_batch b;
    bool late;
    int exp;
    int64_t t = 1710511200000; /* 14:00:00 */
    agg_state_assign(st, 3, 100, AGG_WM_NONE, 0);
    agg_state_load_src(st, 3, 3, 50, 1);

    struct agg_record r = rec("M", t, 1, 50, 1);
    /* Offset below the stored one: already in PostgreSQL. */
    assert_int_equal(agg_state_add(st, 3, 99, &r, 0, &late, &exp), AGG_ADD_STALE);
    /* src (50, 1) is the stored position: a repeat. (50, 0) too. */
    assert_int_equal(agg_state_add(st, 3, 100, &r, 0, &late, &exp), AGG_ADD_DUPLICATE);
    r.src.i = 0;
    assert_int_equal(agg_state_add(st, 3, 101, &r, 0, &late, &exp), AGG_ADD_DUPLICATE);
    /* (50, 2): the next output of the same source record. */
    r = rec("M", t, 1, 50, 2);
    assert_int_equal(agg_state_add(st, 3, 102, &r, 0, &late, &exp), AGG_ADD_APPLIED);
    r = rec("M", t + 10000, 3, 51, 0);
    assert_int_equal(agg_state_add(st, 3, 103, &r, 0, &late, &exp), AGG_ADD_APPLIED);
    r = rec("M", t + 70000, 5, 52, 0); /* next minute, same hour */
    assert_int_equal(agg_state_add(st, 3, 104, &r, 0, &late, &exp), AGG_ADD_APPLIED);
    r = rec("M", t + 70000, 5, 52, 0); /* repeated inside the batch */
    assert_int_equal(agg_state_add(st, 3, 105, &r, 0, &late, &exp), AGG_ADD_DUPLICATE);
    /* Unassigned partition. */
    assert_int_equal(agg_state_add(st, 4, 0, &r, 0, &late, &exp), AGG_ADD_UNASSIGNED);

    assert_true(agg_state_build(st, &b));
    assert_int_equal(b.nrecords, 3);
    assert_int_equal(b.nentries, 3); /* 14:00, 14:01, 14h */
    int64_t total1m = 0, total1h = 0;
    for (size_t i = 0; i < b.nentries; i++) {
        if (agg_key_width(b.entries[i].key) == AGG_W1M)
            total1m += b.entries[i].acc.count;
        else
            total1h += b.entries[i].acc.count;
        if (agg_key_width(b.entries[i].key) == AGG_W1H)
            assert_true(b.entries[i].acc.sum_kw == 9 && b.entries[i].acc.max_kw == 5);
    }
    assert_int_equal(total1m, 3);
    assert_int_equal(total1h, 3);
    /* The fence: stored 100, next 106 (the repeat at 105 moved the offset too). */
    assert_int_equal(b.nparts, 1);
    assert_int_equal(b.parts[0].expect, 100);
    assert_int_equal(b.parts[0].next, 106);
    assert_int_equal(b.nsrcs, 1);
    assert_int_equal(b.srcs[0].src.o, 52);
    assert_int_equal(b.srcs[0].src.i, 0);
    assert_int_equal(b.nstatuses, 1);
    assert_int_equal(b.statuses[0].ts, t + 70000);
    agg_state_committed(st);
    assert_int_equal(agg_state_next_offset(st, 3), 106);

    /* After the commit the batch is empty, and so is the next one. */
    assert_int_equal(agg_state_batch_records(st), 0);
    assert_false(agg_state_build(st, &b));
    /* Skipping an unparseable record still moves the offset (a batch to write). */
    agg_state_skip(st, 3, 106);
    assert_true(agg_state_build(st, &b));
    assert_int_equal(b.nentries, 0);
    assert_int_equal(b.parts[0].next, 107);
    agg_state_committed(st);
    agg_state_destroy(st);
}

static void test_batch_full(void **state)
{
    (void)state;
    struct agg_state *st = agg_state_new(3, 120000, 30000);
    bool late;
    int exp;
    agg_state_assign(st, 0, -1, AGG_WM_NONE, 0);
    for (int k = 0; k < 3; k++) {
        assert_false(agg_state_batch_full(st));
        struct agg_record r = rec("M", 1710511200000 + k * 3600000LL, 1, k + 1, 0);
        agg_state_add(st, 0, k, &r, 0, &late, &exp);
    }
    assert_true(agg_state_batch_full(st));
    agg_state_destroy(st);
}

static void test_memory_per_open_window(void **state)
{
    (void)state;
    /* 10,000 meters with a 1m and a 1h window open each, as in the benchmark. */
    struct agg_state *st = agg_state_new(20000, 120000, 30000);
    struct agg_batch b;
    bool late;
    int exp;
    agg_state_assign(st, 0, -1, AGG_WM_NONE, 0);
    for (int m = 0; m < 10000; m++) {
        char id[16];
        snprintf(id, sizeof id, "MTR-%05d", m);
        struct agg_record r = rec(id, 1710511200000, 1, m + 1, 0);
        agg_state_add(st, 0, m, &r, 0, &late, &exp);
    }
    agg_state_build(st, &b);
    agg_state_committed(st);
    size_t open = agg_state_open_windows(st), bytes = agg_state_memory_bytes(st);
    print_message("%zu open windows, %zu bytes: %.1f bytes per open window\n", open, bytes,
                  (double)bytes / (double)open);
    assert_int_equal(open, 20000);
    assert_true(bytes / open < 200);
    agg_state_destroy(st);
}

static int parse(const char *s, struct agg_record *r, char *why)
{
    return agg_record_parse(s, strlen(s), r, why, 256);
}

static void test_record_parser(void **state)
{
    (void)state;
    struct agg_record r;
    char why[256];
    const char *good =
        "{\"meter_id\":\"MTR-1\",\"ts\":\"2024-03-15T14:00:00.000Z\",\"value_kw\":1.25,"
        "\"source_value\":1250,\"source_unit\":\"W\",\"interval_s\":60,\"energy_kwh\":0.0208333,"
        "\"quality\":95,\"tier\":\"premium\",\"flags\":[\"unit_converted\"],\"reasons\":[],"
        "\"interpolated\":true,\"src\":{\"p\":3,\"o\":12345,\"i\":1}}";
    assert_int_equal(parse(good, &r, why), MF_OK);
    assert_string_equal(r.meter_id, "MTR-1");
    assert_int_equal(r.ts_ms, 1710511200000);
    assert_true(r.value_kw == 1.25 && r.energy_kwh == 0.0208333);
    assert_int_equal(r.quality, 95);
    assert_int_equal(r.tier, MF_TIER_PREMIUM);
    assert_true(r.interpolated);
    assert_int_equal(r.src.p, 3);
    assert_int_equal(r.src.o, 12345);
    assert_int_equal(r.src.i, 1);

    static const struct {
        const char *json, *why;
    } bad[] = {
        {"", "not a JSON object"},
        {"[]", "not a JSON object"},
        {"{\"meter_id\":1}", "'meter_id'"},
        {"{\"meter_id\":\"a b\"}", "meter_id"},
        {"{\"meter_id\":\"M\",\"ts\":\"2024-03-15T14:00:00Z\"}", "'value_kw'"},
        {"{\"meter_id\":\"M\",\"ts\":\"2024-03-15T14:00:00Z\",\"value_kw\":1e300,"
         "\"energy_kwh\":0,\"quality\":95,\"tier\":\"premium\",\"src\":{\"p\":0,\"o\":0,\"i\":0}}",
         "'value_kw'"},
        {"{\"meter_id\":\"M\",\"ts\":\"2024-03-15T14:00:00Z\",\"value_kw\":1,"
         "\"energy_kwh\":0,\"quality\":101,\"tier\":\"premium\",\"src\":{\"p\":0,\"o\":0,\"i\":0}}",
         "'quality'"},
        {"{\"meter_id\":\"M\",\"ts\":\"2024-03-15T14:00:00Z\",\"value_kw\":1,"
         "\"energy_kwh\":0,\"quality\":95,\"tier\":\"gold\",\"src\":{\"p\":0,\"o\":0,\"i\":0}}",
         "'tier'"},
        {"{\"meter_id\":\"M\",\"ts\":\"2024-03-15T14:00:00Z\",\"value_kw\":1,"
         "\"energy_kwh\":0,\"quality\":95,\"tier\":\"premium\",\"src\":{\"p\":0,\"o\":-1,\"i\":0}}",
         "'o'"},
        {"{\"meter_id\":\"M\",\"ts\":\"2024-03-15T14:00:00Z\",\"value_kw\":1,"
         "\"energy_kwh\":0,\"quality\":95,\"tier\":\"premium\",\"src\":[0,0,0]}",
         "'src'"},
        {"{\"meter_id\":\"M\",\"ts\":\"2024-03-15T14:00:00Z\",\"value_kw\":1,"
         "\"energy_kwh\":0,\"quality\":95,\"tier\":\"premium\",\"src\":{\"p\":0,\"o\":0,\"i\":0},"
         "\"interpolated\":\"no\"}",
         "'interpolated'"},
    };
    for (size_t i = 0; i < MF_ARRAY_LEN(bad); i++) {
        assert_int_equal(parse(bad[i].json, &r, why), MF_EDATA);
        if (!strstr(why, bad[i].why))
            fail_msg("case %zu: '%s' does not mention %s", i, why, bad[i].why);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_premerge_and_dedup),
        cmocka_unit_test(test_batch_full),
        cmocka_unit_test(test_memory_per_open_window),
        cmocka_unit_test(test_record_parser),
    };
    return cmocka_run_group_tests_name("agg_state", tests, NULL, NULL);
}
