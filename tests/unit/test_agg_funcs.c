/*
 * Unit tests for the aggregate rows (agg_funcs): the parallel-variance
 * merge against a two-pass computation over random splits and merge
 * orders, extreme and constant inputs, the table's fields and column types
 * (what agg_copy writes and reads by), and the rollup JSON of DESIGN §3.4.
 * The wire round trip of a window is test_agg_copy's.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "mf_buf.h"
#include "agg_funcs.h"
#include "agg_publish.h"
#include "mf_common.h"

static uint64_t rng = 0x243f6a8885a308d3ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static double unit(void)
{
    return (double)(next() >> 11) / 9007199254740992.0;
}

static struct agg_record rec_of(double v, int q, bool interp)
{
    struct agg_record r;
    memset(&r, 0, sizeof r);
    snprintf(r.meter_id, sizeof r.meter_id, "MTR-1");
    r.value_kw = v;
    r.energy_kwh = v / 60.0;
    r.quality = q;
    r.tier = mf_tier_of(q, false);
    r.interpolated = interp;
    return r;
}

/* Two passes in long double: mean first, then squared deviations. */
static void two_pass(const double *v, size_t n, long double *mean, long double *m2)
{
    long double s = 0;
    for (size_t i = 0; i < n; i++)
        s += v[i];
    *mean = s / n;
    *m2 = 0;
    for (size_t i = 0; i < n; i++)
        *m2 += (v[i] - *mean) * (v[i] - *mean);
}

/* Splits v into random partials, builds each by adding, merges them in random order. */
static struct agg_acc merged_random(const double *v, size_t n)
{
    struct agg_acc parts[16];
    size_t np = 1 + next() % 16, used = 0;
    bool have[16] = {false};
    for (size_t i = 0; i < n; i++) {
        size_t p = next() % np;
        struct agg_record r = rec_of(v[i], 90, false);
        struct agg_acc one;
        agg_acc_init(&one, &r);
        if (!have[p]) {
            parts[p] = one;
            have[p] = true;
        } else {
            agg_acc_merge(&parts[p], &one);
        }
    }
    struct agg_acc total;
    bool started = false;
    /* Merge order: a random rotation, pairwise into the total. */
    size_t first = next() % np;
    for (size_t k = 0; k < np; k++) {
        size_t p = (first + k) % np;
        if (!have[p])
            continue;
        if (!started) {
            total = parts[p];
            started = true;
        } else {
            agg_acc_merge(&total, &parts[p]);
        }
        used++;
    }
    assert_true(used > 0);
    return total;
}

static void test_variance_merge_vs_two_pass(void **state)
{
    (void)state;
    for (int round = 0; round < 500; round++) {
        size_t n = 1 + next() % 400;
        double *v = malloc(n * sizeof *v);
        double offset = round % 3 == 0 ? 1e6 : 0; /* large mean, small spread: cancellation */
        for (size_t i = 0; i < n; i++)
            v[i] = offset + unit() * (round % 5 == 0 ? 0.001 : 20.0);
        long double mean, m2;
        two_pass(v, n, &mean, &m2);
        struct agg_acc a = merged_random(v, n);
        assert_int_equal(a.count, (int64_t)n);
        assert_true(fabsl(a.sum_kw / (long double)n - mean) <= 1e-12L * (1 + fabsl(mean)));
        /*
         * Chan's merge has no sum-of-squares cancellation: the error is
         * relative to the variance, except that a partial's mean carries
         * the rounding of sums near the data's magnitude (ulp(1e6) ~ 1e-10):
         * with a spread of 1e-3 around 1e6 that leaves about 6 good digits,
         * which bounds what any double computation can do there.
         */
        long double var = m2 / n, got = a.m2 / (double)n;
        long double tol = 1e-9L * var + (offset ? 1e-5L * var + 1e-19L : 1e-24L);
        if (fabsl(got - var) > tol)
            fail_msg("round %d n %zu: m2/n %.17Lg, two-pass %.17Lg", round, n, got, var);
        double mn = v[0], mx = v[0];
        for (size_t i = 0; i < n; i++) {
            mn = v[i] < mn ? v[i] : mn;
            mx = v[i] > mx ? v[i] : mx;
        }
        assert_true(a.min_kw == mn && a.max_kw == mx);
        free(v);
    }
}

static void test_constant_and_single(void **state)
{
    (void)state;
    double v[50];
    for (int i = 0; i < 50; i++)
        v[i] = 0.1;
    struct agg_acc a = merged_random(v, 50);
    assert_true(fabs(a.m2) < 1e-25);
    assert_true(agg_acc_stddev(&a) < 1e-13);
    struct agg_record r = rec_of(3.5, 80, true);
    agg_acc_init(&a, &r);
    assert_int_equal(a.count, 1);
    assert_true(a.m2 == 0 && a.sum_kw == 3.5 && a.min_kw == 3.5 && a.max_kw == 3.5);
    assert_int_equal(a.premium, 0);
    assert_int_equal(a.standard, 1);
    assert_int_equal(a.interpolated, 1);
    /* One reading: population 0, sample undefined (null in JSON, as SQL's stddev()). */
    assert_true(agg_acc_stddev(&a) == 0);
    assert_true(isnan(agg_acc_stddev_samp(&a)));
    struct mf_buf b = MF_BUF_INIT;
    assert_int_equal(agg_acc_emit(&a, &b), MF_OK);
    assert_non_null(strstr(b.data, ",\"stddev_kw\":null,\"stddev_pop_kw\":0,"));
    mf_buf_release(&b);
    /* A negative m2 from rounding is clamped, never NaN. */
    a.m2 = -1e-18;
    assert_true(agg_acc_stddev(&a) == 0);
    a.count = 2;
    assert_true(agg_acc_stddev_samp(&a) == 0);
}

static void test_counters(void **state)
{
    (void)state;
    struct agg_acc a, one;
    struct agg_record r1 = rec_of(1, 95, false), r2 = rec_of(2, 75, true),
                      r3 = rec_of(3, 10, false);
    agg_acc_init(&a, &r1);
    agg_acc_init(&one, &r2);
    agg_acc_merge(&a, &one);
    agg_acc_init(&one, &r3);
    agg_acc_merge(&a, &one);
    assert_int_equal(a.count, 3);
    assert_int_equal(a.premium, 1);
    assert_int_equal(a.standard, 1);
    assert_int_equal(a.interpolated, 1);
    assert_true(a.quality_sum == 180);
    assert_true(fabs(a.energy_kwh - 6.0 / 60.0) < 1e-15);
    assert_true(fabs(a.m2 - 2.0) < 1e-15); /* values 1, 2, 3: mean 2, M2 = 2 */
}

/*
 * Each row names one field of struct agg_acc, of its column's type, and
 * together they cover the struct: agg_copy writes and reads a window by
 * these offsets and types alone.
 */
static void test_table_fields(void **state)
{
    (void)state;
    struct {
        const char *column;
        size_t offset;
        enum agg_col_type type;
    } want[] = {
        {"count", offsetof(struct agg_acc, count), AGG_COL_INT8},
        {"sum_kw", offsetof(struct agg_acc, sum_kw), AGG_COL_FLOAT8},
        {"min_kw", offsetof(struct agg_acc, min_kw), AGG_COL_FLOAT8},
        {"max_kw", offsetof(struct agg_acc, max_kw), AGG_COL_FLOAT8},
        {"m2", offsetof(struct agg_acc, m2), AGG_COL_FLOAT8},
        {"energy_kwh", offsetof(struct agg_acc, energy_kwh), AGG_COL_FLOAT8},
        {"quality_sum", offsetof(struct agg_acc, quality_sum), AGG_COL_FLOAT8},
        {"premium", offsetof(struct agg_acc, premium), AGG_COL_INT8},
        {"standard", offsetof(struct agg_acc, standard), AGG_COL_INT8},
        {"interpolated", offsetof(struct agg_acc, interpolated), AGG_COL_INT8},
    };
    size_t bytes = 0;
    assert_int_equal(agg_funcs_count, MF_ARRAY_LEN(want));
    for (size_t i = 0; i < agg_funcs_count; i++) {
        assert_string_equal(agg_funcs[i].column, want[i].column); /* COPY and SELECT order */
        assert_int_equal(agg_funcs[i].offset, want[i].offset);
        assert_int_equal(agg_funcs[i].type, want[i].type);
        bytes += agg_funcs[i].type == AGG_COL_INT8 ? sizeof(int64_t) : sizeof(double);
    }
    assert_int_equal(bytes, sizeof(struct agg_acc)); /* every field, none twice */
}

static void test_rollup_json(void **state)
{
    (void)state;
    struct agg_row row;
    struct mf_buf b = MF_BUF_INIT;
    memset(&row, 0, sizeof row);
    snprintf(row.meter_id, sizeof row.meter_id, "MTR-78910");
    row.width = AGG_W1H;
    row.start = 1710511200000; /* 2024-03-15T14:00:00Z */
    row.revision = 2;
    double v[] = {0.9, 1.8, 1.05};
    row.acc = merged_random(v, 3);
    assert_int_equal(agg_rollup_json(&row, &b), MF_OK);
    cJSON *j = cJSON_Parse(b.data);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "meter_id")->valuestring, "MTR-78910");
    assert_string_equal(cJSON_GetObjectItem(j, "width")->valuestring, "1h");
    assert_string_equal(cJSON_GetObjectItem(j, "window_start")->valuestring,
                        "2024-03-15T14:00:00.000Z");
    assert_int_equal(cJSON_GetObjectItem(j, "count")->valueint, 3);
    assert_true(fabs(cJSON_GetObjectItem(j, "avg_kw")->valuedouble - 1.25) < 1e-12);
    assert_true(cJSON_GetObjectItem(j, "min_kw")->valuedouble == 0.9);
    assert_true(cJSON_GetObjectItem(j, "max_kw")->valuedouble == 1.8);
    /* {0.9, 1.8, 1.05}: m2 = 0.465; sample (stddev()) and population (stddev_pop()). */
    assert_true(fabs(cJSON_GetObjectItem(j, "stddev_kw")->valuedouble - sqrt(0.465 / 2)) < 1e-12);
    assert_true(fabs(cJSON_GetObjectItem(j, "stddev_pop_kw")->valuedouble - sqrt(0.465 / 3)) <
                1e-12);
    assert_int_equal(cJSON_GetObjectItem(j, "premium")->valueint, 3);
    assert_int_equal(cJSON_GetObjectItem(j, "revision")->valueint, 2);
    static const char *const fields[] = {
        "meter_id", "width",    "window_start", "count",         "sum_kw",     "avg_kw",
        "min_kw",   "max_kw",   "stddev_kw",    "stddev_pop_kw", "energy_kwh", "quality_avg",
        "premium",  "standard", "interpolated", "revision"};
    const cJSON *f = j->child;
    for (size_t i = 0; i < MF_ARRAY_LEN(fields); i++, f = f->next) {
        assert_non_null(f);
        assert_string_equal(f->string, fields[i]); /* DESIGN §3.4 order */
    }
    assert_null(f);
    cJSON_Delete(j);
    mf_buf_release(&b);
}

/*
 * The closes' JSON encoded while the batch commits (agg_prejson) is what
 * publishing each row would encode, byte for byte; any other row (read
 * back, or after a reset) is encoded when asked. Closes published from
 * their merge's row (a merged minute, a late hour) are not encoded ahead.
 */
static void test_prejson(void **state)
{
    (void)state;
    static const char *const ids[] = {"MTR-00001", "MTR-00002", "a.b:c-d_e"};
    struct agg_close closes[8];
    double v[] = {0.5, 2.25, 1.125, 0.001};
    for (size_t i = 0; i < MF_ARRAY_LEN(closes); i++) {
        enum agg_width w = i % 2 ? AGG_W1H : AGG_W1M;
        int64_t start = 1710460800000 + (int64_t)i * agg_widths[w].ms;
        closes[i] = (struct agg_close){.meter_id = ids[i % 3],
                                       .key = agg_window_key(w, start),
                                       .part = (int32_t)i,
                                       .acc = merged_random(v, 1 + i % 4)};
    }
    closes[6].merged = true; /* a minute: from the merge's row */
    closes[7].late = true;   /* an hour: likewise */
    closes[5].merged = true; /* an hour merged into but not late: from memory */
    struct agg_prejson pj = {0};
    struct mf_buf want = MF_BUF_INIT, scratch = MF_BUF_INIT;
    struct agg_row row;
    const char *json;
    size_t len;
    agg_prejson_encode(&pj, closes, MF_ARRAY_LEN(closes));
    for (size_t i = 0; i < MF_ARRAY_LEN(closes); i++) {
        agg_row_from_close(&row, closes, i);
        if (!agg_close_from_memory(&closes[i])) {
            assert_true(i >= 6);
            assert_int_equal(agg_prejson_get(&pj, &row, &scratch, &json, &len), MF_OK);
            assert_ptr_equal(json, scratch.data); /* encoded when asked */
            continue;
        }
        assert_int_equal(row.close_no, i + 1);
        assert_int_equal(row.revision, 1);
        assert_true(row.first_close);
        mf_buf_reset(&want);
        assert_int_equal(agg_rollup_json(&row, &want), MF_OK);
        assert_int_equal(agg_prejson_get(&pj, &row, &scratch, &json, &len), MF_OK);
        assert_int_equal(len, want.len);
        assert_memory_equal(json, want.data, len);
        assert_true(json < pj.buf.data + pj.buf.len && json >= pj.buf.data); /* not encoded again */
        /* A row read back (close_no 0) with another revision: encoded now, its own bytes. */
        row.close_no = 0;
        row.revision = 3;
        mf_buf_reset(&want);
        assert_int_equal(agg_rollup_json(&row, &want), MF_OK);
        assert_int_equal(agg_prejson_get(&pj, &row, &scratch, &json, &len), MF_OK);
        assert_ptr_equal(json, scratch.data);
        assert_int_equal(len, want.len);
        assert_memory_equal(json, want.data, len);
    }
    /* Emptied (a new batch not encoded yet): every row is encoded when asked. */
    agg_prejson_reset(&pj);
    agg_row_from_close(&row, closes, 2);
    assert_int_equal(agg_prejson_get(&pj, &row, &scratch, &json, &len), MF_OK);
    assert_ptr_equal(json, scratch.data);
    assert_int_equal(agg_prejson_get(NULL, &row, &scratch, &json, &len), MF_OK);
    assert_ptr_equal(json, scratch.data);
    agg_prejson_release(&pj);
    mf_buf_release(&want);
    mf_buf_release(&scratch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_variance_merge_vs_two_pass),
        cmocka_unit_test(test_constant_and_single),
        cmocka_unit_test(test_counters),
        cmocka_unit_test(test_table_fields),
        cmocka_unit_test(test_rollup_json),
        cmocka_unit_test(test_prejson),
    };
    return cmocka_run_group_tests_name("agg_funcs", tests, NULL, NULL);
}
