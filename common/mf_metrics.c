/*
 * mf_metrics: the registry. Families are a small fixed array (a program
 * registers a few dozen); series hang off their family in a list. Values
 * are doubles stored as bit patterns in atomics and updated by CAS, since
 * C11 has no atomic add for floating types.
 */
#include "mf_metrics.h"

#include <stdbool.h>
#include <math.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mf_json.h"
#include "mf_common.h"

#define MAX_FAMILIES 96

struct mf_metric {
    struct mf_metric *next;
    const struct family *fam;
    char *labels;           /* rendered: k1="v1",k2="v2" (may be empty) */
    _Atomic uint64_t value; /* counter/gauge value; histogram sum */
    _Atomic uint64_t count; /* histogram count */
    _Atomic uint64_t *hits; /* histogram: per-bucket (not cumulative), nbounds + 1 */
    bool hidden;            /* cleared: not rendered until looked up again (under lock) */
};

struct family {
    char *name;
    char *help;
    enum mf_metric_type type;
    double *bounds;
    size_t nbounds;
    struct mf_metric *series;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct family families[MAX_FAMILIES];
static size_t nfamilies;

static const double default_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,  0.5,    1,     2.5,  5,     10};

static double bits_to_double(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static uint64_t double_to_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static void atomic_add_double(_Atomic uint64_t *slot, double v)
{
    uint64_t old = atomic_load_explicit(slot, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(slot, &old,
                                                  double_to_bits(bits_to_double(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

static struct family *find_family(const char *name)
{
    for (size_t i = 0; i < nfamilies; i++)
        if (strcmp(families[i].name, name) == 0)
            return &families[i];
    return NULL;
}

void mf_metrics_register(const char *name, enum mf_metric_type type, const char *help,
                         const double *bounds, size_t nbounds)
{
    pthread_mutex_lock(&lock);
    if (!find_family(name)) {
        MF_ASSERT(nfamilies < MAX_FAMILIES);
        struct family *f = &families[nfamilies++];
        f->name = mf_xstrdup(name);
        f->help = mf_xstrdup(help);
        f->type = type;
        if (type == MF_METRIC_HISTOGRAM) {
            if (!bounds) {
                bounds = default_bounds;
                nbounds = MF_ARRAY_LEN(default_bounds);
            }
            f->bounds = mf_xmalloc(nbounds * sizeof *bounds);
            memcpy(f->bounds, bounds, nbounds * sizeof *bounds);
            f->nbounds = nbounds;
        }
    }
    pthread_mutex_unlock(&lock);
}

/* Label values are escaped as the exposition format requires. */
static void append_label_value(struct mf_buf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            mf_buf_appendc(b, '\\');
        if (*v == '\n') {
            mf_buf_appends(b, "\\n");
            continue;
        }
        mf_buf_appendc(b, *v);
    }
}

struct mf_metric *mf_metric(const char *family, const char *const *labels)
{
    struct mf_buf key = MF_BUF_INIT;
    struct mf_metric *m;

    mf_buf_appends(&key, "");
    for (size_t i = 0; labels && labels[i]; i += 2) {
        MF_ASSERT(labels[i + 1] != NULL);
        if (i)
            mf_buf_appendc(&key, ',');
        mf_buf_appendf(&key, "%s=\"", labels[i]);
        append_label_value(&key, labels[i + 1]);
        mf_buf_appendc(&key, '"');
    }

    pthread_mutex_lock(&lock);
    struct family *f = find_family(family);
    MF_ASSERT(f != NULL);
    for (m = f->series; m; m = m->next)
        if (strcmp(m->labels, key.data) == 0)
            break;
    if (m)
        m->hidden = false;
    if (!m) {
        m = mf_xcalloc(1, sizeof *m);
        m->fam = f;
        m->labels = key.data;
        key.data = NULL; /* the series owns it */
        if (f->type == MF_METRIC_HISTOGRAM)
            m->hits = mf_xcalloc(f->nbounds + 1, sizeof *m->hits);
        /* Append, so series render in the order they were first used. */
        struct mf_metric **tail = &f->series;
        while (*tail)
            tail = &(*tail)->next;
        *tail = m;
    }
    pthread_mutex_unlock(&lock);
    mf_buf_release(&key);
    return m;
}

struct mf_metric *mf_metric1(const char *family, const char *k, const char *v)
{
    const char *labels[] = {k, v, NULL};
    return mf_metric(family, labels);
}

struct mf_metric *mf_metric2(const char *family, const char *k1, const char *v1, const char *k2,
                             const char *v2)
{
    const char *labels[] = {k1, v1, k2, v2, NULL};
    return mf_metric(family, labels);
}

void mf_metric_add(struct mf_metric *m, double v)
{
    atomic_add_double(&m->value, v);
}

void mf_metric_inc(struct mf_metric *m)
{
    atomic_add_double(&m->value, 1);
}

void mf_metric_set(struct mf_metric *m, double v)
{
    atomic_store_explicit(&m->value, double_to_bits(v), memory_order_relaxed);
}

double mf_metric_value(const struct mf_metric *m)
{
    return bits_to_double(atomic_load_explicit(&m->value, memory_order_relaxed));
}

void mf_metric_observe(struct mf_metric *m, double v)
{
    const struct family *f = m->fam;
    size_t i = 0;
    while (i < f->nbounds && v > f->bounds[i])
        i++;
    atomic_fetch_add_explicit(&m->hits[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->count, 1, memory_order_relaxed);
    atomic_add_double(&m->value, v);
}

void mf_metrics_clear_family(const char *family)
{
    pthread_mutex_lock(&lock);
    struct family *f = find_family(family);
    /*
     * Series may be cached by callers, so they are never freed; they are
     * hidden instead, and a later lookup of the same labels shows the same
     * series again. Unlinking them would leak one series per label set per
     * clear (the Kafka lag gauge clears every statistics round).
     */
    for (struct mf_metric *m = f ? f->series : NULL; m; m = m->next)
        m->hidden = true;
    pthread_mutex_unlock(&lock);
}

/* Prometheus text: a number as JSON writes it, NaN for anything not finite. */
static void render_value(struct mf_buf *out, double v)
{
    if (isfinite(v))
        mf_json_double(out, v);
    else
        mf_buf_appends(out, "NaN");
}

static void render_series(struct mf_buf *out, const struct family *f, const struct mf_metric *m)
{
    const char *sep = m->labels[0] ? "," : "";

    if (f->type != MF_METRIC_HISTOGRAM) {
        mf_buf_appends(out, f->name);
        if (m->labels[0])
            mf_buf_appendf(out, "{%s}", m->labels);
        mf_buf_appendc(out, ' ');
        render_value(out, mf_metric_value(m));
        mf_buf_appendc(out, '\n');
        return;
    }
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= f->nbounds; i++) {
        cumulative += atomic_load_explicit(&m->hits[i], memory_order_relaxed);
        mf_buf_appendf(out, "%s_bucket{%s%sle=\"", f->name, m->labels, sep);
        if (i < f->nbounds)
            render_value(out, f->bounds[i]);
        else
            mf_buf_appends(out, "+Inf");
        mf_buf_appendf(out, "\"} %llu\n", (unsigned long long)cumulative);
    }
    mf_buf_appendf(out, "%s_sum%s%s%s ", f->name, m->labels[0] ? "{" : "", m->labels,
                   m->labels[0] ? "}" : "");
    render_value(out, mf_metric_value(m));
    mf_buf_appendf(out, "\n%s_count%s%s%s %llu\n", f->name, m->labels[0] ? "{" : "", m->labels,
                   m->labels[0] ? "}" : "",
                   (unsigned long long)atomic_load_explicit(&m->count, memory_order_relaxed));
}

void mf_metrics_render(struct mf_buf *out)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};

    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nfamilies; i++) {
        const struct family *f = &families[i];
        mf_buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
                       type_names[f->type]);
        for (const struct mf_metric *m = f->series; m; m = m->next)
            if (!m->hidden)
                render_series(out, f, m);
    }
    pthread_mutex_unlock(&lock);
}

void mf_metrics_init(void)
{
    mf_metrics_register("meterflow_build_info", MF_METRIC_GAUGE,
                        "Build information; the value is always 1.", NULL, 0);
    mf_metric_set(mf_metric1("meterflow_build_info", "version", MF_VERSION), 1);
}
