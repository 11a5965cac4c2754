/*
 * Unit tests for the aggregator's part of the binary wire codec
 * (agg_copy; the stream's own bytes are test_pgcopy's): a window's
 * aggregate columns written and read back exactly (the test the text
 * codec had, now on the codec in use), a window no column may hold
 * refused, and rollup rows read from a binary result built the way libpq
 * hands one over.
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
#include <libpq-fe.h>

#include "mf_buf.h"
#include "agg_copy.h"
#include "agg_funcs.h"
#include "agg_record.h"
#include "mf_common.h"

/* A window of the given values (quality 95, 75, 10 in turn; every third interpolated). */
static struct agg_acc window_of(const double *v, size_t n)
{
    struct agg_acc acc = {0}, one;
    for (size_t i = 0; i < n; i++) {
        struct agg_record r;
        memset(&r, 0, sizeof r);
        snprintf(r.meter_id, sizeof r.meter_id, "MTR-1");
        r.value_kw = v[i];
        r.energy_kwh = v[i] / 60.0;
        r.quality = i % 3 == 0 ? 95 : i % 3 == 1 ? 75 : 10;
        r.tier = mf_tier_of(r.quality, false);
        r.interpolated = i % 3 == 2;
        agg_acc_init(i ? &one : &acc, &r);
        if (i)
            agg_acc_merge(&acc, &one);
    }
    return acc;
}

/*
 * Splits a run of binary COPY fields into values and lengths (at most
 * max), as PostgreSQL hands them to typrecv; returns how many.
 */
static size_t split_fields(const struct mf_buf *b, const char **vals, int *lens, size_t max)
{
    size_t n = 0, at = 0;
    while (at < b->len) {
        assert_true(n < max && at + 4 <= b->len);
        const unsigned char *p = (const unsigned char *)b->data + at;
        int len = p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
        assert_true(len >= 0 && at + 4 + (size_t)len <= b->len);
        vals[n] = b->data + at + 4;
        lens[n++] = len;
        at += 4 + (size_t)len;
    }
    return n;
}

/* Was the text codec's round trip: the same window, on the binary codec the commit uses. */
static void test_acc_round_trip(void **state)
{
    (void)state;
    struct mf_buf b = MF_BUF_INIT;
    double v[] = {0.1, 1e-300, 123456.789, 2.0 / 3.0};
    struct agg_acc a = window_of(v, 4), back;
    const char *vals[32];
    int lens[32];

    assert_int_equal(agg_copy_put_acc(&b, &a), MF_OK);
    size_t n = split_fields(&b, vals, lens, MF_ARRAY_LEN(vals));
    assert_int_equal(n, agg_funcs_count);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(lens[i], 8); /* bigint and float8 alike */
    memset(&back, 0xa5, sizeof back);
    assert_int_equal(agg_copy_get_acc(&back, vals, lens), MF_OK);
    assert_memory_equal(&a, &back, sizeof a);
    assert_int_equal(back.count, 4);
    assert_int_equal(back.premium, 2);
    assert_int_equal(back.standard, 1);
    assert_int_equal(back.interpolated, 1);
    assert_true(back.min_kw == 1e-300 && back.max_kw == 123456.789);

    /* A value of the wrong size is malformed, as "1.5x" was in text. */
    lens[1] = 7;
    assert_int_equal(agg_copy_get_acc(&back, vals, lens), MF_EDATA);
    lens[1] = 8;
    /* A bigint may come as int4 (any integer type PostgreSQL sends). */
    static const char four[4] = {0, 0, 0, 9};
    vals[0] = four;
    lens[0] = 4;
    assert_int_equal(agg_copy_get_acc(&back, vals, lens), MF_OK);
    assert_int_equal(back.count, 9);
    mf_buf_release(&b);
}

/* NaN and infinities: no column holds one, so no window with one is written. */
static void test_non_finite_refused(void **state)
{
    (void)state;
    struct mf_buf b = MF_BUF_INIT;
    double v[] = {1.5, 2.5};
    const double bad[] = {NAN, INFINITY, -INFINITY};
    for (size_t k = 0; k < MF_ARRAY_LEN(bad); k++) {
        struct agg_acc a = window_of(v, 2);
        a.m2 = bad[k];
        mf_buf_reset(&b);
        assert_int_equal(agg_copy_put_acc(&b, &a), MF_EDATA);
        mf_buf_reset(&b);
        assert_int_equal(agg_copy_put_acc_rollup(&b, &a), MF_EDATA);
    }
    mf_buf_release(&b);
}

/* ---------------------------------------------------------------- rollup rows */

/* A binary result with the rollup row layout and no rows yet. */
static PGresult *rows_result(int ncols)
{
    PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    PGresAttDesc cols[32];
    assert_non_null(res);
    assert_true(ncols <= (int)MF_ARRAY_LEN(cols));
    memset(cols, 0, sizeof cols);
    for (int i = 0; i < ncols; i++) {
        cols[i].name = (char *)"c";
        cols[i].format = 1;
        cols[i].typlen = -1;
    }
    assert_int_equal(PQsetResultAttrs(res, ncols, cols), 1);
    return res;
}

/* Appends row r: meter id, window start, revision (int4), the window's columns. */
static void add_row(PGresult *res, int r, const char *id, int64_t start_ms, int32_t rev,
                    const struct agg_acc *a)
{
    struct mf_buf b = MF_BUF_INIT;
    const char *vals[32];
    int lens[32];

    assert_int_equal(PQsetvalue(res, r, 0, (char *)id, (int)strlen(id)), 1);
    mf_pgcopy_put_ts(&b, start_ms);
    assert_int_equal(PQsetvalue(res, r, 1, b.data + 4, 8), 1);
    mf_buf_reset(&b);
    mf_pgcopy_put_i32(&b, rev);
    assert_int_equal(PQsetvalue(res, r, 2, b.data + 4, 4), 1);
    mf_buf_reset(&b);
    assert_int_equal(agg_copy_put_acc(&b, a), MF_OK);
    size_t n = split_fields(&b, vals, lens, MF_ARRAY_LEN(vals));
    for (size_t i = 0; i < n; i++)
        assert_int_equal(PQsetvalue(res, r, 3 + (int)i, (char *)vals[i], lens[i]), 1);
    mf_buf_release(&b);
}

static void test_read_rows(void **state)
{
    (void)state;
    const int64_t start = 1710511200000; /* 2024-03-15T14:00:00Z */
    double v1[] = {0.9, 1.8, 1.05}, v2[] = {4.0};
    struct agg_acc a1 = window_of(v1, 3), a2 = window_of(v2, 1);
    struct agg_rows out = {0};
    char err[128];

    PGresult *res = rows_result(3 + (int)agg_funcs_count);
    add_row(res, 0, "MTR-78910", start, 1, &a1);
    add_row(res, 1, "MTR-2", start + 3600000, 2, &a2);

    /* The merge: revision 1 is a first close, a later one a republish. */
    assert_int_equal(agg_copy_read_rows(res, AGG_W1H, AGG_FIRST_REV1, &out, err, sizeof err),
                     MF_OK);
    assert_int_equal(out.n, 2);
    assert_string_equal(out.v[0].meter_id, "MTR-78910");
    assert_int_equal(out.v[0].width, AGG_W1H);
    assert_true(out.v[0].start == start);
    assert_int_equal(out.v[0].revision, 1);
    assert_true(out.v[0].first_close);
    assert_memory_equal(&out.v[0].acc, &a1, sizeof a1);
    assert_string_equal(out.v[1].meter_id, "MTR-2");
    assert_true(out.v[1].start == start + 3600000);
    assert_int_equal(out.v[1].revision, 2);
    assert_false(out.v[1].first_close);
    assert_memory_equal(&out.v[1].acc, &a2, sizeof a2);

    /* Appended; the close UPDATE's rows are all first closes, the outbox's none. */
    assert_int_equal(agg_copy_read_rows(res, AGG_W1M, AGG_FIRST_ALWAYS, &out, err, sizeof err),
                     MF_OK);
    assert_int_equal(out.n, 4);
    assert_true(out.v[2].first_close && out.v[3].first_close);
    assert_int_equal(out.v[3].width, AGG_W1M);
    out.n = 0;
    assert_int_equal(agg_copy_read_rows(res, AGG_W1M, AGG_FIRST_NEVER, &out, err, sizeof err),
                     MF_OK);
    assert_false(out.v[0].first_close || out.v[1].first_close);

    /* A malformed row: the rows before it stay, the bad one is not kept. */
    char long_id[66];
    memset(long_id, 'M', 65);
    long_id[65] = '\0';
    add_row(res, 2, long_id, start, 1, &a1);
    out.n = 0;
    assert_int_equal(agg_copy_read_rows(res, AGG_W1H, AGG_FIRST_REV1, &out, err, sizeof err),
                     MF_EFATAL);
    assert_int_equal(out.n, 2);
    assert_string_equal(err, "malformed rollup row from PostgreSQL");
    PQclear(res);

    /* A value of the wrong size (a float8 sent as 4 bytes). */
    res = rows_result(3 + (int)agg_funcs_count);
    add_row(res, 0, "MTR-1", start, 1, &a1);
    assert_int_equal(PQsetvalue(res, 0, 4, (char *)"\0\0\0\0", 4), 1);
    out.n = 0;
    assert_int_equal(agg_copy_read_rows(res, AGG_W1H, AGG_FIRST_REV1, &out, err, sizeof err),
                     MF_EFATAL);
    assert_int_equal(out.n, 0);
    PQclear(res);

    /* Not the rollup layout at all. */
    res = rows_result(3);
    assert_int_equal(agg_copy_read_rows(res, AGG_W1H, AGG_FIRST_REV1, &out, err, sizeof err),
                     MF_EFATAL);
    assert_string_equal(err, "rollup rows from PostgreSQL have 3 columns");
    PQclear(res);
    agg_rows_release(&out);
    assert_null(out.v);
    assert_int_equal(out.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acc_round_trip),
        cmocka_unit_test(test_non_finite_refused),
        cmocka_unit_test(test_read_rows),
    };
    return cmocka_run_group_tests_name("agg_copy", tests, NULL, NULL);
}
