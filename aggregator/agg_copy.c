/*
 * agg_copy: a window's columns in the binary COPY stream and back (the
 * stream itself is common/mf_pgcopy's), and rollup rows read back. The
 * aggregate columns are driven by the agg_funcs rows (their type and
 * field); nothing here knows a column name.
 */
#include "agg_copy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_common.h"

/* ---------------------------------------------------------------- the COPY stream */

/* Fields are reached by the rows' offsets: memcpy, as the field's type may be either. */
static int put_acc(struct mf_buf *b, const struct agg_acc *a, bool table)
{
    for (size_t i = 0; i < agg_funcs_count; i++) {
        const char *field = (const char *)a + agg_funcs[i].offset;
        int rc;
        if (agg_funcs[i].type == AGG_COL_INT8) {
            int64_t v;
            memcpy(&v, field, sizeof v);
            /* The rollup tables' counters other than count are integer (002). */
            if (table && strcmp(agg_funcs[i].column, "count") != 0) {
                if (v < 0 || v > INT32_MAX)
                    return MF_EDATA;
                rc = mf_pgcopy_put_i32(b, (int32_t)v);
            } else {
                rc = mf_pgcopy_put_i64(b, v);
            }
        } else {
            double v;
            memcpy(&v, field, sizeof v);
            rc = mf_pgcopy_put_f64(b, v);
        }
        if (rc)
            return MF_EDATA;
    }
    return MF_OK;
}

int agg_copy_put_acc(struct mf_buf *b, const struct agg_acc *a)
{
    return put_acc(b, a, false);
}

int agg_copy_put_acc_rollup(struct mf_buf *b, const struct agg_acc *a)
{
    return put_acc(b, a, true);
}

/* ---------------------------------------------------------------- binary values back */

int agg_copy_get_acc(struct agg_acc *a, const char *const *vals, const int *lens)
{
    for (size_t i = 0; i < agg_funcs_count; i++) {
        char *field = (char *)a + agg_funcs[i].offset;
        if (agg_funcs[i].type == AGG_COL_INT8) {
            int64_t v;
            if (mf_pgcopy_get_int(vals[i], lens[i], &v) != MF_OK)
                return MF_EDATA;
            memcpy(field, &v, sizeof v);
        } else {
            double v;
            if (mf_pgcopy_get_f64(vals[i], lens[i], &v) != MF_OK)
                return MF_EDATA;
            memcpy(field, &v, sizeof v);
        }
    }
    return MF_OK;
}

/* ---------------------------------------------------------------- rollup rows back */

void agg_rows_release(struct agg_rows *r)
{
    free(r->v);
    memset(r, 0, sizeof *r);
}

void agg_row_from_close(struct agg_row *row, const struct agg_close *closes, size_t i)
{
    const struct agg_close *c = &closes[i];
    size_t n = strnlen(c->meter_id, sizeof row->meter_id - 1); /* at most 64, checked at parse */
    memset(row, 0, sizeof *row);
    memcpy(row->meter_id, c->meter_id, n);
    row->width = agg_key_width(c->key);
    row->start = agg_key_start(c->key);
    row->revision = 1;
    row->first_close = true;
    row->acc = c->acc;
    row->close_no = i + 1;
}

struct agg_row *agg_rows_push(struct agg_rows *r)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 256;
        r->v = mf_xrealloc(r->v, r->cap * sizeof *r->v);
    }
    struct agg_row *row = &r->v[r->n++];
    memset(row, 0, sizeof *row);
    return row;
}

/*
 * Binary, for every window published (a whole batch's worth when a replay
 * closes windows at merge): no float8out, no numeric epoch arithmetic on
 * the server and no strtod here.
 */
int agg_copy_read_rows(const PGresult *res, enum agg_width w, enum agg_first_close first,
                       struct agg_rows *out, char *errbuf, size_t errlen)
{
    const char *vals[32];
    int lens[32];
    MF_ASSERT(agg_funcs_count <= MF_ARRAY_LEN(vals));
    if (PQnfields(res) != 3 + (int)agg_funcs_count) {
        snprintf(errbuf, errlen, "rollup rows from PostgreSQL have %d columns", PQnfields(res));
        return MF_EFATAL;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        struct agg_row *row = agg_rows_push(out);
        int64_t us, rev;
        int idlen = PQgetlength(res, r, 0);
        for (size_t i = 0; i < agg_funcs_count; i++) {
            vals[i] = PQgetvalue(res, r, 3 + (int)i);
            lens[i] = PQgetlength(res, r, 3 + (int)i);
        }
        if (idlen <= 0 || (size_t)idlen >= sizeof row->meter_id || PQgetlength(res, r, 1) != 8 ||
            mf_pgcopy_get_int(PQgetvalue(res, r, 1), 8, &us) ||
            mf_pgcopy_get_int(PQgetvalue(res, r, 2), PQgetlength(res, r, 2), &rev) ||
            agg_copy_get_acc(&row->acc, vals, lens)) {
            snprintf(errbuf, errlen, "malformed rollup row from PostgreSQL");
            out->n--;
            return MF_EFATAL;
        }
        memcpy(row->meter_id, PQgetvalue(res, r, 0), (size_t)idlen);
        row->meter_id[idlen] = '\0';
        row->width = w;
        row->start = us / 1000 + MF_PGCOPY_EPOCH_MS;
        row->revision = (int)rev;
        row->first_close = first == AGG_FIRST_ALWAYS || (first == AGG_FIRST_REV1 && rev == 1);
    }
    return MF_OK;
}
