/*
 * agg_copy: the aggregator's part of the binary wire codec with
 * PostgreSQL (the stream and its field writers are common/mf_pgcopy's):
 * a window's aggregate columns in the COPY ... (FORMAT binary) stream the
 * batch commit sends, and the binary result rows (resultFormat 1) of the
 * rollup windows it and the outbox read back.
 *
 * The aggregate columns are written and read in agg_funcs order, each as
 * its row's type says (bigint or float8): the staging table and every
 * query that reads a window back list them in that order
 * (agg_funcs_columns). A NaN or an infinity is never written nor accepted
 * back (mf_pgcopy). Ownership: the writers append to a caller's mf_buf;
 * agg_rows own their array (agg_rows_release). Thread: any (no state).
 */
#ifndef AGG_COPY_H
#define AGG_COPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "mf_buf.h"
#include "mf_pgcopy.h"
#include "agg_funcs.h"
#include "agg_state.h"
#include "agg_window.h"

/* ---------------------------------------------------------------- the COPY stream */

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
    /* 1 + its index in the batch's closes when published from memory (agg_row_from_close);
     * 0 when read back from PostgreSQL. Lets the publisher use JSON encoded meanwhile. */
    size_t close_no;
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
/*
 * The row closes[i] of a batch is published as when the watermark closes it
 * (the content the state holds, revision 1, a first close), into row.
 */
void agg_row_from_close(struct agg_row *row, const struct agg_close *closes, size_t i);

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
