/*
 * ss_copy: one sort of the batch's vehicle rows by (vehicle_id, ts,
 * consumed order) gives both streams: a run of equal (vehicle, ts) is a
 * repeat (its first row is kept), and a vehicle's last row is its newest.
 */
#include "ss_copy.h"

#include <stdlib.h>
#include <string.h>

#include "mf_pgcopy.h"
#include "mf_alloc.h"
#include "mf_common.h"

struct ss_copy_key {
    const struct ss_row *row;
    size_t n; /* consumed order */
};

void ss_copy_init(struct ss_copy *c)
{
    memset(c, 0, sizeof *c);
    mf_buf_init(&c->history, SIZE_MAX);
    mf_buf_init(&c->status, SIZE_MAX);
}

void ss_copy_release(struct ss_copy *c)
{
    mf_buf_release(&c->history);
    mf_buf_release(&c->status);
    free(c->keys);
    memset(c, 0, sizeof *c);
}

static int cmp_key(const void *pa, const void *pb)
{
    const struct ss_copy_key *a = pa, *b = pb;
    int c = strcmp(a->row->rec.id, b->row->rec.id);
    if (c)
        return c;
    if (a->row->rec.ts_ms != b->row->rec.ts_ms)
        return a->row->rec.ts_ms < b->row->rec.ts_ms ? -1 : 1;
    return a->n < b->n ? -1 : a->n > b->n;
}

/* An optional number: its value, or NULL when the report left it out. */
static int put_opt(struct mf_buf *b, const struct mf_source_rec *r, int f)
{
    if (!(r->has & (1u << f))) {
        mf_pgcopy_put_null(b);
        return MF_OK;
    }
    return mf_pgcopy_put_f64(b, r->num[f]);
}

int ss_copy_vehicles(struct ss_copy *c, const struct ss_batch *b)
{
    size_t n = b->nrows[MF_SRC_VEHICLE];
    const struct ss_row *rows = b->rows[MF_SRC_VEHICLE];

    c->nhistory = c->nstatus = c->repeats = 0;
    mf_pgcopy_begin(&c->history);
    mf_pgcopy_begin(&c->status);
    if (n > c->capkeys) {
        c->keys = mf_xrealloc(c->keys, n * sizeof *c->keys);
        c->capkeys = n;
    }
    for (size_t i = 0; i < n; i++)
        c->keys[i] = (struct ss_copy_key){&rows[i], i};
    if (n)
        qsort(c->keys, n, sizeof *c->keys, cmp_key);

    int rc = MF_OK;
    for (size_t i = 0; i < n && rc == MF_OK; i++) {
        const struct mf_source_rec *r = &c->keys[i].row->rec;
        const struct mf_source_rec *prev = i ? &c->keys[i - 1].row->rec : NULL;
        const struct mf_source_rec *next = i + 1 < n ? &c->keys[i + 1].row->rec : NULL;
        if (prev && prev->ts_ms == r->ts_ms && strcmp(prev->id, r->id) == 0) {
            c->repeats++;
        } else {
            mf_pgcopy_put_tuple(&c->history, 5);
            mf_pgcopy_put_text(&c->history, r->id);
            mf_pgcopy_put_ts(&c->history, r->ts_ms);
            if (mf_pgcopy_put_f64(&c->history, r->num[MF_EV_SOC]) ||
                put_opt(&c->history, r, MF_EV_KWH_DC) ||
                put_opt(&c->history, r, MF_EV_BATTERY_TEMP))
                rc = MF_EDATA;
            c->nhistory++;
        }
        if (!next || strcmp(next->id, r->id) != 0) {
            mf_pgcopy_put_tuple(&c->status, 4);
            mf_pgcopy_put_text(&c->status, r->id);
            mf_pgcopy_put_ts(&c->status, r->ts_ms);
            if (mf_pgcopy_put_f64(&c->status, r->num[MF_EV_SOC]) ||
                put_opt(&c->status, r, MF_EV_BATTERY_TEMP))
                rc = MF_EDATA;
            c->nstatus++;
        }
    }
    mf_pgcopy_end(&c->history);
    mf_pgcopy_end(&c->status);
    return rc;
}
