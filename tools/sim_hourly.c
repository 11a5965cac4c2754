/*
 * sim_hourly: a few thousand (hour, series) cells at most, kept in one
 * array searched linearly and sorted once at the end. The validated topic
 * is the big one (every good reading): a record whose flags are only the
 * unit ones is recognized in its text and skipped without a JSON parse.
 */
#include "sim_hourly.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "sim_topic.h"

#include "mf_time.h"

#include "mf_common.h"

#define MS_HOUR 3600000

struct cell {
    int64_t hour_ms;
    char series[64];
    long n;
};

struct hourly {
    struct cell *c;
    size_t n, cap;
    size_t unparsed;
};

static void count(struct hourly *h, int64_t hour_ms, const char *prefix, const char *name)
{
    char series[64];
    snprintf(series, sizeof series, "%s%s", prefix, name);
    for (size_t i = h->n; i-- > 0;)
        if (h->c[i].hour_ms == hour_ms && strcmp(h->c[i].series, series) == 0) {
            h->c[i].n++;
            return;
        }
    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 256;
        h->c = mf_xrealloc(h->c, h->cap * sizeof *h->c);
    }
    struct cell *c = &h->c[h->n++];
    c->hour_ms = hour_ms;
    snprintf(c->series, sizeof c->series, "%s", series);
    c->n = 1;
}

static int cmp_cell(const void *a, const void *b)
{
    const struct cell *x = a, *y = b;
    if (x->hour_ms != y->hour_ms)
        return x->hour_ms < y->hour_ms ? -1 : 1;
    return strcmp(x->series, y->series);
}

/* The record's event time, floored to its hour; false if it has none. */
static bool hour_of(const cJSON *root, int64_t *hour_ms)
{
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(root, "ts");
    char err[128];
    int64_t ms;
    if (!cJSON_IsString(ts) ||
        mf_time_parse_rfc3339(ts->valuestring, strlen(ts->valuestring), &ms, err, sizeof err))
        return false;
    *hour_ms = ms - ms % MS_HOUR;
    return true;
}

static bool is_unit_flag(const char *name)
{
    return strcmp(name, "unit_converted") == 0 || strcmp(name, "unit_inferred") == 0;
}

/* Where needle (n bytes) first occurs in data (len bytes), or NULL. */
static const char *find(const char *data, size_t len, const char *needle, size_t n)
{
    for (size_t i = 0; i + n <= len; i++)
        if (data[i] == needle[0] && memcmp(data + i, needle, n) == 0)
            return data + i;
    return NULL;
}

/* True when the record's text shows flags of the unit mix only (or none). */
static bool only_unit_flags(const char *data, size_t len)
{
    static const char key[] = "\"flags\":[";
    static const char *const tails[] = {"]", "\"unit_converted\"]",
                                        "\"unit_converted\",\"unit_inferred\"]"};
    const char *f = find(data, len, key, sizeof key - 1);
    if (!f)
        return false; /* not the worker's compact form: parse it */
    f += sizeof key - 1;
    size_t left = len - (size_t)(f - data);
    for (size_t i = 0; i < MF_ARRAY_LEN(tails); i++) {
        size_t n = strlen(tails[i]);
        if (left >= n && memcmp(f, tails[i], n) == 0)
            return true;
    }
    return false;
}

static void add_validated(void *ctx, const char *data, size_t len)
{
    struct hourly *h = ctx;
    int64_t hour;
    if (!data || only_unit_flags(data, len))
        return;
    cJSON *root = cJSON_ParseWithLength(data, len);
    const cJSON *flags = cJSON_GetObjectItemCaseSensitive(root, "flags");
    if (!hour_of(root, &hour) || !cJSON_IsArray(flags)) {
        h->unparsed++;
    } else {
        const cJSON *f;
        cJSON_ArrayForEach(f, flags)
        {
            if (cJSON_IsString(f) && !is_unit_flag(f->valuestring))
                count(h, hour, "flag:", f->valuestring);
        }
    }
    cJSON_Delete(root);
}

static void add_quarantine(void *ctx, const char *data, size_t len)
{
    struct hourly *h = ctx;
    int64_t hour;
    cJSON *root = data ? cJSON_ParseWithLength(data, len) : NULL;
    const cJSON *reasons = cJSON_GetObjectItemCaseSensitive(root, "reasons");
    const cJSON *first = cJSON_IsArray(reasons) ? cJSON_GetArrayItem(reasons, 0) : NULL;
    if (!hour_of(root, &hour))
        h->unparsed++;
    else /* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): cJSON_IsString(NULL) is false */
        count(h, hour, "quarantine:", cJSON_IsString(first) ? first->valuestring : "score");
    cJSON_Delete(root);
}

static void add_alert(void *ctx, const char *data, size_t len)
{
    struct hourly *h = ctx;
    int64_t hour;
    cJSON *root = data ? cJSON_ParseWithLength(data, len) : NULL;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(root, "state");
    if (!hour_of(root, &hour) || !cJSON_IsString(type) || !cJSON_IsString(state))
        h->unparsed++;
    else
        count(h, hour,
              strcmp(state->valuestring, "cleared") == 0 ? "alert.cleared:" : "alert.raised:",
              type->valuestring);
    cJSON_Delete(root);
}

int sim_hourly(const struct sim_hourly_opts *o, FILE *out)
{
    struct hourly h = {0};
    int rc;

    if ((rc = sim_topic_read(o->brokers, o->topic_quarantine, o->timeout_s, add_quarantine, &h)) ||
        (rc = sim_topic_read(o->brokers, o->topic_validated, o->timeout_s, add_validated, &h)) ||
        (rc = sim_topic_read(o->brokers, o->topic_alerts, o->timeout_s, add_alert, &h)))
        goto out;
    qsort(h.c, h.n, sizeof *h.c, cmp_cell);
    fprintf(out, "# hour (UTC, event time) series count\n");
    for (size_t i = 0; i < h.n; i++) {
        char t[MF_TIME_STRLEN];
        mf_time_format(h.c[i].hour_ms, t);
        fprintf(out, "%s %s %ld\n", t, h.c[i].series, h.c[i].n);
    }
    if (h.unparsed)
        fprintf(stderr, "meter-sim: hourly: %zu records without a usable ts, type or flags\n",
                h.unparsed);
out:
    free(h.c);
    return rc;
}
