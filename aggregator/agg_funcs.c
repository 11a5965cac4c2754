/*
 * agg_funcs: the aggregate rows. Each row touches one field of struct
 * agg_acc; the drivers at the bottom loop over the rows.
 */
#include "agg_funcs.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mf_json.h"
#include "mf_common.h"

/* ---------------------------------------------------------------- text helpers */

static int read_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v))
        return MF_EDATA;
    *out = v;
    return MF_OK;
}

static int read_int(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno)
        return MF_EDATA;
    *out = v;
    return MF_OK;
}

/* ---------------------------------------------------------------- binary COPY */

/* Big-endian bytes of v's low n bytes, after the field's int32 length n. */
static int put_be(struct mf_buf *out, uint64_t v, int n)
{
    unsigned char b[12];
    b[0] = b[1] = b[2] = 0;
    b[3] = (unsigned char)n;
    for (int i = 0; i < n; i++)
        b[4 + i] = (unsigned char)(v >> (8 * (n - 1 - i)));
    return mf_buf_append(out, b, 4 + (size_t)n);
}

int agg_bin_i16(struct mf_buf *out, int16_t v)
{
    return put_be(out, (uint16_t)v, 2);
}

int agg_bin_i32(struct mf_buf *out, int32_t v)
{
    return put_be(out, (uint32_t)v, 4);
}

int agg_bin_i64(struct mf_buf *out, int64_t v)
{
    return put_be(out, (uint64_t)v, 8);
}

/* PostgreSQL's float8send: the IEEE 754 bits, big-endian. */
int agg_bin_f64(struct mf_buf *out, double v)
{
    uint64_t bits;
    if (!isfinite(v))
        return MF_EDATA;
    memcpy(&bits, &v, sizeof bits);
    return put_be(out, bits, 8);
}

static uint64_t get_be(const char *v, int n)
{
    uint64_t x = 0;
    for (int i = 0; i < n; i++)
        x = x << 8 | (unsigned char)v[i];
    return x;
}

int agg_bin_read_int(const char *v, int len, int64_t *out)
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

static int read_bin_double(const char *v, int len, double *out)
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

static int emit_field(struct mf_buf *out, const char *name, double v)
{
    return mf_buf_appendf(out, ",\"%s\":", name) || mf_json_double(out, v) ? MF_EDATA
                                                                                : MF_OK;
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
static int count_write(const struct agg_acc *a, struct mf_buf *out)
{
    return mf_json_int(out, a->count);
}
static int count_write_bin(const struct agg_acc *a, struct mf_buf *out)
{
    return agg_bin_i64(out, a->count);
}
static int count_read(struct agg_acc *a, const char *s)
{
    return read_int(s, &a->count);
}
static int count_read_bin(struct agg_acc *a, const char *v, int len)
{
    return agg_bin_read_int(v, len, &a->count);
}
static int count_emit(const struct agg_acc *a, struct mf_buf *out)
{
    return mf_buf_appendf(out, ",\"count\":%lld", (long long)a->count) ? MF_EDATA : MF_OK;
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
static int sum_write(const struct agg_acc *a, struct mf_buf *out)
{
    return mf_json_double(out, a->sum_kw);
}
static int sum_write_bin(const struct agg_acc *a, struct mf_buf *out)
{
    return agg_bin_f64(out, a->sum_kw);
}
static int sum_read(struct agg_acc *a, const char *s)
{
    return read_double(s, &a->sum_kw);
}
static int sum_read_bin(struct agg_acc *a, const char *v, int len)
{
    return read_bin_double(v, len, &a->sum_kw);
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
static int min_write(const struct agg_acc *a, struct mf_buf *out)
{
    return mf_json_double(out, a->min_kw);
}
static int min_write_bin(const struct agg_acc *a, struct mf_buf *out)
{
    return agg_bin_f64(out, a->min_kw);
}
static int min_read(struct agg_acc *a, const char *s)
{
    return read_double(s, &a->min_kw);
}
static int min_read_bin(struct agg_acc *a, const char *v, int len)
{
    return read_bin_double(v, len, &a->min_kw);
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
static int max_write(const struct agg_acc *a, struct mf_buf *out)
{
    return mf_json_double(out, a->max_kw);
}
static int max_write_bin(const struct agg_acc *a, struct mf_buf *out)
{
    return agg_bin_f64(out, a->max_kw);
}
static int max_read(struct agg_acc *a, const char *s)
{
    return read_double(s, &a->max_kw);
}
static int max_read_bin(struct agg_acc *a, const char *v, int len)
{
    return read_bin_double(v, len, &a->max_kw);
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
static int m2_write(const struct agg_acc *a, struct mf_buf *out)
{
    return mf_json_double(out, a->m2);
}
static int m2_write_bin(const struct agg_acc *a, struct mf_buf *out)
{
    return agg_bin_f64(out, a->m2);
}
static int m2_read(struct agg_acc *a, const char *s)
{
    return read_double(s, &a->m2);
}
static int m2_read_bin(struct agg_acc *a, const char *v, int len)
{
    return read_bin_double(v, len, &a->m2);
}
static int m2_emit(const struct agg_acc *a, struct mf_buf *out)
{
    return emit_field(out, "stddev_kw", agg_acc_stddev(a));
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
static int energy_write(const struct agg_acc *a, struct mf_buf *out)
{
    return mf_json_double(out, a->energy_kwh);
}
static int energy_write_bin(const struct agg_acc *a, struct mf_buf *out)
{
    return agg_bin_f64(out, a->energy_kwh);
}
static int energy_read(struct agg_acc *a, const char *s)
{
    return read_double(s, &a->energy_kwh);
}
static int energy_read_bin(struct agg_acc *a, const char *v, int len)
{
    return read_bin_double(v, len, &a->energy_kwh);
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
static int quality_write(const struct agg_acc *a, struct mf_buf *out)
{
    return mf_json_double(out, a->quality_sum);
}
static int quality_write_bin(const struct agg_acc *a, struct mf_buf *out)
{
    return agg_bin_f64(out, a->quality_sum);
}
static int quality_read(struct agg_acc *a, const char *s)
{
    return read_double(s, &a->quality_sum);
}
static int quality_read_bin(struct agg_acc *a, const char *v, int len)
{
    return read_bin_double(v, len, &a->quality_sum);
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
    static int field##_write(const struct agg_acc *a, struct mf_buf *out)                          \
    {                                                                                              \
        return mf_json_int(out, a->field);                                                   \
    }                                                                                              \
    static int field##_write_bin(const struct agg_acc *a, struct mf_buf *out)                      \
    {                                                                                              \
        return agg_bin_i64(out, a->field);                                                         \
    }                                                                                              \
    static int field##_read(struct agg_acc *a, const char *s)                                      \
    {                                                                                              \
        return read_int(s, &a->field);                                                             \
    }                                                                                              \
    static int field##_read_bin(struct agg_acc *a, const char *v, int len)                         \
    {                                                                                              \
        return agg_bin_read_int(v, len, &a->field);                                                \
    }                                                                                              \
    static int field##_emit(const struct agg_acc *a, struct mf_buf *out)                           \
    {                                                                                              \
        return mf_buf_appendf(out, ",\"" #field "\":%lld", (long long)a->field) ? MF_EDATA         \
                                                                               : MF_OK;           \
    }

COUNTER_ROW(premium, rec->tier == AGG_TIER_PREMIUM)
COUNTER_ROW(standard, rec->tier == AGG_TIER_STANDARD)
COUNTER_ROW(interpolated, rec->interpolated)

/* ---------------------------------------------------------------- the table */

#define ROW(name, sql)                                                                             \
    {#name, sql, name##_init, name##_merge, name##_write, name##_write_bin, name##_read,          \
     name##_read_bin, name##_emit}

/*
 * Column order here is the COPY order, the SELECT order of every query
 * that reads a window back, and the JSON order of DESIGN §3.4. m2 comes
 * after sum: the SQL expression for m2 reads the OLD count and sum_kw (SET
 * expressions all see the row as it was), like m2_merge reads a and b.
 */
const struct agg_func agg_funcs[] = {
    {"count", "count = r.count + EXCLUDED.count", count_init, count_merge, count_write, count_write_bin,
     count_read, count_read_bin, count_emit},
    {"sum_kw", "sum_kw = r.sum_kw + EXCLUDED.sum_kw", sum_init, sum_merge, sum_write, sum_write_bin, sum_read, sum_read_bin,
     sum_emit},
    {"min_kw", "min_kw = least(r.min_kw, EXCLUDED.min_kw)", min_init, min_merge, min_write, min_write_bin,
     min_read, min_read_bin, min_emit},
    {"max_kw", "max_kw = greatest(r.max_kw, EXCLUDED.max_kw)", max_init, max_merge, max_write, max_write_bin,
     max_read, max_read_bin, max_emit},
    {"m2",
     "m2 = r.m2 + EXCLUDED.m2 + (EXCLUDED.sum_kw / EXCLUDED.count - r.sum_kw / r.count)"
     " * (EXCLUDED.sum_kw / EXCLUDED.count - r.sum_kw / r.count)"
     " * (r.count::float8 * EXCLUDED.count::float8 / (r.count + EXCLUDED.count)::float8)",
     m2_init, m2_merge, m2_write, m2_write_bin, m2_read, m2_read_bin, m2_emit},
    {"energy_kwh", "energy_kwh = r.energy_kwh + EXCLUDED.energy_kwh", energy_init, energy_merge,
     energy_write, energy_write_bin, energy_read, energy_read_bin, energy_emit},
    {"quality_sum", "quality_sum = r.quality_sum + EXCLUDED.quality_sum", quality_init,
     quality_merge, quality_write, quality_write_bin, quality_read, quality_read_bin, quality_emit},
    ROW(premium, "premium = r.premium + EXCLUDED.premium"),
    ROW(standard, "standard = r.standard + EXCLUDED.standard"),
    ROW(interpolated, "interpolated = r.interpolated + EXCLUDED.interpolated"),
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

int agg_acc_write_copy(const struct agg_acc *a, struct mf_buf *out)
{
    for (size_t i = 0; i < agg_funcs_count; i++) {
        if ((i && mf_buf_appendc(out, '\t')) || agg_funcs[i].write(a, out))
            return MF_EDATA;
    }
    return MF_OK;
}

int agg_acc_write_copy_binary(const struct agg_acc *a, struct mf_buf *out)
{
    for (size_t i = 0; i < agg_funcs_count; i++)
        if (agg_funcs[i].write_bin(a, out))
            return MF_EDATA;
    return MF_OK;
}

int agg_acc_read(struct agg_acc *a, const char *const *texts)
{
    for (size_t i = 0; i < agg_funcs_count; i++)
        if (agg_funcs[i].read(a, texts[i]) != MF_OK)
            return MF_EDATA;
    return MF_OK;
}

int agg_acc_read_binary(struct agg_acc *a, const char *const *vals, const int *lens)
{
    for (size_t i = 0; i < agg_funcs_count; i++)
        if (agg_funcs[i].read_bin(a, vals[i], lens[i]) != MF_OK)
            return MF_EDATA;
    return MF_OK;
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
