/*
 * Unit tests for ss_copy (a batch's vehicle reports as the COPY streams
 * source-sink sends): the history sorted by (vehicle, ts) with a repeat
 * within the batch kept once (the first consumed), the status one row per
 * vehicle at its newest report (of equal times the last consumed), an
 * absent optional number as NULL, and an empty batch as empty streams.
 * The streams are read back field by field as PostgreSQL would.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mf_pgcopy.h"
#include "ss_batch.h"
#include "ss_copy.h"
#include "mf_common.h"

#define T0 1710460800000LL /* 2024-03-15T00:00:00Z */

static int any_vehicle(void *opaque, enum mf_source_kind k, const char *id, int *interval_s)
{
    (void)opaque, (void)k, (void)id, (void)interval_s;
    return 1;
}

/* A report of vehicle v at T0 + min minutes with soc (battery_temp only when temp >= 0). */
static void add(struct ss_batch *b, int64_t off, const char *v, int min, double soc, int temp)
{
    char val[200];
    int n = snprintf(val, sizeof val, "{\"vehicle_id\":\"%s\",\"ts\":%lld,\"soc_pct\":%g", v,
                     (long long)(T0 + min * 60000LL), soc);
    if (temp >= 0)
        n += snprintf(val + n, sizeof val - (size_t)n, ",\"battery_temp_c\":%d", temp);
    snprintf(val + n, sizeof val - (size_t)n, "}");
    assert_int_equal(
        ss_batch_add(b, MF_SRC_VEHICLE, 0, off, NULL, 0, val, strlen(val), any_vehicle, NULL), 1);
}

/* One row read back from a stream: text, ts, then doubles (NaN: NULL). */
struct row {
    char id[65];
    int64_t ts;
    double num[3];
    int null[3];
};

/* Reads a whole stream of rows of nfields fields; returns how many. */
static size_t read_stream(const struct mf_buf *b, int16_t nfields, struct row *out, size_t max)
{
    const unsigned char *p = (const unsigned char *)b->data;
    size_t at = 19, n = 0;
    assert_true(b->len >= 21);
    assert_memory_equal(p, "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0", 19);
    for (;;) {
        int16_t nf = (int16_t)(p[at] << 8 | p[at + 1]);
        at += 2;
        if (nf == -1)
            break;
        assert_int_equal(nf, nfields);
        assert_true(n < max);
        struct row *r = &out[n++];
        memset(r, 0, sizeof *r);
        for (int f = 0; f < nf; f++) {
            int32_t len = (int32_t)((uint32_t)p[at] << 24 | (uint32_t)p[at + 1] << 16 |
                                    (uint32_t)p[at + 2] << 8 | p[at + 3]);
            at += 4;
            const char *v = (const char *)p + at;
            if (f == 0) {
                assert_true(len > 0 && len < 65);
                memcpy(r->id, v, (size_t)len);
            } else if (f == 1) {
                int64_t us;
                assert_int_equal(mf_pgcopy_get_int(v, len, &us), MF_OK);
                r->ts = us / 1000 + MF_PGCOPY_EPOCH_MS;
            } else if (len == -1) {
                r->null[f - 2] = 1;
                len = 0;
            } else {
                assert_int_equal(mf_pgcopy_get_f64(v, len, &r->num[f - 2]), MF_OK);
            }
            at += (size_t)len;
        }
    }
    assert_int_equal(at, b->len);
    return n;
}

static void test_order_repeats_newest(void **state)
{
    (void)state;
    struct ss_batch b;
    struct ss_copy c;
    struct row rows[16];
    memset(rows, 0, sizeof rows);
    ss_batch_init(&b);
    ss_copy_init(&c);

    add(&b, 0, "EV-2", 5, 50, 20);
    add(&b, 1, "EV-1", 3, 40, -1);
    add(&b, 2, "EV-2", 1, 45, 21);
    add(&b, 3, "EV-2", 5, 51, 22); /* a repeat of offset 0: the first is kept */
    add(&b, 4, "EV-1", 9, 42, 23);
    add(&b, 5, "EV-1", 9, 43, 24); /* same newest time: the status takes the last consumed */
    add(&b, 6, "EV-10", 2, 60, 25);
    assert_int_equal(ss_copy_vehicles(&c, &b), MF_OK);

    assert_int_equal(c.nhistory, 5);
    assert_int_equal(c.repeats, 2);
    assert_int_equal(read_stream(&c.history, 5, rows, 16), 5);
    static const struct {
        const char *id;
        int min;
        double soc;
    } want[] = {
        {"EV-1", 3, 40}, {"EV-1", 9, 42}, {"EV-10", 2, 60}, {"EV-2", 1, 45}, {"EV-2", 5, 50}};
    for (size_t i = 0; i < MF_ARRAY_LEN(want); i++) {
        assert_string_equal(rows[i].id, want[i].id);
        assert_true(rows[i].ts == T0 + want[i].min * 60000LL);
        assert_true(rows[i].num[0] == want[i].soc);
        assert_true(rows[i].null[1] == 1); /* kwh_delivered_dc: absent in every report */
    }
    assert_true(rows[0].null[2] == 1); /* EV-1 at 3 sent no battery_temp */
    assert_true(rows[4].null[2] == 0 && rows[4].num[2] == 20);

    assert_int_equal(c.nstatus, 3);
    assert_int_equal(read_stream(&c.status, 4, rows, 16), 3);
    assert_string_equal(rows[0].id, "EV-1");
    assert_true(rows[0].ts == T0 + 9 * 60000LL && rows[0].num[0] == 43 && rows[0].num[1] == 24);
    assert_string_equal(rows[1].id, "EV-10");
    assert_string_equal(rows[2].id, "EV-2");
    assert_true(rows[2].ts == T0 + 5 * 60000LL && rows[2].num[0] == 51);

    /* Reused for the next batch: nothing of the last one stays. */
    ss_batch_reset(&b);
    add(&b, 7, "EV-3", 0, 10, -1);
    assert_int_equal(ss_copy_vehicles(&c, &b), MF_OK);
    assert_int_equal(c.nhistory, 1);
    assert_int_equal(c.repeats, 0);
    assert_int_equal(read_stream(&c.history, 5, rows, 16), 1);
    assert_int_equal(read_stream(&c.status, 4, rows, 16), 1);
    assert_true(rows[0].null[1] == 1);

    /* No vehicle rows: header and trailer only. */
    ss_batch_reset(&b);
    assert_int_equal(ss_copy_vehicles(&c, &b), MF_OK);
    assert_int_equal(c.nhistory + c.nstatus, 0);
    assert_int_equal(c.history.len, 21);

    ss_copy_release(&c);
    ss_batch_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_repeats_newest),
    };
    return cmocka_run_group_tests_name("ss_copy", tests, NULL, NULL);
}
