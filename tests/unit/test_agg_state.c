/*
 * Unit tests for the batch state (agg_state) and the record parser
 * (agg_record): pre-merge per (meter, window), a worker's repeats dropped
 * by src order, offsets below the stored one dropped, what a batch hands
 * PostgreSQL (positions, fence values, statuses), the memory per open
 * window, which windows are new to PostgreSQL and the content a closing
 * window is published with, and parser edge cases.
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

static const struct agg_entry *entry_of(const struct agg_batch *b, const char *meter,
                                        enum agg_width w)
{
    for (size_t i = 0; i < b->nentries; i++)
        if (strcmp(b->entries[i].meter_id, meter) == 0 && agg_key_width(b->entries[i].key) == w)
            return &b->entries[i];
    return NULL;
}

static const struct agg_close *close_of(const struct agg_batch *b, const char *meter,
                                        enum agg_width w)
{
    for (size_t i = 0; i < b->ncloses; i++)
        if (strcmp(b->closes[i].meter_id, meter) == 0 && agg_key_width(b->closes[i].key) == w)
            return &b->closes[i];
    return NULL;
}

/*
 * 011: which 1-minute windows are new to PostgreSQL (appended, not merged),
 * and the content a closing window is published with (what was loaded plus
 * every committed batch, never read back).
 */
static void test_fresh_and_content(void **state)
{
    (void)state;
    struct agg_state *st = agg_state_new(1000, 120000, 30000);
    struct agg_batch b;
    bool late;
    int exp;
    const int64_t t0 = 1710511200000; /* 14:00:00 */
    /* Stored watermark 14:05: windows ending by then are closed in PostgreSQL. */
    agg_state_assign(st, 0, 10, t0 + 5 * 60000, 0);
    /* A's 14:06 window is open in PostgreSQL with two readings (sum 4). */
    struct agg_acc loaded = {2, 4, 1, 3, 2, 0.1, 160, 0, 2, 0};
    agg_state_load_open(st, "A", 0, agg_window_key(AGG_W1M, t0 + 6 * 60000), &loaded);

    struct agg_record r = rec("A", t0 + 6 * 60000 + 5000, 5, 1, 0);
    assert_int_equal(agg_state_add(st, 0, 10, &r, 0, &late, &exp), AGG_ADD_APPLIED);
    r = rec("B", t0 + 7 * 60000 + 10000, 2, 2, 0); /* a window nobody wrote */
    assert_int_equal(agg_state_add(st, 0, 11, &r, 0, &late, &exp), AGG_ADD_APPLIED);
    r = rec("C", t0 + 2 * 60000, 7, 3, 0); /* its window closed before: may exist */
    assert_int_equal(agg_state_add(st, 0, 12, &r, 0, &late, &exp), AGG_ADD_APPLIED);
    assert_true(late);
    assert_true(agg_state_build(st, &b));
    assert_false(entry_of(&b, "A", AGG_W1M)->fresh); /* open: merged */
    assert_true(entry_of(&b, "B", AGG_W1M)->fresh);  /* appended */
    assert_false(entry_of(&b, "B", AGG_W1M)->close);
    assert_false(entry_of(&b, "C", AGG_W1M)->fresh); /* late: merged, born closed */
    assert_true(entry_of(&b, "C", AGG_W1M)->close);
    assert_true(close_of(&b, "C", AGG_W1M)->merged);
    assert_null(close_of(&b, "A", AGG_W1M));
    agg_state_committed(st);

    /* 14:20 moves the watermark past A's and B's minutes: they close from memory. */
    r = rec("D", t0 + 20 * 60000, 1, 4, 0);
    assert_int_equal(agg_state_add(st, 0, 13, &r, 0, &late, &exp), AGG_ADD_APPLIED);
    assert_true(agg_state_build(st, &b));
    const struct agg_close *a = close_of(&b, "A", AGG_W1M), *bb = close_of(&b, "B", AGG_W1M);
    assert_non_null(a);
    assert_non_null(bb);
    assert_false(a->merged);
    assert_int_equal(a->acc.count, 3);
    assert_true(a->acc.sum_kw == 9 && a->acc.max_kw == 5 && a->acc.min_kw == 1);
    assert_int_equal(bb->acc.count, 1);
    assert_true(bb->acc.sum_kw == 2);
    /* A window opened and committed again after its close is not fresh: it exists now. */
    agg_state_committed(st);
    r = rec("B", t0 + 7 * 60000 + 20000, 2, 5, 0);
    assert_int_equal(agg_state_add(st, 0, 14, &r, 0, &late, &exp), AGG_ADD_APPLIED);
    assert_true(agg_state_build(st, &b));
    assert_false(entry_of(&b, "B", AGG_W1M)->fresh);
    agg_state_destroy(st);
}

/*
 * 012: a closing hour carries its whole content (what was open before the
 * batch plus the batch's partial), since it is written once from it; late
 * data into an hour closed before is flagged late and carries only itself.
 */
/* Adds r consumed at offset off of partition 0. */
static enum agg_add_result add_at(struct agg_state *st, int64_t off, struct agg_record r)
{
    bool late;
    int exp;
    return agg_state_add(st, 0, off, &r, 0, &late, &exp);
}

static void test_hour_close_content(void **state)
{
    (void)state;
    struct agg_state *st = agg_state_new(1000, 120000, 30000);
    const int64_t t0 = 1710511200000, hour = 3600000; /* 14:00:00 */
    struct agg_batch b;
    /* Stored watermark 15:01: the 14:00 hour is closed (stored), 15:00 open. */
    agg_state_assign(st, 0, 10, t0 + hour + 60000, 0);
    struct agg_acc loaded = {2, 4, 1, 3, 2, 0.1, 160, 0, 2, 0};
    agg_state_load_open(st, "A", 0, agg_window_key(AGG_W1H, t0 + hour), &loaded);

    /* Into the open hour; late (the 14:00 hour closed before); an hour nobody held
     * (fresh); and 16:05, which moves the watermark to 16:03: 15:00 closes. */
    assert_int_equal(add_at(st, 10, rec("A", t0 + hour + 30 * 60000, 5, 1, 0)), AGG_ADD_APPLIED);
    assert_int_equal(add_at(st, 11, rec("C", t0 + 30 * 60000, 7, 2, 0)), AGG_ADD_APPLIED);
    assert_int_equal(add_at(st, 12, rec("E", t0 + hour + 10 * 60000, 3, 3, 0)), AGG_ADD_APPLIED);
    assert_int_equal(add_at(st, 13, rec("B", t0 + 2 * hour + 5 * 60000, 1, 4, 0)), AGG_ADD_APPLIED);
    assert_true(agg_state_build(st, &b));

    const struct agg_close *a = close_of(&b, "A", AGG_W1H);
    assert_non_null(a);
    assert_true(a->merged && !a->late);
    assert_int_equal(a->acc.count, 3);
    assert_true(a->acc.sum_kw == 9 && a->acc.max_kw == 5 && a->acc.min_kw == 1);
    assert_true(entry_of(&b, "A", AGG_W1H)->known);
    const struct agg_close *c = close_of(&b, "C", AGG_W1H);
    assert_non_null(c);
    assert_true(c->merged && c->late);
    assert_int_equal(c->acc.count, 1);
    const struct agg_close *e = close_of(&b, "E", AGG_W1H);
    assert_non_null(e);
    assert_true(e->merged && !e->late);
    assert_true(e->acc.count == 1 && e->acc.sum_kw == 3);
    assert_true(entry_of(&b, "E", AGG_W1H)->fresh);
    assert_null(close_of(&b, "B", AGG_W1H));
    assert_true(entry_of(&b, "B", AGG_W1H)->fresh);
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
        cmocka_unit_test(test_premerge_and_dedup),     cmocka_unit_test(test_batch_full),
        cmocka_unit_test(test_memory_per_open_window), cmocka_unit_test(test_fresh_and_content),
        cmocka_unit_test(test_hour_close_content),     cmocka_unit_test(test_record_parser),
    };
    return cmocka_run_group_tests_name("agg_state", tests, NULL, NULL);
}
