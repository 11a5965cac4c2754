/*
 * agg_funcs: the window aggregates, one table row per aggregate.
 *
 * A window's state is a struct agg_acc of mergeable partials: count, sum,
 * min, max, m2 (sum of squared deviations from the mean), energy, quality
 * sum, and counts per tier and of interpolated readings. Each row of
 * agg_funcs[] owns one field and says how to
 *   init   it from one reading (a window of one),
 *   merge  two partials (parallel-variance formula of Chan et al. for m2),
 *   emit   it into the rollup JSON (DESIGN §3.4; m2 as stddev_kw and
 *          stddev_pop_kw), and
 *   merge it in SQL (the ON CONFLICT DO UPDATE expression over the stored
 *   row `r` and the batch's partial `EXCLUDED`), so the C and the SQL merge
 *   sit side by side and cannot drift apart;
 * and names its column's type and its field, from which agg_copy writes
 * and reads it on the wire (binary COPY, binary results).
 * Adding a reading is merging a window of one: the same code path, so the
 * per-batch pre-merge and the merge in PostgreSQL agree exactly.
 * Thread: any (the table is constant).
 */
#ifndef AGG_FUNCS_H
#define AGG_FUNCS_H

#include <stddef.h>
#include <stdint.h>

#include "mf_buf.h"
#include "agg_record.h"

struct agg_acc {
    int64_t count;
    double sum_kw, min_kw, max_kw, m2, energy_kwh, quality_sum;
    int64_t premium, standard, interpolated;
};

/* A column's type in the rollup and staging tables, and so on the wire. */
enum agg_col_type {
    AGG_COL_INT8,   /* bigint; the field is an int64_t */
    AGG_COL_FLOAT8, /* float8; the field is a double */
};

struct agg_func {
    const char *column;     /* rollup table column */
    const char *sql_merge;  /* "<column> = <expr over r and EXCLUDED>" */
    enum agg_col_type type; /* of the column and of the field */
    size_t offset;          /* of the field in struct agg_acc */
    void (*init)(struct agg_acc *a, const struct agg_record *rec);
    /* out may alias neither a nor b; reads a and b, writes its field of out. */
    void (*merge)(struct agg_acc *out, const struct agg_acc *a, const struct agg_acc *b);
    int (*emit)(const struct agg_acc *a, struct mf_buf *out);
};

extern const struct agg_func agg_funcs[];
extern const size_t agg_funcs_count;

/* The window of one reading. */
void agg_acc_init(struct agg_acc *a, const struct agg_record *rec);
/* dst := dst merged with src (order does not matter beyond rounding). */
void agg_acc_merge(struct agg_acc *dst, const struct agg_acc *src);
/* Appends the aggregate fields of a rollup, each as ',"name":value'. */
int agg_acc_emit(const struct agg_acc *a, struct mf_buf *out);
/* Population standard deviation, sqrt(m2 / count), m2 clamped at 0 as in the SQL views
 * (stddev_pop_kw). */
double agg_acc_stddev(const struct agg_acc *a);
/* Sample standard deviation, sqrt(m2 / (count - 1)) as SQL's stddev() (stddev_kw); NaN (JSON
 * null) for a window of one reading. */
double agg_acc_stddev_samp(const struct agg_acc *a);

/*
 * Appends the column list ("count, sum_kw, ...") with each name prefixed
 * by prefix ("" or "r."), comma-separated; and the SET list of the upsert.
 */
void agg_funcs_columns(struct mf_buf *out, const char *prefix);
void agg_funcs_set_list(struct mf_buf *out);

#endif
