/*
 * test_wk_state: the hash index (put/get/delete under collisions and
 * growth), the state store (drop a partition), the changelog codec
 * (round trip, refused versions, version 1 and 2 records still restored),
 * meter IDs on both sides of WK_ID_INLINE, the adaptive rate-of-change
 * statistics in the state, RULE_ROC_MODE, and wk_proc's rule-1 retry: a
 * failing attempt leaves the state untouched, is retried per backoff, then goes to the DLQ as
 * processing_failed.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
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
    assert_true(sizeof(struct wk_state) <= 208); /* docs/worker.md: under 256 B of RSS a meter */
    wk_store_release(&s);
}

/*
 * IDs up to WK_ID_INLINE bytes live in the struct, longer ones in a heap
 * copy the store owns: both are found, survive the swap that deleting and
 * dropping a partition make, and are freed (ASan's leak check).
 */
static void test_store_long_ids(void **unused)
{
    (void)unused;
    struct wk_store s;
    char id[MF_METER_ID_MAX + 1];
    wk_store_init(&s);
    for (int len = 30; len <= MF_METER_ID_MAX; len++) {
        memset(id, 'a' + len % 26, (size_t)len);
        struct wk_state *st = wk_store_get_or_add(&s, id, (size_t)len, len % 3, NULL);
        st->offset = len;
    }
    wk_store_del(&s, id, 35); /* absent: 'a' + 35 % 26 differs */
    memset(id, 'a' + 36 % 26, 36);
    wk_store_del(&s, id, 36);
    assert_int_equal(wk_store_drop_partition(&s, 1), 12);
    for (int len = 30; len <= MF_METER_ID_MAX; len++) {
        memset(id, 'a' + len % 26, (size_t)len);
        struct wk_state *st = wk_store_get(&s, id, (size_t)len);
        if (len == 36 || len % 3 == 1) {
            assert_null(st);
            continue;
        }
        assert_non_null(st);
        assert_int_equal(st->offset, len);
        assert_int_equal(st->id_len, len);
        assert_memory_equal(wk_state_id(st), id, (size_t)len);
    }
    wk_store_release(&s);
}

static void sample_state(struct wk_state *a)
{
    memset(a, 0, sizeof *a);
    memcpy(a->meter_id, "MTR-1", 5);
    a->id_len = 5;
    a->flags = WK_ST_HAS_LAST | WK_ST_DIRTY;
    a->faults = WK_FAULT_STUCK;
    a->partition = 7;
    a->offset = 123456789012LL;
    a->last_ts = 1710460800000LL;
    a->last_kw = 1.25;
    a->over_n = 3;
    a->day = 19797;
    a->b_n[3] = 24;
    a->b[3].mean = 1.5f;
    a->b[3].m2 = 0.25f;
    a->roc_level = 0.3125f;
    a->roc_spread = 0.0625f;
    a->roc_n = 4000000000u;
    a->roc_high[0] = 1;
    a->roc_high[1] = 32768;
    a->roc_high[3] = 65535;
}

static void test_codec(void **unused)
{
    (void)unused;
    struct wk_state a, b;
    unsigned char buf[WK_STATE_WIRE_LEN];
    char err[128];
    sample_state(&a);
    wk_state_encode(&a, buf);
    assert_int_equal(buf[0], WK_STATE_VERSION);
    assert_int_equal(wk_state_decode(buf, sizeof buf, "MTR-1", 5, &b, err, sizeof err), MF_OK);
    a.flags &= (uint8_t)~WK_ST_DIRTY; /* never on the wire */
    assert_memory_equal(&a, &b, sizeof a);
    buf[0] = WK_STATE_VERSION + 1;
    assert_int_equal(wk_state_decode(buf, sizeof buf, "MTR-1", 5, &b, err, sizeof err), MF_EDATA);
    buf[0] = 0;
    assert_int_equal(wk_state_decode(buf, sizeof buf, "MTR-1", 5, &b, err, sizeof err), MF_EDATA);
    buf[0] = WK_STATE_VERSION;
    assert_int_equal(wk_state_decode(buf, 10, "MTR-1", 5, &b, err, sizeof err), MF_EDATA);
    assert_int_equal(wk_state_decode(buf, WK_STATE_V1_WIRE_LEN, "MTR-1", 5, &b, err, sizeof err),
                     MF_EDATA); /* version 3 cut to version 1's length */
    assert_int_equal(wk_state_decode(buf, WK_STATE_V2_WIRE_LEN, "MTR-1", 5, &b, err, sizeof err),
                     MF_EDATA); /* and to version 2's */
    assert_int_equal(wk_state_decode(buf, 0, "MTR-1", 5, &b, err, sizeof err), MF_EDATA);
}

/* The bytes of a version 1 record (the old layout spelled out, not made by today's encoder). */
static void v1_record(unsigned char *v1)
{
    unsigned char *p = v1;
    memset(v1, 0, WK_STATE_V1_WIRE_LEN);
    *p++ = 1;                              /* version */
    *p++ = WK_ST_HAS_LAST | WK_ST_LAST_OK; /* flags */
    *p++ = WK_FAULT_ZERO;                  /* faults */
    p++;                                   /* reserved */
    p[0] = 5, p += 4;                      /* partition 5 */
    p[0] = 0x2a, p[1] = 0x01, p += 8;      /* offset 298 */
    p[0] = 0x00, p[1] = 0x5c, p[2] = 0x43, p[3] = 0x3e, p[4] = 0x8e, p[5] = 0x01, p += 8;
    memcpy(p, (const unsigned char[8]){0, 0, 0, 0, 0, 0, 0xf4, 0x3f}, 8), p += 8; /* 1.25 */
    p += 3 * 8;                       /* zero_since, stuck_since, over_since */
    p[0] = 2, p += 4;                 /* over_n */
    p[0] = 0x55, p[1] = 0x4d, p += 4; /* day 19797 */
    p += 8;                           /* first_day, lv_since */
    p += 3 * 12;                      /* buckets 0..2 */
    p[0] = 24, p += 4;                /* b[3].n */
    memcpy(p, (const unsigned char[4]){0, 0, 0xc0, 0x3f}, 4); /* b[3].mean 1.5 */
}

/* No quarter of the day has a high yet. */
static bool no_highs(const struct wk_state *b)
{
    for (int q = 0; q < WK_ROC_BANDS; q++)
        if (b->roc_high[q] != 0)
            return false;
    return true;
}

/* The fields v1_record sets. */
static void check_v1_fields(const struct wk_state *b)
{
    assert_int_equal(b->flags, WK_ST_HAS_LAST | WK_ST_LAST_OK);
    assert_int_equal(b->faults, WK_FAULT_ZERO);
    assert_int_equal(b->partition, 5);
    assert_int_equal(b->offset, 298);
    assert_int_equal(b->last_ts, 0x018e3e435c00LL);
    assert_true(b->last_kw == 1.25);
    assert_int_equal(b->over_n, 2);
    assert_int_equal(b->day, 19797);
    assert_int_equal(b->b_n[3], 24);
    assert_true(b->b[3].mean == 1.5f);
    assert_memory_equal(b->meter_id, "MTR-1", 5);
}

/*
 * A version 1 record, as workers before the adaptive rate-of-change rule
 * wrote it (the bytes of the old layout, spelled out here rather than made
 * by today's encoder), restores everything it has; the rule's statistics
 * start empty. Its length must be exactly the old one.
 */
static void test_codec_v1(void **unused)
{
    (void)unused;
    unsigned char v1[WK_STATE_V1_WIRE_LEN];
    struct wk_state b;
    char err[128];
    v1_record(v1);
    assert_int_equal(wk_state_decode(v1, sizeof v1, "MTR-1", 5, &b, err, sizeof err), MF_OK);
    check_v1_fields(&b);
    assert_true(b.roc_level == 0 && b.roc_spread == 0 && b.roc_n == 0);
    assert_true(no_highs(&b));
    /* Re-encoded, it is a version 3 record with the same fields. */
    unsigned char v3[WK_STATE_WIRE_LEN];
    struct wk_state c;
    wk_state_encode(&b, v3);
    assert_int_equal(v3[0], 3);
    assert_memory_equal(v3 + 1, v1 + 1, WK_STATE_V1_WIRE_LEN - 1);
    assert_int_equal(wk_state_decode(v3, sizeof v3, "MTR-1", 5, &c, err, sizeof err), MF_OK);
    assert_memory_equal(&b, &c, sizeof b);
    /* A version 1 record of any other length is refused. */
    v3[0] = 1;
    assert_int_equal(wk_state_decode(v3, sizeof v3, "MTR-1", 5, &c, err, sizeof err), MF_EDATA);
    assert_non_null(strstr(err, "168"));
    /* A day count beyond the 16 bits the state keeps saturates. */
    v1[108] = 0x70, v1[109] = 0x11, v1[110] = 0x01; /* b[3].n 70000 */
    assert_int_equal(wk_state_decode(v1, sizeof v1, "MTR-1", 5, &b, err, sizeof err), MF_OK);
    assert_int_equal(b.b_n[3], WK_BUCKET_N_MAX);
}

/* Runs one kW reading of meter "R" (interval 60 s, max_kw 20) through the rules. */
static void roc_feed(const struct wk_rules_cfg *rc, struct wk_state *st, int64_t ts, double kw,
                     struct wk_result *res)
{
    struct wk_meter m;
    struct mf_reading r;
    memset(&m, 0, sizeof m);
    memset(&r, 0, sizeof r);
    memcpy(m.meter_id, "R", 1);
    m.id_len = 1;
    m.active = true;
    m.interval_s = 60;
    m.max_kw = 20;
    memcpy(r.meter_id, "R", 1);
    r.ts_ms = ts;
    r.value = kw;
    r.unit = MF_UNIT_KW;
    wk_rules_apply(rc, &r, &m, st, 0, res);
}

/* The rules' configuration as deployed (adaptive), TS_CHECK off. */
static void adaptive_cfg(struct wk_rules_cfg *rc)
{
    struct wk_config cfg;
    char err[256];
    setenv("PG_DSN", "unused", 1);
    setenv("TS_CHECK", "off", 1);
    unsetenv("RULE_ROC_MODE");
    memset(&cfg, 0, sizeof cfg);
    assert_int_equal(wk_config_load(&cfg, err, sizeof err), MF_OK);
    wk_rules_cfg_from(rc, &cfg);
    wk_config_release(&cfg);
}

/*
 * A version 2 record, as workers before the quarter-of-day highs wrote it
 * (version 1 with the level, spread and count appended), restores them; the
 * highs start empty.
 */
static void test_codec_v2(void **unused)
{
    (void)unused;
    unsigned char v2[WK_STATE_V2_WIRE_LEN];
    struct wk_state b, c;
    char err[128];
    v1_record(v2);
    v2[0] = 2;
    unsigned char *p = v2 + WK_STATE_V1_WIRE_LEN;
    memcpy(p, (const unsigned char[4]){0, 0, 0xa0, 0x3e}, 4), p += 4; /* roc_level 0.3125 */
    memcpy(p, (const unsigned char[4]){0, 0, 0x80, 0x3d}, 4), p += 4; /* roc_spread 0.0625 */
    p[0] = 0xa0, p[1] = 0x0f, p[2] = 0, p[3] = 0;                     /* roc_n 4000 */
    assert_int_equal(wk_state_decode(v2, sizeof v2, "MTR-1", 5, &b, err, sizeof err), MF_OK);
    check_v1_fields(&b);
    assert_true(b.roc_level == 0.3125f && b.roc_spread == 0.0625f && b.roc_n == 4000);
    assert_true(no_highs(&b));
    unsigned char v3[WK_STATE_WIRE_LEN];
    wk_state_encode(&b, v3);
    assert_memory_equal(v3 + 1, v2 + 1, WK_STATE_V2_WIRE_LEN - 1);
    v3[0] = 2;
    assert_int_equal(wk_state_decode(v3, sizeof v3, "MTR-1", 5, &c, err, sizeof err), MF_EDATA);
    assert_non_null(strstr(err, "180"));
    /* Warm (4000 minutes): a quarter's first reading starts its high at the
     * old spike line, level + 9 spreads = 0.3125 + 9 x max(0.0625, 0.05). */
    struct wk_rules_cfg rc;
    struct wk_result res;
    adaptive_cfg(&rc);
    int64_t t = b.last_ts + 60000;
    int band = (int)(t / (86400000 / WK_ROC_BANDS) % WK_ROC_BANDS);
    roc_feed(&rc, &b, t, 0.4, &res);
    assert_int_equal(res.flags, 0);
    for (int q = 0; q < WK_ROC_BANDS; q++)
        assert_int_equal(b.roc_high[q], q == band ? 32768 + lrint(log2(0.875) * 1024) : 0);
}

/* RULE_ROC_MODE takes seed or adaptive; anything else fails naming the variable. */
static void test_roc_mode_config(void **unused)
{
    (void)unused;
    struct wk_config cfg;
    char err[256];
    setenv("PG_DSN", "unused", 1);
    setenv("RULE_ROC_MODE", "median", 1);
    memset(&cfg, 0, sizeof cfg);
    assert_int_equal(wk_config_load(&cfg, err, sizeof err), MF_EDATA);
    assert_non_null(strstr(err, "RULE_ROC_MODE"));
    wk_config_release(&cfg);
    setenv("RULE_ROC_MODE", "seed", 1);
    memset(&cfg, 0, sizeof cfg);
    assert_int_equal(wk_config_load(&cfg, err, sizeof err), MF_OK);
    assert_int_equal(cfg.roc_mode, WK_ROC_SEED);
    wk_config_release(&cfg);
    unsetenv("RULE_ROC_MODE");
    memset(&cfg, 0, sizeof cfg);
    assert_int_equal(wk_config_load(&cfg, err, sizeof err), MF_OK);
    assert_int_equal(cfg.roc_mode, WK_ROC_ADAPTIVE); /* the default: it measures better */
    wk_config_release(&cfg);
}

/*
 * The statistics in the state: the first reading sets the level, only
 * in-limits readings count, one glitch moves the level by one step, the
 * spread by at most 9 spreads' worth (wk_rules' ROC_CAP_K) and its quarter's
 * high by one step up (2^(198/1024)), the other quarters' not at all; the
 * high settles at the 99th percentile; the state with them survives the
 * changelog.
 */
static void test_roc_state(void **unused)
{
    (void)unused;
    struct wk_rules_cfg rc;
    struct wk_result res;
    struct wk_state st;
    char err[256];
    adaptive_cfg(&rc);
    memset(&st, 0, sizeof st);
    st.offset = -1;

    int64_t t = 1709251200000LL;
    roc_feed(&rc, &st, t, 0.4, &res);
    assert_true(st.roc_level == 0.4f && st.roc_spread == 0 && st.roc_n == 1);
    roc_feed(&rc, &st, t += 60000, -1, &res); /* negative: rejected, not learnt */
    roc_feed(&rc, &st, t += 60000, 25, &res); /* over max_kw: rejected, not learnt */
    assert_int_equal(st.roc_n, 1);
    for (int i = 0; i < 3000; i++)
        roc_feed(&rc, &st, t += 60000, i % 2 ? 0.3 : 0.5, &res);
    assert_int_equal(st.roc_n, 3001);
    assert_true(st.roc_level >= 0.3f && st.roc_level <= 0.5f);
    assert_true(fabs(st.roc_spread - 0.1) < 0.02);
    /* 3000 minutes cover every quarter; the 99th percentile of 0.3/0.5 is 0.5. */
    for (int q = 0; q < WK_ROC_BANDS; q++) {
        double high = exp2((st.roc_high[q] - 32768.0) / 1024.0);
        assert_true(high >= 0.49 && high <= 0.5 * exp2(198 / 1024.0) * 1.001);
    }
    uint16_t highs[WK_ROC_BANDS];
    memcpy(highs, st.roc_high, sizeof highs);
    int band = (int)((t + 60000) / (86400000 / WK_ROC_BANDS) % WK_ROC_BANDS);
    float level = st.roc_level, spread = st.roc_spread;
    roc_feed(&rc, &st, t + 60000, 19, &res); /* a glitch */
    assert_true(res.flags & (1u << WK_F_SPIKE));
    double step = fmax(spread, rc.roc_min_kw) / 3001.0;
    assert_true(st.roc_level - level <= step * 1.001 + 1e-7);
    assert_true(st.roc_spread - spread <= 9 * fmax(spread, rc.roc_min_kw) / 3001.0 + 1e-6);
    for (int q = 0; q < WK_ROC_BANDS; q++)
        assert_int_equal(st.roc_high[q], highs[q] + (q == band ? 198 : 0));
    unsigned char buf[WK_STATE_WIRE_LEN];
    struct wk_state back;
    memcpy(st.meter_id, "R", 1);
    st.id_len = 1;
    wk_state_encode(&st, buf);
    assert_int_equal(wk_state_decode(buf, sizeof buf, "R", 1, &back, err, sizeof err), MF_OK);
    assert_true(back.roc_level == st.roc_level && back.roc_spread == st.roc_spread &&
                back.roc_n == st.roc_n);
    assert_memory_equal(back.roc_high, st.roc_high, sizeof st.roc_high);
}

/* ---------------------------------------------------------------- retry */

struct sink {
    int n, dlq;
    char code[64];
    enum wk_topic topic; /* the last output's */
    char last[2048];
};

static int sink_out(void *opaque, const struct wk_output *o)
{
    struct sink *s = opaque;
    s->n++;
    s->topic = o->topic;
    snprintf(s->last, sizeof s->last, "%.*s", (int)o->len, (const char *)o->value);
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

/* ---------------------------------------------------------------- override */

/* A human's approval (DESIGN §14): to validated at quality 70, standard, the state untouched. */
static void test_override(void **unused)
{
    (void)unused;
    struct sink s = {0};
    struct wk_proc *p = proc_with(&s);
    struct wk_counts c;
    fails_below = 0;
    assert_int_equal(wk_proc_record(p, 0, 10, "A", 1, r1, strlen(r1), 0), MF_OK);
    wk_proc_take_counts(p, &c);

    /* 5000 W would be over A's 20 kW... it is 5 kW; and out of order, and a spike: rules 3-8
     * skipped. */
    static const char ov[] =
        "{\"meter_id\":\"A\",\"ts\":\"2024-03-15T13:00:00Z\",\"value\":50000,\"unit\":\"W\"}";
    assert_int_equal(wk_proc_record_override(p, 0, 11, "A", 1, ov, strlen(ov), 0), MF_OK);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.topic, WK_T_VALIDATED);
    assert_non_null(strstr(s.last, "\"value_kw\":50,"));
    assert_non_null(strstr(s.last, "\"quality\":70,"));
    assert_non_null(strstr(s.last, "\"tier\":\"standard\""));
    assert_non_null(strstr(s.last, "\"flags\":[\"unit_converted\",\"manual_override\"]"));
    assert_non_null(strstr(s.last, "\"reasons\":[]"));
    assert_non_null(strstr(s.last, "\"src\":{\"p\":0,\"o\":11,\"i\":0}"));
    struct wk_state *st = wk_store_get(wk_proc_store(p), "A", 1);
    assert_int_equal(st->offset, 10);
    assert_true(st->last_kw == 1.0);
    assert_int_equal(st->last_ts, 1710511200000); /* 14:00, not the approved 13:00 */
    wk_proc_take_counts(p, &c);
    assert_int_equal(c.outcome[WK_VALIDATED], 1);
    assert_int_equal(c.flags[WK_F_MANUAL_OVERRIDE], 1);

    /* An unregistered meter too (rule 3 skipped), and no state is made for it. */
    static const char ob[] = "{\"meter_id\":\"B\",\"ts\":\"2024-03-15T14:00:00Z\",\"value\":3}";
    assert_int_equal(wk_proc_record_override(p, 0, 12, "B", 1, ob, strlen(ob), 0), MF_OK);
    assert_int_equal(s.topic, WK_T_VALIDATED);
    assert_non_null(strstr(s.last, "\"quality\":70,"));
    assert_null(wk_store_get(wk_proc_store(p), "B", 1));

    /* A unit the approval does not resolve still rejects it: 50 of what? */
    static const char oa[] = "{\"meter_id\":\"A\",\"ts\":\"2024-03-15T14:00:30Z\",\"value\":50}";
    assert_int_equal(wk_proc_record_override(p, 0, 13, "A", 1, oa, strlen(oa), 0), MF_OK);
    assert_int_equal(s.topic, WK_T_QUARANTINE);
    assert_non_null(strstr(s.last, "\"reasons\":[\"unit_ambiguous\"]"));
    assert_non_null(strstr(s.last, "manual_override"));

    /* The meter's next reading continues from its own last one (1 kW at 14:00). */
    assert_int_equal(wk_proc_record(p, 0, 14, "A", 1, r2, strlen(r2), 0), MF_OK);
    assert_int_equal(s.topic, WK_T_VALIDATED);
    assert_non_null(strstr(s.last, "\"quality\":100,"));
    assert_int_equal(st->offset, 14);
    wk_proc_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_many),
        cmocka_unit_test(test_store_long_ids),
        cmocka_unit_test(test_codec),
        cmocka_unit_test(test_codec_v1),
        cmocka_unit_test(test_codec_v2),
        cmocka_unit_test(test_roc_mode_config),
        cmocka_unit_test(test_roc_state),
        cmocka_unit_test(test_retry_then_success),
        cmocka_unit_test(test_retry_exhausted_goes_to_dlq),
        cmocka_unit_test(test_skip_included),
        cmocka_unit_test(test_override),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
