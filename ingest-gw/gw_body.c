/*
 * gw_body: splits a request body into readings. Counting comes first, so a
 * body with too many items is refused before any work is done on it.
 */
#include "gw_body.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mf_csv.h"
#include "mf_time.h"
#include "mf_common.h"

#define FAIL(status, ...)                                                                          \
    do {                                                                                           \
        snprintf(errbuf, errlen, __VA_ARGS__);                                                     \
        return (status);                                                                           \
    } while (0)

int gw_body_format_of(const char *ct)
{
    static const struct {
        const char *type;
        enum gw_body_format fmt;
    } types[] = {
        {"application/json", GW_BODY_JSON},
        {"application/x-ndjson", GW_BODY_NDJSON},
        {"application/ndjson", GW_BODY_NDJSON},
        {"application/jsonlines", GW_BODY_NDJSON},
        {"text/csv", GW_BODY_CSV},
    };
    if (!ct)
        return -1;
    while (*ct == ' ')
        ct++;
    size_t n = strcspn(ct, "; ");
    for (size_t i = 0; i < MF_ARRAY_LEN(types); i++)
        if (strlen(types[i].type) == n && strncasecmp(ct, types[i].type, n) == 0)
            return (int)types[i].fmt;
    return -1;
}

/* ---------------------------------------------------------------- JSON */

/*
 * Each item of a JSON or NDJSON body as a parsed value (v; NULL with err
 * when an NDJSON line is not JSON). Both the readings and the objects form
 * sit on it. `noun` names the items in whole-body errors ("readings").
 */
typedef void value_fn(void *opaque, size_t index, const cJSON *v, const char *err);

static enum gw_body_status json_values(const char *body, size_t len, size_t max_items,
                                       const char *noun, value_fn *fn, void *opaque, char *errbuf,
                                       size_t errlen)
{
    cJSON *root = cJSON_ParseWithLength(body, len);

    if (!root)
        FAIL(GW_BODY_BAD, "body is not JSON");
    if (cJSON_IsObject(root)) {
        fn(opaque, 0, root, NULL);
    } else if (cJSON_IsArray(root)) {
        size_t n = (size_t)cJSON_GetArraySize(root);
        if (n > max_items) {
            cJSON_Delete(root);
            FAIL(GW_BODY_TOO_MANY, "too many %s: %zu, the limit is %zu", noun, n, max_items);
        }
        if (n == 0) {
            cJSON_Delete(root);
            FAIL(GW_BODY_BAD, "empty array: no %s", noun);
        }
        size_t i = 0;
        for (const cJSON *c = root->child; c; c = c->next, i++)
            fn(opaque, i, c, NULL);
    } else {
        cJSON_Delete(root);
        FAIL(GW_BODY_BAD, "body is neither an object nor an array of them");
    }
    cJSON_Delete(root);
    return GW_BODY_OK;
}

/* ---------------------------------------------------------------- NDJSON */

static int blank_line(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return 0;
    return 1;
}

static enum gw_body_status ndjson_values(const char *body, size_t len, size_t max_items,
                                         const char *noun, value_fn *fn, void *opaque, char *errbuf,
                                         size_t errlen)
{
    const char *end = body + len;
    size_t count = 0;

    for (const char *p = body; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        if (!blank_line(p, (size_t)(e - p)))
            count++;
        p = nl ? nl + 1 : end;
    }
    if (count > max_items)
        FAIL(GW_BODY_TOO_MANY, "too many %s: %zu, the limit is %zu", noun, count, max_items);
    if (count == 0)
        FAIL(GW_BODY_BAD, "empty body: no %s", noun);

    size_t index = 0;
    for (const char *p = body; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        if (!blank_line(p, (size_t)(e - p))) {
            cJSON *v = cJSON_ParseWithLength(p, (size_t)(e - p));
            fn(opaque, index++, v, v ? NULL : "not JSON");
            cJSON_Delete(v);
        }
        p = nl ? nl + 1 : end;
    }
    return GW_BODY_OK;
}

/* The readings form over values: each value read as a §3.1 reading. */
struct reading_adapter {
    gw_body_item_fn *item_fn;
    void *opaque;
};

static void reading_of_value(void *opaque, size_t index, const cJSON *v, const char *err)
{
    struct reading_adapter *a = opaque;
    char why[160];
    struct mf_reading r;

    if (!v)
        a->item_fn(a->opaque, index, NULL, err);
    else if (mf_reading_from_json(v, &r, why, sizeof why) == MF_OK)
        a->item_fn(a->opaque, index, &r, NULL);
    else
        a->item_fn(a->opaque, index, NULL, why);
}

/* The objects form over values: anything but an object is the item's error. */
struct object_adapter {
    gw_body_object_fn *obj_fn;
    void *opaque;
};

static void object_of_value(void *opaque, size_t index, const cJSON *v, const char *err)
{
    struct object_adapter *a = opaque;
    if (v && !cJSON_IsObject(v))
        a->obj_fn(a->opaque, index, NULL, "item is not a JSON object");
    else
        a->obj_fn(a->opaque, index, v, err);
}

/* ---------------------------------------------------------------- CSV */

enum column { COL_METER_ID, COL_TS, COL_VALUE, COL_UNIT, COL_INTERVAL, NCOLS };
static const char *const column_names[NCOLS] = {"meter_id", "ts", "value", "unit", "interval_s"};

/* A number as JSON writes it: no hex, no inf/nan, nothing after it. */
static int csv_number(const char *s, size_t n, double *out)
{
    char tmp[64];
    if (n == 0 || n >= sizeof tmp)
        return MF_EDATA;
    for (size_t i = 0; i < n; i++)
        if (!strchr("+-0123456789.eE", s[i]) || s[i] == '\0')
            return MF_EDATA;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *end;
    errno = 0;
    double v = strtod(tmp, &end);
    if (*end || !isfinite(v))
        return MF_EDATA;
    *out = v;
    return MF_OK;
}

static int csv_reading(const struct mf_csv *c, const int *col, struct mf_reading *r, char *err,
                       size_t errlen)
{
    const struct mf_csv_field *f[NCOLS] = {NULL};
    for (int k = 0; k < NCOLS; k++)
        if (col[k] >= 0)
            f[k] = &c->f[col[k]];

    memset(r, 0, sizeof *r);
    if (mf_meter_id_check(f[COL_METER_ID]->s, f[COL_METER_ID]->n, err, errlen) != MF_OK)
        return MF_EDATA;
    memcpy(r->meter_id, f[COL_METER_ID]->s, f[COL_METER_ID]->n);
    if (f[COL_TS]->n == 0) {
        snprintf(err, errlen, "missing field 'ts'");
        return MF_EDATA;
    }
    if (mf_time_parse_text(f[COL_TS]->s, f[COL_TS]->n, &r->ts_ms, err, errlen) != MF_OK)
        return MF_EDATA;
    if (f[COL_VALUE]->n == 0) {
        snprintf(err, errlen, "missing field 'value'");
        return MF_EDATA;
    }
    if (csv_number(f[COL_VALUE]->s, f[COL_VALUE]->n, &r->value) != MF_OK) {
        snprintf(err, errlen, "value is not a finite number");
        return MF_EDATA;
    }
    if (f[COL_UNIT] && f[COL_UNIT]->n) {
        if (f[COL_UNIT]->n > MF_UNIT_TEXT_MAX) {
            snprintf(err, errlen, "unit longer than %d characters", MF_UNIT_TEXT_MAX);
            return MF_EDATA;
        }
        memcpy(r->unit_text, f[COL_UNIT]->s, f[COL_UNIT]->n);
        r->unit = mf_unit_parse(r->unit_text, f[COL_UNIT]->n);
    }
    if (f[COL_INTERVAL] && f[COL_INTERVAL]->n) {
        double v;
        if (csv_number(f[COL_INTERVAL]->s, f[COL_INTERVAL]->n, &v) != MF_OK || v != floor(v)) {
            snprintf(err, errlen, "interval_s is not a whole number");
            return MF_EDATA;
        }
        if (v < 1 || v > MF_INTERVAL_MAX_S) {
            snprintf(err, errlen, "interval_s out of range 1..%d", MF_INTERVAL_MAX_S);
            return MF_EDATA;
        }
        r->interval_s = (int32_t)v;
    }
    return MF_OK;
}

/*
 * Counts the data rows first (a cheap pass that bounds the work), then
 * opens c on the body with its header read. On GW_BODY_OK c is to be
 * released by the caller and *rows counts the header too; otherwise c is
 * released and errbuf says why.
 */
static enum gw_body_status csv_open(struct mf_csv *c, const char *body, size_t len,
                                    size_t max_items, const char *noun, size_t *rows, char *errbuf,
                                    size_t errlen)
{
    char err[160];

    mf_csv_init(c, body, len);
    *rows = 0;
    while (mf_csv_next(c, err, sizeof err) != 0)
        (*rows)++;
    mf_csv_release(c);
    if (*rows == 0)
        FAIL(GW_BODY_BAD, "empty body: no CSV header");
    if (*rows - 1 > max_items)
        FAIL(GW_BODY_TOO_MANY, "too many %s: %zu, the limit is %zu", noun, *rows - 1, max_items);
    mf_csv_init(c, body, len);
    if (mf_csv_next(c, err, sizeof err) != 1) {
        mf_csv_release(c);
        FAIL(GW_BODY_BAD, "bad CSV header: %s", err);
    }
    if (c->nfields > MF_CSV_MAX_FIELDS) {
        mf_csv_release(c);
        FAIL(GW_BODY_BAD, "CSV header has %zu columns, at most %d", c->nfields, MF_CSV_MAX_FIELDS);
    }
    return GW_BODY_OK;
}

static enum gw_body_status parse_csv(const char *body, size_t len, size_t max_items,
                                     gw_body_item_fn *item_fn, void *opaque, char *errbuf,
                                     size_t errlen)
{
    struct mf_csv c;
    char err[160];
    int col[NCOLS];
    enum gw_body_status st = GW_BODY_OK;
    int rc;

    size_t rows;
    if ((st = csv_open(&c, body, len, max_items, "readings", &rows, errbuf, errlen)) != GW_BODY_OK)
        return st;
    for (int k = 0; k < NCOLS; k++)
        col[k] = -1;
    size_t ncols = c.nfields;
    for (size_t i = 0; i < ncols; i++) {
        int k;
        for (k = 0; k < NCOLS; k++)
            if (strlen(column_names[k]) == c.f[i].n &&
                strncasecmp(column_names[k], c.f[i].s, c.f[i].n) == 0)
                break;
        if (k == NCOLS) {
            snprintf(errbuf, errlen,
                     "unknown CSV column '%.*s' (want meter_id,ts,value[,unit][,interval_s])",
                     (int)(c.f[i].n > 40 ? 40 : c.f[i].n), c.f[i].s);
            st = GW_BODY_BAD;
            goto out;
        }
        if (col[k] >= 0) {
            snprintf(errbuf, errlen, "duplicate CSV column '%s'", column_names[k]);
            st = GW_BODY_BAD;
            goto out;
        }
        col[k] = (int)i;
    }
    for (int k = COL_METER_ID; k <= COL_VALUE; k++) {
        if (col[k] < 0) {
            snprintf(errbuf, errlen, "CSV header lacks the column '%s'", column_names[k]);
            st = GW_BODY_BAD;
            goto out;
        }
    }
    if (rows == 1) {
        snprintf(errbuf, errlen, "CSV body has a header but no readings");
        st = GW_BODY_BAD;
        goto out;
    }

    size_t index = 0;
    while ((rc = mf_csv_next(&c, err, sizeof err)) != 0) {
        struct mf_reading r;
        /* One branch per case, two of them alike: err says which. */
        /* NOLINTNEXTLINE(bugprone-branch-clone) */
        if (rc < 0) {
            item_fn(opaque, index++, NULL, err);
        } else if (c.nfields != ncols) {
            snprintf(err, sizeof err, "line %zu: %zu fields, the header has %zu", c.line_of_row,
                     c.nfields, ncols);
            item_fn(opaque, index++, NULL, err);
        } else if (csv_reading(&c, col, &r, err, sizeof err) == MF_OK) {
            item_fn(opaque, index++, &r, NULL);
        } else {
            item_fn(opaque, index++, NULL, err);
        }
    }
out:
    mf_csv_release(&c);
    return st;
}

/* ---------------------------------------------------------------- CSV objects */

#define CSV_NAME_MAX 64

/* Columns whose text stays text even when it reads as a number (an id "123"). */
static int text_column(const char *name)
{
    size_t n = strlen(name);
    return strcmp(name, "unit") == 0 || strcmp(name, "model") == 0 ||
           (n >= 3 && strcmp(name + n - 3, "_id") == 0) ||
           (n >= 2 && strcmp(name + n - 2, "Id") == 0);
}

/* One data row as an object of its non-empty columns. NULL with err when it cannot be one. */
static cJSON *csv_object(const struct mf_csv *c, char (*names)[CSV_NAME_MAX + 1], size_t ncols,
                         char *err, size_t errlen)
{
    if (c->nfields != ncols) {
        snprintf(err, errlen, "line %zu: %zu fields, the header has %zu", c->line_of_row,
                 c->nfields, ncols);
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; i < ncols; i++) {
        const struct mf_csv_field *f = &c->f[i];
        double v;
        cJSON *item;
        if (f->n == 0)
            continue;
        if (!text_column(names[i]) && csv_number(f->s, f->n, &v) == MF_OK) {
            item = cJSON_CreateNumber(v);
        } else {
            char *t = mf_xmalloc(f->n + 1);
            memcpy(t, f->s, f->n);
            t[f->n] = '\0';
            item = cJSON_CreateString(t);
            free(t);
        }
        MF_ASSERT(item != NULL); /* cJSON's allocator is malloc: NULL only when out of memory */
        cJSON_AddItemToObject(o, names[i], item);
    }
    return o;
}

static enum gw_body_status csv_objects(const char *body, size_t len, size_t max_items,
                                       gw_body_object_fn *obj_fn, void *opaque, char *errbuf,
                                       size_t errlen)
{
    struct mf_csv c;
    char err[160];
    char(*names)[CSV_NAME_MAX + 1] = NULL;
    enum gw_body_status st = GW_BODY_OK;
    int rc;

    size_t rows;
    if ((st = csv_open(&c, body, len, max_items, "items", &rows, errbuf, errlen)) != GW_BODY_OK)
        return st;
    size_t ncols = c.nfields;
    names = mf_xcalloc(ncols, sizeof *names);
    for (size_t i = 0; i < ncols; i++) {
        if (c.f[i].n == 0 || c.f[i].n > CSV_NAME_MAX || memchr(c.f[i].s, '\0', c.f[i].n)) {
            snprintf(errbuf, errlen, "CSV column %zu: a name of 1..%d characters", i + 1,
                     CSV_NAME_MAX);
            st = GW_BODY_BAD;
            goto out;
        }
        memcpy(names[i], c.f[i].s, c.f[i].n);
        for (size_t k = 0; k < i; k++) {
            if (strcmp(names[k], names[i]) == 0) {
                snprintf(errbuf, errlen, "duplicate CSV column '%s'", names[i]);
                st = GW_BODY_BAD;
                goto out;
            }
        }
    }
    if (rows == 1) {
        snprintf(errbuf, errlen, "CSV body has a header but no items");
        st = GW_BODY_BAD;
        goto out;
    }
    size_t index = 0;
    while ((rc = mf_csv_next(&c, err, sizeof err)) != 0) {
        cJSON *o = rc < 0 ? NULL : csv_object(&c, names, ncols, err, sizeof err);
        obj_fn(opaque, index++, o, o ? NULL : err);
        cJSON_Delete(o);
    }
out:
    free(names);
    mf_csv_release(&c);
    return st;
}

enum gw_body_status gw_body_parse_objects(enum gw_body_format fmt, const char *body, size_t len,
                                          size_t max_items, gw_body_object_fn *obj_fn, void *opaque,
                                          char *errbuf, size_t errlen)
{
    if (len == 0)
        FAIL(GW_BODY_BAD, "empty body");
    if (!mf_utf8_valid(body, len))
        FAIL(GW_BODY_BAD, "body is not valid UTF-8");
    struct object_adapter oa = {obj_fn, opaque};
    switch (fmt) {
    case GW_BODY_JSON:
        return json_values(body, len, max_items, "items", object_of_value, &oa, errbuf, errlen);
    case GW_BODY_NDJSON:
        return ndjson_values(body, len, max_items, "items", object_of_value, &oa, errbuf, errlen);
    case GW_BODY_CSV:
        return csv_objects(body, len, max_items, obj_fn, opaque, errbuf, errlen);
    }
    FAIL(GW_BODY_BAD, "unknown body format");
}

enum gw_body_status gw_body_parse(enum gw_body_format fmt, const char *body, size_t len,
                                  size_t max_items, gw_body_item_fn *item_fn, void *opaque,
                                  char *errbuf, size_t errlen)
{
    if (len == 0)
        FAIL(GW_BODY_BAD, "empty body");
    if (!mf_utf8_valid(body, len))
        FAIL(GW_BODY_BAD, "body is not valid UTF-8");
    struct reading_adapter ra = {item_fn, opaque};
    switch (fmt) {
    case GW_BODY_JSON:
        return json_values(body, len, max_items, "readings", reading_of_value, &ra, errbuf, errlen);
    case GW_BODY_NDJSON:
        return ndjson_values(body, len, max_items, "readings", reading_of_value, &ra, errbuf,
                             errlen);
    case GW_BODY_CSV:
        return parse_csv(body, len, max_items, item_fn, opaque, errbuf, errlen);
    }
    FAIL(GW_BODY_BAD, "unknown body format");
}
