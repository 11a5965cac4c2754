/*
 * agg_copy: the binary wire codec between the aggregator and PostgreSQL,
 * all of it: the COPY ... (FORMAT binary) stream the batch commit sends,
 * and the binary result rows (resultFormat 1) of the rollup windows it and
 * the outbox read back.
 *
 * Binary, not text: no number is printed or parsed on either side.
 * Printing the seven doubles of a window in their shortest exact text form
 * and parsing them back was a third of the COPY's cost, and float8out and
 * strtod were a good part of reading windows back.
 *
 * The format is PostgreSQL's "PGCOPY" file format and its typsend/typrecv
 * encodings: every field is a big-endian int32 length and then the value;
 * integers (int2/int4/int8) and float8 (the IEEE 754 bits) are big-endian;
 * timestamptz is int8 microseconds since 2000-01-01T00:00:00Z
 * (integer_datetimes, the only build since PostgreSQL 10); bool is one
 * byte; text is its bytes. The aggregate columns are written and read in
 * agg_funcs order, each as its row's type says (bigint or float8): the
 * staging table and every query that reads a window back list them in
 * that order (agg_funcs_columns).
 *
 * Invariants: a NaN or an infinity is never written (MF_EDATA: no column
 * of ours may hold one) and never accepted back. Text written is at most
 * 65535 bytes (meter IDs are at most 64, checked ASCII at parse).
 * Ownership: the writers append to a caller's mf_buf; agg_rows own their
 * array (agg_rows_release). Thread: any (no state).
 */
#ifndef AGG_COPY_H
#define AGG_COPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "mf_buf.h"
#include "agg_funcs.h"
#include "agg_window.h"

/* ---------------------------------------------------------------- the COPY stream */

/* Resets b to the stream's header (signature, flags, no extension). */
void agg_copy_begin(struct mf_buf *b);
/* Starts a tuple of nfields fields; exactly that many field writers follow. */
void agg_copy_put_tuple(struct mf_buf *b, int16_t nfields);
/* Appends the trailer; b is then a complete stream for PQputCopyData. */
void agg_copy_end(struct mf_buf *b);

/* Field writers: the length, then the value. MF_OK, or MF_EDATA from agg_copy_put_f64 for a
 * value no float8 column may hold (NaN, infinity). */
int agg_copy_put_i16(struct mf_buf *b, int16_t v);
int agg_copy_put_i32(struct mf_buf *b, int32_t v);
int agg_copy_put_i64(struct mf_buf *b, int64_t v);
int agg_copy_put_f64(struct mf_buf *b, double v);
/* s (NUL-terminated, at most 65535 bytes) as text. */
void agg_copy_put_text(struct mf_buf *b, const char *s);
/* Epoch milliseconds as timestamptz. */
void agg_copy_put_ts(struct mf_buf *b, int64_t ms);
void agg_copy_put_bool(struct mf_buf *b, bool v);
/*
 * The aggregate columns of a window, agg_funcs_count fields in agg_funcs
 * order (bigint as int8, the rest float8). MF_EDATA when a double is not
 * finite; b then holds part of the fields (the caller drops the stream).
 */
int agg_copy_put_acc(struct mf_buf *b, const struct agg_acc *a);
/* The same for a rollup table itself (002): the counters besides count are int4 there. MF_EDATA
 * also for a counter above INT32_MAX. */
int agg_copy_put_acc_rollup(struct mf_buf *b, const struct agg_acc *a);

/* ---------------------------------------------------------------- binary values back */

/* An integer sent as int2, int4 or int8 (len 2, 4 or 8 bytes). MF_OK or MF_EDATA. */
int agg_copy_get_int(const char *v, int len, int64_t *out);
/* A float8 (len 8), finite. MF_OK or MF_EDATA. */
int agg_copy_get_f64(const char *v, int len, double *out);
/*
 * The aggregate columns from agg_funcs_count values, vals[i] of lens[i]
 * bytes, in agg_funcs order. MF_OK, or MF_EDATA on a value of the wrong
 * size or a double that is not finite (a then holds part of the fields).
 */
int agg_copy_get_acc(struct agg_acc *a, const char *const *vals, const int *lens);

/* ---------------------------------------------------------------- rollup rows back */

/* A merged window read back from a rollup table, to publish. */
struct agg_row {
    char meter_id[65];
    enum agg_width width;
    int64_t start;
    int revision;
    bool first_close; /* closed by this batch (vs. changed by late data after closing) */
    struct agg_acc acc;
};

/* A growing array of rows; {0} is empty. The caller may set n = 0 to reuse it. */
struct agg_rows {
    struct agg_row *v;
    size_t n, cap;
};
/* Frees the array and empties r. */
void agg_rows_release(struct agg_rows *r);
/* Appends a zeroed row to r and returns it. */
struct agg_row *agg_rows_push(struct agg_rows *r);

/* How agg_copy_read_rows tells a window's first close from a republish. */
enum agg_first_close {
    AGG_FIRST_NEVER,  /* the outbox: unknown, counted as republished */
    AGG_FIRST_ALWAYS, /* the close UPDATE: only open windows are closed */
    AGG_FIRST_REV1,   /* the merge: revision 1 is the first close, later ones are late changes */
};

/*
 * Appends the rows of a binary result (resultFormat 1) laid out as
 * (meter_id text, window_start timestamptz, revision int, the aggregate
 * columns in agg_funcs order) to out, as windows of width w. MF_OK, or
 * MF_EFATAL with errbuf set when a column count, size or value is not what
 * the tables hold (out then keeps the rows before the bad one). res stays
 * the caller's.
 */
int agg_copy_read_rows(const PGresult *res, enum agg_width w, enum agg_first_close first,
                       struct agg_rows *out, char *errbuf, size_t errlen);

#endif
