/*
 * Unit tests for the binary COPY codec (common/mf_pgcopy): the PGCOPY
 * stream's bytes (header, tuple, each field type, NULL, trailer) against
 * the format's definition, values no column may hold refused both ways,
 * and integers of each width read back. (mf_pgcopy_send talks to a
 * server: the aggregator's and source-sink's integration tests run it.)
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mf_buf.h"
#include "mf_pgcopy.h"
#include "mf_common.h"

/* Asserts that b holds exactly the n bytes of want. */
static void assert_bytes(const struct mf_buf *b, const void *want, size_t n)
{
    assert_int_equal(b->len, n);
    assert_memory_equal(b->data, want, n);
}

static void test_stream_bytes(void **state)
{
    (void)state;
    struct mf_buf b = MF_BUF_INIT;

    /* Signature, flags (no OIDs), header extension length 0. */
    mf_pgcopy_begin(&b);
    assert_bytes(&b, "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0", 19);
    mf_pgcopy_begin(&b); /* begins anew */
    assert_int_equal(b.len, 19);

    mf_buf_reset(&b);
    mf_pgcopy_put_tuple(&b, 15);
    assert_bytes(&b, "\0\017", 2);
    mf_buf_reset(&b);
    assert_int_equal(mf_pgcopy_put_i16(&b, -2), MF_OK);
    assert_bytes(&b, "\0\0\0\2\377\376", 6);
    mf_buf_reset(&b);
    assert_int_equal(mf_pgcopy_put_i32(&b, 0x01020304), MF_OK);
    assert_bytes(&b, "\0\0\0\4\1\2\3\4", 8);
    mf_buf_reset(&b);
    assert_int_equal(mf_pgcopy_put_i64(&b, -1), MF_OK);
    assert_bytes(&b, "\0\0\0\10\377\377\377\377\377\377\377\377", 12);
    mf_buf_reset(&b);
    assert_int_equal(mf_pgcopy_put_f64(&b, 1.0), MF_OK); /* 0x3ff0000000000000 */
    assert_bytes(&b, "\0\0\0\10\77\360\0\0\0\0\0\0", 12);
    mf_buf_reset(&b);
    mf_pgcopy_put_text(&b, "MTR-1");
    assert_bytes(&b, "\0\0\0\5MTR-1", 9);
    mf_buf_reset(&b);
    mf_pgcopy_put_bool(&b, true);
    mf_pgcopy_put_bool(&b, false);
    assert_bytes(&b, "\0\0\0\1\1\0\0\0\1\0", 10);

    /* timestamptz: microseconds since 2000-01-01, either side of it. */
    mf_buf_reset(&b);
    mf_pgcopy_put_ts(&b, MF_PGCOPY_EPOCH_MS + 1);
    assert_bytes(&b, "\0\0\0\10\0\0\0\0\0\0\3\350", 12); /* 1000 */
    int64_t us;
    mf_buf_reset(&b);
    mf_pgcopy_put_ts(&b, 0); /* 1970: before the PostgreSQL epoch */
    assert_int_equal(mf_pgcopy_get_int(b.data + 4, 8, &us), MF_OK);
    assert_true(us == -MF_PGCOPY_EPOCH_MS * 1000);

    /* NULL: length -1 and no value. */
    mf_buf_reset(&b);
    mf_pgcopy_put_null(&b);
    assert_bytes(&b, "\377\377\377\377", 4);

    mf_buf_reset(&b);
    mf_pgcopy_end(&b);
    assert_bytes(&b, "\377\377", 2);
    mf_buf_release(&b);
}

/* NaN and infinities: no column holds one, so none is written or accepted back. */
static void test_non_finite_refused(void **state)
{
    (void)state;
    struct mf_buf b = MF_BUF_INIT;
    const double bad[] = {NAN, INFINITY, -INFINITY};
    for (size_t k = 0; k < MF_ARRAY_LEN(bad); k++) {
        mf_buf_reset(&b);
        assert_int_equal(mf_pgcopy_put_f64(&b, bad[k]), MF_EDATA);
        assert_int_equal(b.len, 0);

        /* The same bits coming back. */
        uint64_t bits;
        unsigned char be[8];
        double d = bad[k], out = 7;
        memcpy(&bits, &d, sizeof bits);
        for (int i = 0; i < 8; i++)
            be[i] = (unsigned char)(bits >> (56 - 8 * i));
        assert_int_equal(mf_pgcopy_get_f64((const char *)be, 8, &out), MF_EDATA);
        assert_true(out == 7);
    }
    double out;
    assert_int_equal(mf_pgcopy_get_f64("\77\360\0\0\0\0\0\0", 8, &out), MF_OK);
    assert_true(out == 1.0);
    assert_int_equal(mf_pgcopy_get_f64("\77\360\0\0", 4, &out), MF_EDATA);
    mf_buf_release(&b);
}

static void test_get_int(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(mf_pgcopy_get_int("\377\376", 2, &v), MF_OK);
    assert_true(v == -2);
    assert_int_equal(mf_pgcopy_get_int("\200\0\0\0", 4, &v), MF_OK);
    assert_true(v == INT32_MIN);
    assert_int_equal(mf_pgcopy_get_int("\0\0\0\1\0\0\0\0", 8, &v), MF_OK);
    assert_true(v == 4294967296LL);
    assert_int_equal(mf_pgcopy_get_int("\0\0\1", 3, &v), MF_EDATA);
    assert_int_equal(mf_pgcopy_get_int("", 0, &v), MF_EDATA);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_bytes),
        cmocka_unit_test(test_non_finite_refused),
        cmocka_unit_test(test_get_int),
    };
    return cmocka_run_group_tests_name("pgcopy", tests, NULL, NULL);
}
