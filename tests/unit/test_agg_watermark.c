/*
 * Unit tests for the watermark (agg_watermark) and how the state closes
 * windows with it (agg_state_build): lateness, never backwards, the idle
 * flush by wall clock, late readings, and the closes per partition.
 * Clocks are passed in, so nothing sleeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mf_time.h"
#include "agg_state.h"
#include "agg_watermark.h"
#include "mf_common.h"

#define MIN  60000LL
#define LATE (120 * 1000LL)
#define IDLE (30 * 1000LL)

static int64_t ts(const char *s)
{
    int64_t ms;
    char why[128];
    assert_int_equal(mf_time_parse_rfc3339(s, strlen(s), &ms, why, sizeof why), MF_OK);
    return ms;
}

static void test_watermark_basics(void **state)
{
    (void)state;
    struct agg_watermark w;
    int64_t t0 = ts("2024-03-15T14:00:00Z");
    agg_watermark_init(&w, AGG_WM_NONE, 0);
    assert_false(agg_watermark_passed(&w, 0)); /* nothing closes before any data */
    assert_true(agg_watermark_observe(&w, t0, LATE, 10));
    assert_int_equal(w.wm, t0 - LATE);
    /* Older events never move it back. */
    assert_false(agg_watermark_observe(&w, t0 - 10 * MIN, LATE, 20));
    assert_int_equal(w.wm, t0 - LATE);
    assert_true(agg_watermark_observe(&w, t0 + 1, LATE, 30));
    /* A window ending exactly at the watermark is closed; one ms later is not. */
    assert_true(agg_watermark_passed(&w, t0 + 1 - LATE));
    assert_false(agg_watermark_passed(&w, t0 + 2 - LATE));
    /* A stored watermark is where a new owner starts. */
    agg_watermark_init(&w, t0, 0);
    assert_true(agg_watermark_passed(&w, t0));
    assert_false(agg_watermark_observe(&w, t0 + LATE - 1, LATE, 1));
}

static void test_idle_flush(void **state)
{
    (void)state;
    struct agg_watermark w;
    int64_t t0 = ts("2013-06-01T00:00:00Z"), wall = ts("2024-03-15T14:00:00Z");
    agg_watermark_init(&w, AGG_WM_NONE, 1000);
    agg_watermark_observe(&w, t0, LATE, 1000);
    /* Not idle yet (29.999 s). */
    assert_false(agg_watermark_idle(&w, wall, 1000 + IDLE - 1, LATE, IDLE));
    assert_int_equal(w.wm, t0 - LATE);
    /* Idle: jumps to wall clock minus lateness, so replayed history closes. */
    assert_true(agg_watermark_idle(&w, wall, 1000 + IDLE, LATE, IDLE));
    assert_int_equal(w.wm, wall - LATE);
    /* Never backwards, also not by a wall clock that stepped back. */
    assert_false(agg_watermark_idle(&w, wall - 3600000, 1000 + 2 * IDLE, LATE, IDLE));
    assert_int_equal(w.wm, wall - LATE);
    /* A record resets the idle timer. */
    agg_watermark_observe(&w, t0, LATE, 5000000);
    assert_false(agg_watermark_idle(&w, wall + MIN, 5000000 + IDLE - 1, LATE, IDLE));
    assert_true(agg_watermark_idle(&w, wall + MIN, 5000000 + IDLE, LATE, IDLE));
}

static struct agg_record rec(const char *meter, int64_t t, int64_t o)
{
    struct agg_record r;
    memset(&r, 0, sizeof r);
    snprintf(r.meter_id, sizeof r.meter_id, "%s", meter);
    r.ts_ms = t;
    r.value_kw = 1.0;
    r.quality = 95;
    r.tier = MF_TIER_PREMIUM;
    r.src.p = 0;
    r.src.o = o;
    return r;
}

/* How many closes of width w the batch has. */
static size_t closes(const struct agg_batch *b, enum agg_width w)
{
    size_t n = 0;
    for (size_t i = 0; i < b->ncloses; i++)
        n += agg_key_width(b->closes[i].key) == w;
    return n;
}

static void test_state_closes(void **state)
{
    (void)state;
    struct agg_state *st = agg_state_new(100, LATE, IDLE);
    struct agg_batch b;
    bool late;
    int exp;
    int64_t t0 = ts("2024-03-15T14:00:30Z");
    agg_state_assign(st, 0, -1, AGG_WM_NONE, 0);
    agg_state_assign(st, 1, -1, AGG_WM_NONE, 0);

    struct agg_record r = rec("A", t0, 1);
    assert_int_equal(agg_state_add(st, 0, 0, &r, 0, &late, &exp), AGG_ADD_APPLIED);
    assert_false(late);
    assert_true(agg_state_build(st, &b));
    assert_int_equal(b.nentries, 2);
    assert_int_equal(b.ncloses, 0); /* watermark 13:58:30: 14:00 still open */
    agg_state_committed(st);
    assert_int_equal(agg_state_open_windows(st), 2);

    /* 14:03:00 arrives: watermark 14:01:00 passes the 14:00 minute's end. */
    r = rec("A", t0 + 150000, 2);
    agg_state_add(st, 0, 1, &r, 0, &late, &exp);
    assert_true(agg_state_build(st, &b));
    assert_int_equal(closes(&b, AGG_W1M), 1);
    assert_int_equal(closes(&b, AGG_W1H), 0);
    assert_int_equal(agg_key_start(b.closes[0].key), ts("2024-03-15T14:00:00Z"));
    agg_state_committed(st);

    /* A late reading for 14:00: merged, marked late, its window closes again (no-op in SQL). */
    r = rec("A", t0 + 10000, 3);
    assert_int_equal(agg_state_add(st, 0, 2, &r, 0, &late, &exp), AGG_ADD_APPLIED);
    assert_true(late);
    assert_true(agg_state_build(st, &b));
    assert_int_equal(closes(&b, AGG_W1M), 1);
    agg_state_committed(st);

    /* Partition 1's watermark is its own: data there closes nothing of partition 0. */
    r = rec("B", t0 + 7200000, 1);
    agg_state_add(st, 1, 0, &r, 0, &late, &exp);
    assert_true(agg_state_build(st, &b));
    assert_int_equal(b.ncloses, 0);
    agg_state_committed(st);

    /* Idle flush: wall clock 17:05 (watermark 17:03), both partitions quiet for 30 s. */
    assert_true(agg_state_tick(st, ts("2024-03-15T17:05:00Z"), IDLE));
    assert_true(agg_state_build(st, &b));
    assert_int_equal(closes(&b, AGG_W1M), 2); /* A 14:03, B 16:00 */
    assert_int_equal(closes(&b, AGG_W1H), 2); /* A 14h, B 16h */
    agg_state_committed(st);
    assert_int_equal(agg_state_open_windows(st), 0);
    /* Nothing left: no transaction needed. */
    assert_false(agg_state_build(st, &b));
    agg_state_destroy(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_watermark_basics),
        cmocka_unit_test(test_idle_flush),
        cmocka_unit_test(test_state_closes),
    };
    return cmocka_run_group_tests_name("agg_watermark", tests, NULL, NULL);
}
