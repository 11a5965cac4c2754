/*
 * mf_pgcopy: the binary COPY stream and binary result values, in
 * PostgreSQL's typsend encodings, and the COPY's round trip.
 */
#include "mf_pgcopy.h"

#include <math.h>
#include <string.h>

#include "mf_common.h"

/* ---------------------------------------------------------------- the stream */

/*
 * mf_buf_append for the stream's few bytes at a time, inlined: with room
 * in the buffer, a copy of a constant size (a move or two) instead of a
 * call, a check and a libc memcpy for every field (a batch of 20,000 rows
 * is ~300,000 fields, built on the commit's own time). The same checks
 * otherwise.
 */
static inline int put(struct mf_buf *b, const void *p, size_t n)
{
    if (n < b->cap - b->len && n <= b->max - b->len) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
        return MF_OK;
    }
    return mf_buf_append(b, p, n);
}

void mf_pgcopy_begin(struct mf_buf *b)
{
    static const char hdr[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
    mf_buf_reset(b);
    mf_buf_append(b, hdr, sizeof hdr);
}

void mf_pgcopy_put_tuple(struct mf_buf *b, int16_t nfields)
{
    unsigned char n[2] = {(unsigned char)(nfields >> 8), (unsigned char)nfields};
    put(b, n, 2);
}

void mf_pgcopy_end(struct mf_buf *b)
{
    mf_buf_append(b, "\377\377", 2);
}

/* Big-endian bytes of v's low n bytes, after the field's int32 length n. */
static inline int put_be(struct mf_buf *b, uint64_t v, int n)
{
    unsigned char x[12];
    x[0] = x[1] = x[2] = 0;
    x[3] = (unsigned char)n;
    for (int i = 0; i < n; i++)
        x[4 + i] = (unsigned char)(v >> (8 * (n - 1 - i)));
    return put(b, x, 4 + (size_t)n);
}

int mf_pgcopy_put_i16(struct mf_buf *b, int16_t v)
{
    return put_be(b, (uint16_t)v, 2);
}

int mf_pgcopy_put_i32(struct mf_buf *b, int32_t v)
{
    return put_be(b, (uint32_t)v, 4);
}

int mf_pgcopy_put_i64(struct mf_buf *b, int64_t v)
{
    return put_be(b, (uint64_t)v, 8);
}

/* PostgreSQL's float8send: the IEEE 754 bits, big-endian. */
int mf_pgcopy_put_f64(struct mf_buf *b, double v)
{
    uint64_t bits;
    if (!isfinite(v))
        return MF_EDATA;
    memcpy(&bits, &v, sizeof bits);
    return put_be(b, bits, 8);
}

void mf_pgcopy_put_text(struct mf_buf *b, const char *s)
{
    size_t n = strlen(s); /* an id (<= 64) or a tier name */
    unsigned char len[4] = {0, 0, (unsigned char)(n >> 8), (unsigned char)n};
    MF_ASSERT(n <= 0xffff);
    put(b, len, 4);
    put(b, s, n);
}

void mf_pgcopy_put_ts(struct mf_buf *b, int64_t ms)
{
    mf_pgcopy_put_i64(b, (ms - MF_PGCOPY_EPOCH_MS) * 1000);
}

void mf_pgcopy_put_bool(struct mf_buf *b, bool v)
{
    static const char t[5] = {0, 0, 0, 1, 1}, f[5] = {0, 0, 0, 1, 0};
    put(b, v ? t : f, 5);
}

void mf_pgcopy_put_null(struct mf_buf *b)
{
    put(b, "\377\377\377\377", 4);
}

/* ---------------------------------------------------------------- binary values back */

static uint64_t get_be(const char *v, int n)
{
    uint64_t x = 0;
    for (int i = 0; i < n; i++)
        x = x << 8 | (unsigned char)v[i];
    return x;
}

int mf_pgcopy_get_int(const char *v, int len, int64_t *out)
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

int mf_pgcopy_get_f64(const char *v, int len, double *out)
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

/* ---------------------------------------------------------------- the round trip */

int mf_pgcopy_start(PGconn *conn, const char *sql, const struct mf_buf *b, PGresult **res)
{
    *res = PQexec(conn, sql);
    if (PQresultStatus(*res) != PGRES_COPY_IN)
        return MF_EDATA; /* refused before any data: the statement's error */
    PQclear(*res);
    *res = NULL;
    if (PQputCopyData(conn, b->data, (int)b->len) != 1 || PQputCopyEnd(conn, NULL) != 1)
        return MF_EDATA;
    return MF_OK;
}

PGresult *mf_pgcopy_send(PGconn *conn, const char *sql, const struct mf_buf *b)
{
    PGresult *res;
    if (mf_pgcopy_start(conn, sql, b, &res) != MF_OK)
        return res;
    return mf_pgcopy_result(conn);
}

PGresult *mf_pgcopy_result(PGconn *conn)
{
    PGresult *res = PQgetResult(conn);
    /* Whatever follows the COPY's own result (nothing, normally) is read so the connection is
     * idle; the first result is the one that says whether the rows went in. */
    PGresult *more;
    while ((more = PQgetResult(conn)))
        PQclear(more);
    return res;
}
