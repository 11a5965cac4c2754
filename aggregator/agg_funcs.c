/*
 * agg_funcs: the aggregate rows. Each row touches one field of struct
 * agg_acc; the drivers at the bottom loop over the rows.
 */
#include "agg_funcs.h"

#include <math.h>
#include <stddef.h>

#include "mf_contract.h"
#include "mf_json.h"
#include "mf_common.h"

/*
 * ,"name": then the value. Plain appends, not mf_buf_appendf: printf's
 * machinery was half the time of encoding a window (~20,000 a batch).
 */
static int emit_name(struct mf_buf *out, const char *name)
{
    return mf_buf_append(out, ",\"", 2) || mf_buf_appends(out, name) || mf_buf_append(out, "\":", 2)
               ? MF_EDATA
               : MF_OK;
}

static int emit_field(struct mf_buf *out, const char *name, double v)
{
    return emit_name(out, name) || mf_json_double(out, v) ? MF_EDATA : MF_OK;
}

static int emit_int(struct mf_buf *out, const char *name, int64_t v)
{
    return emit_name(out, name) || mf_json_int(out, v) ? MF_EDATA : MF_OK;
}

/* ---------------------------------------------------------------- count */

static void count_init(struct agg_acc *a, const struct agg_record *rec)
{
    (void)rec;
    a->count = 1;
}
static void count_merge(struct agg_acc *o, const struct agg_acc *a, const struct agg_acc *b)
{
    o->count = a->count + b->count;
}
static int count_emit(const struct agg_acc *a, struct mf_buf *out)
{
    return emit_int(out, "count", a->count);
}

/* ---------------------------------------------------------------- sum (and avg) */

static void sum_init(struct agg_acc *a, const struct agg_record *rec)
{
    a->sum_kw = rec->value_kw;
}
static void sum_merge(struct agg_acc *o, const struct agg_acc *a, const struct agg_acc *b)
{
    o->sum_kw = a->sum_kw + b->sum_kw;
}
static int sum_emit(const struct agg_acc *a, struct mf_buf *out)
{
    /* count is never 0 in a stored or emitted window (CHECK count > 0). */
    if (emit_field(out, "sum_kw", a->sum_kw))
        return MF_EDATA;
    return emit_field(out, "avg_kw", a->sum_kw / (double)a->count);
}

/* ---------------------------------------------------------------- min, max */

static void min_init(struct agg_acc *a, const struct agg_record *rec)
{
    a->min_kw = rec->value_kw;
}
static void min_merge(struct agg_acc *o, const struct agg_acc *a, const struct agg_acc *b)
{
    o->min_kw = a->min_kw < b->min_kw ? a->min_kw : b->min_kw;
}
static int min_emit(const struct agg_acc *a, struct mf_buf *out)
{
    return emit_field(out, "min_kw", a->min_kw);
}

static void max_init(struct agg_acc *a, const struct agg_record *rec)
{
    a->max_kw = rec->value_kw;
}
static void max_merge(struct agg_acc *o, const struct agg_acc *a, const struct agg_acc *b)
{
    o->max_kw = a->max_kw > b->max_kw ? a->max_kw : b->max_kw;
}
static int max_emit(const struct agg_acc *a, struct mf_buf *out)
{
    return emit_field(out, "max_kw", a->max_kw);
}

/* ---------------------------------------------------------------- m2 (stddev) */

static void m2_init(struct agg_acc *a, const struct agg_record *rec)
{
    (void)rec;
    a->m2 = 0; /* one value deviates from its own mean by nothing */
}
/*
 * Chan et al.: m2 = m2a + m2b + d^2 * na * nb / (na + nb), d = mean_b - mean_a.
 * Exact for any split of the data (up to rounding), which is what lets a
 * window be merged from batches in any order. The SQL expression below is
 * the same formula over the stored row and the batch's partial.
 */
static void m2_merge(struct agg_acc *o, const struct agg_acc *a, const struct agg_acc *b)
{
    double na = (double)a->count, nb = (double)b->count;
    double d = b->sum_kw / nb - a->sum_kw / na;
    o->m2 = a->m2 + b->m2 + d * d * (na * nb / (na + nb));
}
/* stddev_kw (sample; null for one reading, which emit_field writes for NaN), stddev_pop_kw. */
static int m2_emit(const struct agg_acc *a, struct mf_buf *out)
{
    if (emit_field(out, "stddev_kw", agg_acc_stddev_samp(a)))
        return MF_EDATA;
    return emit_field(out, "stddev_pop_kw", agg_acc_stddev(a));
}

/* ---------------------------------------------------------------- energy, quality */

static void energy_init(struct agg_acc *a, const struct agg_record *rec)
{
    a->energy_kwh = rec->energy_kwh;
}
static void energy_merge(struct agg_acc *o, const struct agg_acc *a, const struct agg_acc *b)
{
    o->energy_kwh = a->energy_kwh + b->energy_kwh;
}
static int energy_emit(const struct agg_acc *a, struct mf_buf *out)
{
    return emit_field(out, "energy_kwh", a->energy_kwh);
}

static void quality_init(struct agg_acc *a, const struct agg_record *rec)
{
    a->quality_sum = rec->quality;
}
static void quality_merge(struct agg_acc *o, const struct agg_acc *a, const struct agg_acc *b)
{
    o->quality_sum = a->quality_sum + b->quality_sum;
}
static int quality_emit(const struct agg_acc *a, struct mf_buf *out)
{
    return emit_field(out, "quality_avg", a->quality_sum / (double)a->count);
}

/* ---------------------------------------------------------------- counters */

/* The three counters differ only in their field and the reading's test. */
#define COUNTER_ROW(field, test)                                                                   \
    static void field##_init(struct agg_acc *a, const struct agg_record *rec)                      \
    {                                                                                              \
        a->field = (test) ? 1 : 0;                                                                 \
    }                                                                                              \
    static void field##_merge(struct agg_acc *o, const struct agg_acc *a, const struct agg_acc *b) \
    {                                                                                              \
        o->field = a->field + b->field;                                                            \
    }                                                                                              \
    static int field##_emit(const struct agg_acc *a, struct mf_buf *out)                           \
    {                                                                                              \
        return emit_int(out, #field, a->field);                                                    \
    }

COUNTER_ROW(premium, rec->tier == MF_TIER_PREMIUM)
COUNTER_ROW(standard, rec->tier == MF_TIER_STANDARD)
COUNTER_ROW(interpolated, rec->interpolated)

/* ---------------------------------------------------------------- the table */

/* A row: its column (also its field of struct agg_acc), its functions' prefix, type and SQL. */
/* An initializer macro: clang-format 14 takes its brace for a block. */
/* clang-format off */
#define ROW(column, fn, type, sql)                                                                 \
    {#column, sql, type, offsetof(struct agg_acc, column), fn##_init, fn##_merge, fn##_emit}
/* clang-format on */

/*
 * Column order here is the COPY order, the SELECT order of every query
 * that reads a window back, and the JSON order of DESIGN §3.4. m2 comes
 * after sum: the SQL expression for m2 reads the OLD count and sum_kw (SET
 * expressions all see the row as it was), like m2_merge reads a and b.
 */
const struct agg_func agg_funcs[] = {
    ROW(count, count, AGG_COL_INT8, "count = r.count + EXCLUDED.count"),
    ROW(sum_kw, sum, AGG_COL_FLOAT8, "sum_kw = r.sum_kw + EXCLUDED.sum_kw"),
    ROW(min_kw, min, AGG_COL_FLOAT8, "min_kw = least(r.min_kw, EXCLUDED.min_kw)"),
    ROW(max_kw, max, AGG_COL_FLOAT8, "max_kw = greatest(r.max_kw, EXCLUDED.max_kw)"),
    ROW(m2, m2, AGG_COL_FLOAT8,
        "m2 = r.m2 + EXCLUDED.m2 + (EXCLUDED.sum_kw / EXCLUDED.count - r.sum_kw / r.count)"
        " * (EXCLUDED.sum_kw / EXCLUDED.count - r.sum_kw / r.count)"
        " * (r.count::float8 * EXCLUDED.count::float8 / (r.count + EXCLUDED.count)::float8)"),
    ROW(energy_kwh, energy, AGG_COL_FLOAT8, "energy_kwh = r.energy_kwh + EXCLUDED.energy_kwh"),
    ROW(quality_sum, quality, AGG_COL_FLOAT8, "quality_sum = r.quality_sum + EXCLUDED.quality_sum"),
    ROW(premium, premium, AGG_COL_INT8, "premium = r.premium + EXCLUDED.premium"),
    ROW(standard, standard, AGG_COL_INT8, "standard = r.standard + EXCLUDED.standard"),
    ROW(interpolated, interpolated, AGG_COL_INT8,
        "interpolated = r.interpolated + EXCLUDED.interpolated"),
};
const size_t agg_funcs_count = MF_ARRAY_LEN(agg_funcs);

/* ---------------------------------------------------------------- drivers */

void agg_acc_init(struct agg_acc *a, const struct agg_record *rec)
{
    for (size_t i = 0; i < agg_funcs_count; i++)
        agg_funcs[i].init(a, rec);
}

void agg_acc_merge(struct agg_acc *dst, const struct agg_acc *src)
{
    /* Every row reads the old values, whatever the row order. */
    struct agg_acc old = *dst;
    for (size_t i = 0; i < agg_funcs_count; i++)
        agg_funcs[i].merge(dst, &old, src);
}

int agg_acc_emit(const struct agg_acc *a, struct mf_buf *out)
{
    for (size_t i = 0; i < agg_funcs_count; i++)
        if (agg_funcs[i].emit(a, out) != MF_OK)
            return MF_EDATA;
    return MF_OK;
}

double agg_acc_stddev(const struct agg_acc *a)
{
    return sqrt((a->m2 > 0 ? a->m2 : 0) / (double)a->count);
}

double agg_acc_stddev_samp(const struct agg_acc *a)
{
    if (a->count < 2)
        return NAN;
    return sqrt((a->m2 > 0 ? a->m2 : 0) / (double)(a->count - 1));
}

void agg_funcs_columns(struct mf_buf *out, const char *prefix)
{
    for (size_t i = 0; i < agg_funcs_count; i++)
        mf_buf_appendf(out, "%s%s%s", i ? ", " : "", prefix, agg_funcs[i].column);
}

void agg_funcs_set_list(struct mf_buf *out)
{
    for (size_t i = 0; i < agg_funcs_count; i++)
        mf_buf_appendf(out, "%s%s", i ? ", " : "", agg_funcs[i].sql_merge);
}
