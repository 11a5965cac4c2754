/*
 * test_wk_state: the hash index (put/get/delete under collisions and
 * growth), the state store (drop a partition), the changelog codec
 * (round trip, refused versions), and wk_proc's rule-1 retry: a failing
 * attempt leaves the state untouched, is retried per backoff, then goes
 * to the DLQ as processing_failed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wk_config.h"
#include "wk_proc.h"
#include "wk_registry.h"
#include "wk_rules.h"
#include "wk_state.h"
#include "mf_common.h"

static void test_store_many(void **unused)
{
    (void)unused;
    struct wk_store s;
    char id[32];
    wk_store_init(&s);
    for (int i = 0; i < 50000; i++) {
        int n = snprintf(id, sizeof id, "M%d", i);
        struct wk_state *st = wk_store_get_or_add(&s, id, (size_t)n, i % 12, NULL);
        st->offset = i;
    }
    assert_int_equal(s.n, 50000);
    for (int i = 0; i < 50000; i += 7) {
        int n = snprintf(id, sizeof id, "M%d", i);
        struct wk_state *st = wk_store_get(&s, id, (size_t)n);
        assert_non_null(st);
        assert_int_equal(st->offset, i);
    }
    uint32_t dropped = wk_store_drop_partition(&s, 5);
    assert_true(dropped > 4000);
    for (int i = 0; i < 50000; i++) {
        int n = snprintf(id, sizeof id, "M%d", i);
        struct wk_state *st = wk_store_get(&s, id, (size_t)n);
        if (i % 12 == 5) {
            assert_null(st);
        } else {
            assert_non_null(st);
            assert_int_equal(st->offset, i);
        }
    }
    assert_true(sizeof(struct wk_state) < 256);
    wk_store_release(&s);
}

static void test_codec(void **unused)
{
    (void)unused;
    struct wk_state a, b;
    unsigned char buf[WK_STATE_WIRE_LEN];
    char err[128];
    memset(&a, 0, sizeof a);
    memcpy(a.meter_id, "MTR-1", 5);
    a.id_len = 5;
    a.flags = WK_ST_HAS_LAST | WK_ST_DIRTY;
    a.faults = WK_FAULT_STUCK;
    a.partition = 7;
    a.offset = 123456789012LL;
    a.last_ts = 1710460800000LL;
    a.last_kw = 1.25;
    a.over_n = 3;
    a.day = 19797;
    a.b[3].n = 24;
    a.b[3].mean = 1.5f;
    a.b[3].m2 = 0.25f;
    wk_state_encode(&a, buf);
    assert_int_equal(wk_state_decode(buf, sizeof buf, "MTR-1", 5, &b, err, sizeof err), MF_OK);
    a.flags &= (uint8_t)~WK_ST_DIRTY; /* never on the wire */
    assert_memory_equal(&a, &b, sizeof a);
    buf[0] = 2;
    assert_int_equal(wk_state_decode(buf, sizeof buf, "MTR-1", 5, &b, err, sizeof err), MF_EDATA);
    buf[0] = 1;
    assert_int_equal(wk_state_decode(buf, 10, "MTR-1", 5, &b, err, sizeof err), MF_EDATA);
}

/* ---------------------------------------------------------------- retry */

struct sink {
    int n, dlq;
    char code[64];
};

static int sink_out(void *opaque, const struct wk_output *o)
{
    struct sink *s = opaque;
    s->n++;
    if (o->topic == WK_T_DLQ) {
        s->dlq++;
        snprintf(s->code, sizeof s->code, "%s", o->err_code);
    }
    return MF_OK;
}

static int fails_below;
static int attempts;

static int fail_hook(void *opaque, const char *meter, int attempt)
{
    (void)opaque;
    (void)meter;
    attempts++;
    return attempt < fails_below;
}

static struct wk_proc *proc_with(struct sink *s)
{
    struct wk_config cfg;
    struct wk_rules_cfg rc;
    char err[128];
    int64_t backoff[3] = {1, 2, 3}; /* ms: the mechanism, not the default 1 s, 5 s, 15 s */
    setenv("PG_DSN", "unused", 1);
    setenv("TS_CHECK", "off", 1);
    memset(&cfg, 0, sizeof cfg);
    assert_int_equal(wk_config_load(&cfg, err, sizeof err), MF_OK);
    wk_rules_cfg_from(&rc, &cfg);
    wk_config_release(&cfg);
    struct wk_proc *p = wk_proc_new(&rc, backoff, 3, sink_out, s);
    struct wk_registry *reg = wk_registry_new();
    struct wk_meter m;
    memset(&m, 0, sizeof m);
    memcpy(m.meter_id, "A", 1);
    m.id_len = 1;
    m.max_kw = 20;
    m.active = true;
    wk_registry_put(reg, &m);
    wk_proc_set_registry(p, reg);
    wk_proc_set_fail_hook(p, fail_hook, NULL);
    return p;
}

static const char r1[] =
    "{\"meter_id\":\"A\",\"ts\":\"2024-03-15T14:00:00Z\",\"value\":1,\"unit\":\"kW\"}";
static const char r2[] =
    "{\"meter_id\":\"A\",\"ts\":\"2024-03-15T14:01:00Z\",\"value\":2,\"unit\":\"kW\"}";

static void test_retry_then_success(void **unused)
{
    (void)unused;
    struct sink s = {0};
    struct wk_proc *p = proc_with(&s);
    fails_below = 2; /* two failures, then it works */
    attempts = 0;
    assert_int_equal(wk_proc_record(p, 0, 10, "A", 1, r1, strlen(r1), 0), MF_OK);
    assert_int_equal(attempts, 3);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.dlq, 0);
    struct wk_state *st = wk_store_get(wk_proc_store(p), "A", 1);
    assert_non_null(st);
    assert_int_equal(st->offset, 10);
    wk_proc_destroy(p);
}

static void test_retry_exhausted_goes_to_dlq(void **unused)
{
    (void)unused;
    struct sink s = {0};
    struct wk_proc *p = proc_with(&s);
    fails_below = 0;
    assert_int_equal(wk_proc_record(p, 0, 10, "A", 1, r1, strlen(r1), 0), MF_OK);
    fails_below = 100; /* never succeeds: 1 + 3 retries */
    attempts = 0;
    assert_int_equal(wk_proc_record(p, 0, 11, "A", 1, r2, strlen(r2), 0), MF_OK);
    assert_int_equal(attempts, 4);
    assert_int_equal(s.dlq, 1);
    assert_string_equal(s.code, "processing_failed");
    /* The failed attempts left the state as the first record made it. */
    struct wk_state *st = wk_store_get(wk_proc_store(p), "A", 1);
    assert_int_equal(st->offset, 10);
    assert_true(st->last_kw == 1.0);
    wk_proc_destroy(p);
}

static void test_skip_included(void **unused)
{
    (void)unused;
    struct sink s = {0};
    struct wk_proc *p = proc_with(&s);
    fails_below = 0;
    wk_proc_record(p, 0, 10, "A", 1, r1, strlen(r1), 0);
    wk_proc_record(p, 0, 10, "A", 1, r1, strlen(r1), 0); /* a repeat after a crash */
    assert_int_equal(s.n, 1);
    struct wk_counts c;
    wk_proc_take_counts(p, &c);
    assert_int_equal(c.skipped, 1);
    wk_proc_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_many),
        cmocka_unit_test(test_codec),
        cmocka_unit_test(test_retry_then_success),
        cmocka_unit_test(test_retry_exhausted_goes_to_dlq),
        cmocka_unit_test(test_skip_included),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
