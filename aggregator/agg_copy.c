/*
 * agg_copy: the binary COPY stream and the binary result values, in
 * PostgreSQL's typsend encodings. The aggregate columns are driven by the
 * agg_funcs rows (their type and field); nothing here knows a column name.
 */
#include "agg_copy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_common.h"

#define PG_EPOCH_MS 946684800000LL /* 2000-01-01T00:00:00Z: timestamptz's binary zero */

/* ---------------------------------------------------------------- the COPY stream */

void agg_copy_begin(struct mf_buf *b)
{
    static const char hdr[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
    mf_buf_reset(b);
    mf_buf_append(b, hdr, sizeof hdr);
}

void agg_copy_put_tuple(struct mf_buf *b, int16_t nfields)
{
    unsigned char n[2] = {(unsigned char)(nfields >> 8), (unsigned char)nfields};
    mf_buf_append(b, n, 2);
}

void agg_copy_end(struct mf_buf *b)
{
    mf_buf_append(b, "\377\377", 2);
}

/* Big-endian bytes of v's low n bytes, after the field's int32 length n. */
static int put_be(struct mf_buf *b, uint64_t v, int n)
{
    unsigned char x[12];
    x[0] = x[1] = x[2] = 0;
    x[3] = (unsigned char)n;
    for (int i = 0; i < n; i++)
        x[4 + i] = (unsigned char)(v >> (8 * (n - 1 - i)));
    return mf_buf_append(b, x, 4 + (size_t)n);
}

int agg_copy_put_i16(struct mf_buf *b, int16_t v)
{
    return put_be(b, (uint16_t)v, 2);
}

int agg_copy_put_i32(struct mf_buf *b, int32_t v)
{
    return put_be(b, (uint32_t)v, 4);
}

int agg_copy_put_i64(struct mf_buf *b, int64_t v)
{
    return put_be(b, (uint64_t)v, 8);
}

/* PostgreSQL's float8send: the IEEE 754 bits, big-endian. */
int agg_copy_put_f64(struct mf_buf *b, double v)
{
    uint64_t bits;
    if (!isfinite(v))
        return MF_EDATA;
    memcpy(&bits, &v, sizeof bits);
    return put_be(b, bits, 8);
}

void agg_copy_put_text(struct mf_buf *b, const char *s)
{
    size_t n = strlen(s); /* a meter ID (<= 64) or a tier name */
    unsigned char len[4] = {0, 0, (unsigned char)(n >> 8), (unsigned char)n};
    MF_ASSERT(n <= 0xffff);
    mf_buf_append(b, len, 4);
    mf_buf_append(b, s, n);
}

void agg_copy_put_ts(struct mf_buf *b, int64_t ms)
{
    agg_copy_put_i64(b, (ms - PG_EPOCH_MS) * 1000);
}

void agg_copy_put_bool(struct mf_buf *b, bool v)
{
    static const char t[5] = {0, 0, 0, 1, 1}, f[5] = {0, 0, 0, 1, 0};
    mf_buf_append(b, v ? t : f, 5);
}

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
                rc = agg_copy_put_i32(b, (int32_t)v);
            } else {
                rc = agg_copy_put_i64(b, v);
            }
        } else {
            double v;
            memcpy(&v, field, sizeof v);
            rc = agg_copy_put_f64(b, v);
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

static uint64_t get_be(const char *v, int n)
{
    uint64_t x = 0;
    for (int i = 0; i < n; i++)
        x = x << 8 | (unsigned char)v[i];
    return x;
}

int agg_copy_get_int(const char *v, int len, int64_t *out)
{
    switch (len) {
    case 2:
        *out = (int16_t)get_be(v, 2);
        return MF_OK;
    case 4:
        *out = (int32_t)get_be(v, 4);
        return MF_OK;
    case 8:
        *out = (int64_t)get_be(v, 8);
        return MF_OK;
    default:
        return MF_EDATA;
    }
}

int agg_copy_get_f64(const char *v, int len, double *out)
{
    if (len != 8)
        return MF_EDATA;
    uint64_t bits = get_be(v, 8);
    double d;
    memcpy(&d, &bits, sizeof d);
    if (!isfinite(d))
        return MF_EDATA;
    *out = d;
    return MF_OK;
}

int agg_copy_get_acc(struct agg_acc *a, const char *const *vals, const int *lens)
{
    for (size_t i = 0; i < agg_funcs_count; i++) {
        char *field = (char *)a + agg_funcs[i].offset;
        if (agg_funcs[i].type == AGG_COL_INT8) {
            int64_t v;
            if (agg_copy_get_int(vals[i], lens[i], &v) != MF_OK)
                return MF_EDATA;
            memcpy(field, &v, sizeof v);
        } else {
            double v;
            if (agg_copy_get_f64(vals[i], lens[i], &v) != MF_OK)
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
            agg_copy_get_int(PQgetvalue(res, r, 1), 8, &us) ||
            agg_copy_get_int(PQgetvalue(res, r, 2), PQgetlength(res, r, 2), &rev) ||
            agg_copy_get_acc(&row->acc, vals, lens)) {
            snprintf(errbuf, errlen, "malformed rollup row from PostgreSQL");
            out->n--;
            return MF_EFATAL;
        }
        memcpy(row->meter_id, PQgetvalue(res, r, 0), (size_t)idlen);
        row->meter_id[idlen] = '\0';
        row->width = w;
        row->start = us / 1000 + PG_EPOCH_MS;
        row->revision = (int)rev;
        row->first_close = first == AGG_FIRST_ALWAYS || (first == AGG_FIRST_REV1 && rev == 1);
    }
    return MF_OK;
}
