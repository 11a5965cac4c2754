/*
 * agg_funcs: the window aggregates, one table row per aggregate.
 *
 * A window's state is a struct agg_acc of mergeable partials: count, sum,
 * min, max, m2 (sum of squared deviations from the mean), energy, quality
 * sum, and counts per tier and of interpolated readings. Each row of
 * agg_funcs[] owns one field and says how to
 *   init   it from one reading (a window of one),
 *   merge  two partials (parallel-variance formula of Chan et al. for m2),
 *   write  it as a COPY text value and read it back from a SQL result,
 *   emit   it into the rollup JSON (DESIGN §3.4), and
 *   merge it in SQL (the ON CONFLICT DO UPDATE expression over the stored
 *   row `r` and the batch's partial `EXCLUDED`), so the C and the SQL merge
 *   sit side by side and cannot drift apart.
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

struct agg_func {
    const char *column;    /* rollup table column */
    const char *sql_merge; /* "<column> = <expr over r and EXCLUDED>" */
    void (*init)(struct agg_acc *a, const struct agg_record *rec);
    /* out may alias neither a nor b; reads a and b, writes its field of out. */
    void (*merge)(struct agg_acc *out, const struct agg_acc *a, const struct agg_acc *b);
    int (*write)(const struct agg_acc *a, struct mf_buf *out);
    /* The same value as a binary COPY field: int8 or float8, length first. */
    int (*write_bin)(const struct agg_acc *a, struct mf_buf *out);
    int (*read)(struct agg_acc *a, const char *text); /* MF_OK or MF_EDATA */
    /* The same from a binary result value of len bytes (int2/4/8 or float8). */
    int (*read_bin)(struct agg_acc *a, const char *v, int len);
    int (*emit)(const struct agg_acc *a, struct mf_buf *out);
};

extern const struct agg_func agg_funcs[];
extern const size_t agg_funcs_count;

/* The window of one reading. */
void agg_acc_init(struct agg_acc *a, const struct agg_record *rec);
/* dst := dst merged with src (order does not matter beyond rounding). */
void agg_acc_merge(struct agg_acc *dst, const struct agg_acc *src);
/* Appends the columns as tab-separated COPY text values (no newline). */
int agg_acc_write_copy(const struct agg_acc *a, struct mf_buf *out);
/*
 * Appends the columns as binary COPY fields (each a big-endian length and
 * value; counts as int8, the rest float8), so the staging table declares
 * them bigint / float8. MF_EDATA for a NaN or an infinity, as in text.
 */
int agg_acc_write_copy_binary(const struct agg_acc *a, struct mf_buf *out);
/* Binary COPY field writers (length, then the big-endian value), for agg_pg's other columns. */
int agg_bin_i16(struct mf_buf *out, int16_t v);
int agg_bin_i32(struct mf_buf *out, int32_t v);
int agg_bin_i64(struct mf_buf *out, int64_t v);
int agg_bin_f64(struct mf_buf *out, double v);
/*
 * Reads the columns from n = agg_funcs_count texts (a SQL result's
 * values, in agg_funcs order). MF_OK or MF_EDATA on a malformed value.
 */
int agg_acc_read(struct agg_acc *a, const char *const *texts);
/*
 * The same from binary result values (resultFormat 1): vals[i] of lens[i]
 * bytes, big-endian, as PostgreSQL sends int2/int4/int8 and float8.
 */
int agg_acc_read_binary(struct agg_acc *a, const char *const *vals, const int *lens);
/* Binary result readers for agg_pg's other columns: an integer of 2, 4 or 8 bytes. */
int agg_bin_read_int(const char *v, int len, int64_t *out);

/* Appends the aggregate fields of a rollup, each as ',"name":value'. */
int agg_acc_emit(const struct agg_acc *a, struct mf_buf *out);
/* Population standard deviation, sqrt(m2 / count), m2 clamped at 0 as in the SQL views. */
double agg_acc_stddev(const struct agg_acc *a);

/*
 * Appends the column list ("count, sum_kw, ...") with each name prefixed
 * by prefix ("" or "r."), comma-separated; and the SET list of the upsert.
 */
void agg_funcs_columns(struct mf_buf *out, const char *prefix);
void agg_funcs_set_list(struct mf_buf *out);

#endif
