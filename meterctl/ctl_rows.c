/*
 * ctl_rows: the CSV checks of registry and holidays imports. The tables'
 * columns are rows here (the registries of DESIGN §6 and §11, the
 * holidays of §13); the bounds repeat the tables' CHECKs so a bad value is
 * refused with its line and column instead of a whole-file SQL error.
 */
#include "ctl_rows.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mf_alloc.h"
#include "mf_buf.h"
#include "mf_csv.h"
#include "mf_reading.h"
#include "mf_common.h"

/* ---------------------------------------------------------------- the tables */

#define UNB 1, 0, 0 /* no bounds */

/* clang-format off */
static const struct ctl_column meter_cols[] = {
    {"meter_id", CTL_ID, "text", CTL_COL_KEY, NULL, UNB},
    {"class", CTL_TEXT, "text", 0, NULL, UNB},
    {"max_kw", CTL_NUM, "double precision", CTL_COL_NOTNULL, "20", 0, 1e15, 1},
    {"interval_s", CTL_INT, "integer", CTL_COL_NOTNULL, "60", 1, 86400, 0},
    {"vacant", CTL_BOOL, "boolean", CTL_COL_NOTNULL, "false", UNB},
    {"neighborhood", CTL_TEXT, "text", 0, NULL, UNB},
    {"region", CTL_TEXT, "text", 0, NULL, UNB},
    {"active", CTL_BOOL, "boolean", CTL_COL_NOTNULL, "true", UNB},
    {"feeder_id", CTL_ID, "text", 0, NULL, UNB},
    {"tz", CTL_TZ, "text", 0, NULL, UNB},
};
static const struct ctl_column feeder_cols[] = {
    {"feeder_id", CTL_ID, "text", CTL_COL_KEY, NULL, UNB},
    {"region", CTL_TEXT, "text", 0, NULL, UNB},
    {"rated_kw", CTL_NUM, "double precision", 0, NULL, 0, 1e15, 1},
    {"interval_s", CTL_INT, "integer", CTL_COL_NOTNULL, "60", 1, 86400, 0},
};
static const struct ctl_column station_cols[] = {
    {"station_id", CTL_ID, "text", CTL_COL_KEY, NULL, UNB},
    {"region", CTL_TEXT, "text", 0, NULL, UNB},
    {"lat", CTL_NUM, "double precision", 0, NULL, -90, 90, 0},
    {"lon", CTL_NUM, "double precision", 0, NULL, -180, 180, 0},
};
static const struct ctl_column vehicle_cols[] = {
    {"vehicle_id", CTL_ID, "text", CTL_COL_KEY, NULL, UNB},
    {"meter_id", CTL_ID, "text", 0, NULL, UNB},
    {"battery_kwh", CTL_NUM, "double precision", 0, NULL, 0, 1e9, 1},
    {"model", CTL_TEXT, "text", 0, NULL, UNB},
};
/* region empty = everywhere, yet part of the key: one name per day and region. */
static const struct ctl_column holiday_cols[] = {
    {"day", CTL_DATE, "date", CTL_COL_KEY, NULL, UNB},
    {"region", CTL_REGION, "text", CTL_COL_KEY, NULL, UNB},
    {"name", CTL_TEXT, "text", CTL_COL_NOTNULL, NULL, UNB},
};
/* clang-format on */

const struct ctl_kind ctl_kinds[] = {
    {"meters", "meters", "(meter_id)", meter_cols, MF_ARRAY_LEN(meter_cols)},
    {"feeders", "feeders", "(feeder_id)", feeder_cols, MF_ARRAY_LEN(feeder_cols)},
    {"stations", "weather_stations", "(station_id)", station_cols, MF_ARRAY_LEN(station_cols)},
    {"vehicles", "vehicles", "(vehicle_id)", vehicle_cols, MF_ARRAY_LEN(vehicle_cols)},
    {"holidays", "holidays", "(day, (coalesce(region, '')))", holiday_cols,
     MF_ARRAY_LEN(holiday_cols)},
};
const size_t ctl_nkinds = MF_ARRAY_LEN(ctl_kinds);

const struct ctl_kind *ctl_kind_find(const char *name)
{
    for (size_t i = 0; i < ctl_nkinds; i++)
        if (strcmp(ctl_kinds[i].name, name) == 0)
            return &ctl_kinds[i];
    return NULL;
}

/* ---------------------------------------------------------------- errors */

static void add_error(struct ctl_rows *r, size_t line, size_t column, const char *name,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void add_error(struct ctl_rows *r, size_t line, size_t column, const char *name,
                      const char *fmt, ...)
{
    if (r->nerrs++ >= CTL_MAX_ERRORS)
        return;
    struct ctl_error *e = &r->errs[r->nerrs - 1];
    e->line = line;
    e->column = column;
    snprintf(e->name, sizeof e->name, "%s", name ? name : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------- values */

static int is_leap(long y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* YYYY-MM-DD, a day that exists, 1970..9999 (mf_time's range). */
static int date_ok(const char *s, size_t n)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (n != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return 0;
    long y = strtol(s, NULL, 10), m = strtol(s + 5, NULL, 10), d = strtol(s + 8, NULL, 10);
    if (y < 1970 || m < 1 || m > 12 || d < 1)
        return 0;
    return d <= mdays[m - 1] + (m == 2 && is_leap(y));
}

/* Characters a decimal number may have: strtod would also take hex, inf, nan. */
static int number_chars(const char *s)
{
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || *s == '.' || *s == '-' || *s == '+' || *s == 'e' ||
              *s == 'E'))
            return 0;
    return 1;
}

static const char *bool_text(const char *s)
{
    static const char *const yes[] = {"true", "t", "yes", "y", "on", "1"};
    static const char *const no[] = {"false", "f", "no", "n", "off", "0"};
    for (size_t i = 0; i < MF_ARRAY_LEN(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return "true";
        if (strcasecmp(s, no[i]) == 0)
            return "false";
    }
    return NULL;
}

/*
 * Checks one non-empty value (s, NUL-terminated, n bytes, UTF-8 already
 * checked) of column c. Returns the normalised value (owned by the caller)
 * or NULL with the reason in msg.
 */
static char *check_value(const struct ctl_column *c, const char *s, size_t n, ctl_known_fn *known,
                         void *ctx, char *msg, size_t msglen)
{
    char *end;
    switch (c->type) {
    case CTL_ID: {
        char ignored[8];
        if (mf_meter_id_check(s, n, ignored, sizeof ignored) != MF_OK) {
            snprintf(msg, msglen, "not an id: 1 to 64 characters of [A-Za-z0-9._:-]");
            return NULL;
        }
        break;
    }
    case CTL_TEXT:
        if (n > CTL_TEXT_MAX) {
            snprintf(msg, msglen, "longer than %d bytes", CTL_TEXT_MAX);
            return NULL;
        }
        break;
    case CTL_NUM: {
        if (!number_chars(s)) {
            snprintf(msg, msglen, "not a number");
            return NULL;
        }
        errno = 0;
        double v = strtod(s, &end);
        if (end == s || *end || errno == ERANGE || !isfinite(v)) {
            snprintf(msg, msglen, "not a number");
            return NULL;
        }
        if (c->min <= c->max && (v > c->max || v < c->min || (c->min_open && v == c->min))) {
            if (c->min_open && v <= c->min)
                snprintf(msg, msglen, "must be above %g", c->min);
            else
                snprintf(msg, msglen, "must be between %g and %g", c->min, c->max);
            return NULL;
        }
        break;
    }
    case CTL_INT: {
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (end == s || *end || errno == ERANGE || !number_chars(s)) {
            snprintf(msg, msglen, "not an integer");
            return NULL;
        }
        if ((double)v < c->min || (double)v > c->max) {
            snprintf(msg, msglen, "must be between %.0f and %.0f", c->min, c->max);
            return NULL;
        }
        break;
    }
    case CTL_BOOL: {
        const char *b = bool_text(s);
        if (!b) {
            snprintf(msg, msglen, "not a boolean (true or false)");
            return NULL;
        }
        return mf_xstrdup(b);
    }
    case CTL_DATE:
        if (!date_ok(s, n)) {
            snprintf(msg, msglen, "not a date (YYYY-MM-DD, a day that exists)");
            return NULL;
        }
        break;
    case CTL_TZ:
        if (n > CTL_TEXT_MAX || (known && !known(ctx, CTL_TZ, s))) {
            snprintf(msg, msglen, "unknown time zone (an IANA name such as Europe/London)");
            return NULL;
        }
        break;
    case CTL_REGION:
        if (n > CTL_TEXT_MAX || (known && !known(ctx, CTL_REGION, s))) {
            snprintf(msg, msglen, "unknown region (no meter, feeder or weather station has it)");
            return NULL;
        }
        break;
    }
    return mf_xstrndup(s, n);
}

/* The first byte of s[0..n) PostgreSQL's text cannot hold or a CSV should not: a control. */
static const char *control_char(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 && s[i] != '\t')
            return s + i;
    return NULL;
}

/* The offset of the first byte of s that breaks UTF-8 (n when it is all good). */
static size_t utf8_bad_at(const char *s, size_t n)
{
    size_t lo = 0, hi = n;
    if (mf_utf8_valid(s, n))
        return n;
    /* The longest valid prefix; a multi-byte sequence cut short counts as bad where it starts. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        if (mf_utf8_valid(s, mid))
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* Checks a field's bytes; 0 and an error added when they are not text. */
static int field_text_ok(struct ctl_rows *r, size_t line, size_t column, const char *name,
                         const struct mf_csv_field *f)
{
    size_t bad = utf8_bad_at(f->s, f->n);
    if (bad < f->n) {
        add_error(r, line, column, name, "not UTF-8: byte 0x%02x at byte %zu of the field",
                  (unsigned char)f->s[bad], bad + 1);
        return 0;
    }
    const char *cc = control_char(f->s, f->n);
    if (cc) {
        add_error(r, line, column, name, "a control character (0x%02x)", (unsigned char)*cc);
        return 0;
    }
    return 1;
}

/* mf_csv's "line N: reason" as an error of line N. */
static void add_csv_error(struct ctl_rows *r, const char *err)
{
    char *end;
    size_t line = 0;
    if (strncmp(err, "line ", 5) == 0) {
        line = (size_t)strtoul(err + 5, &end, 10);
        if (strncmp(end, ": ", 2) == 0)
            err = end + 2;
    }
    add_error(r, line, 0, NULL, "%s", err);
}

/* ---------------------------------------------------------------- header */

/* Maps the header fields to the kind's columns; 0 when it has errors. */
static int read_header(struct ctl_rows *r, struct mf_csv *csv)
{
    const struct ctl_kind *k = r->kind;
    char err[128];
    int rc = mf_csv_next(csv, err, sizeof err);
    if (rc == 0) {
        add_error(r, 1, 0, NULL, "no header line (the file is empty)");
        return 0;
    }
    if (rc < 0) {
        add_csv_error(r, err);
        return 0;
    }
    size_t line = csv->line_of_row, errs = r->nerrs;
    if (csv->nfields > k->ncols || csv->nfields > MF_CSV_MAX_FIELDS) {
        add_error(r, line, 0, NULL, "%zu header fields, but %s has %zu columns", csv->nfields,
                  k->name, k->ncols);
        return 0;
    }
    int seen[CTL_MAX_COLS] = {0};
    for (size_t i = 0; i < csv->nfields; i++) {
        const struct mf_csv_field *f = &csv->f[i];
        if (!field_text_ok(r, line, i + 1, NULL, f))
            continue;
        size_t j = 0;
        while (j < k->ncols &&
               !(strlen(k->cols[j].name) == f->n && memcmp(k->cols[j].name, f->s, f->n) == 0))
            j++;
        if (j == k->ncols) {
            add_error(r, line, i + 1, NULL, "unknown column '%.*s' for %s",
                      (int)(f->n > 64 ? 64 : f->n), f->s, k->name);
        } else if (seen[j]++) {
            add_error(r, line, i + 1, k->cols[j].name, "column named twice");
        }
        r->col[i] = j;
    }
    r->ncols = csv->nfields;
    for (size_t i = r->ncols; i-- > 0;)
        if (r->col[i] < k->ncols && (k->cols[r->col[i]].flags & CTL_COL_KEY))
            r->key_col = i; /* the first key column the header names */
    for (size_t j = 0; j < k->ncols; j++) {
        const struct ctl_column *c = &k->cols[j];
        int needed = (c->flags & CTL_COL_KEY) || ((c->flags & CTL_COL_NOTNULL) && !c->def);
        if (needed && !seen[j])
            add_error(r, line, 0, c->name, "missing column '%s'", c->name);
    }
    return r->nerrs == errs;
}

/* ---------------------------------------------------------------- rows */

static void push_row(struct ctl_rows *r, char **vals, size_t line)
{
    if (r->nrows == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->vals = mf_xrealloc(r->vals, r->cap * r->ncols * sizeof *r->vals);
        r->lines = mf_xrealloc(r->lines, r->cap * sizeof *r->lines);
    }
    memcpy(r->vals + r->nrows * r->ncols, vals, r->ncols * sizeof *vals);
    r->lines[r->nrows++] = line;
}

/* Remembers a row's key (the key columns' values joined) for the duplicate check. */
static void push_key(struct ctl_rows *r, char **vals, size_t line)
{
    struct mf_buf b = MF_BUF_INIT;
    const char *shown = NULL;
    for (size_t j = 0; j < r->ncols; j++) {
        if (!(r->kind->cols[r->col[j]].flags & CTL_COL_KEY))
            continue;
        if (!shown)
            shown = vals[j] ? vals[j] : "";
        mf_buf_appends(&b, vals[j] ? vals[j] : "");
        mf_buf_appendc(&b, '\x1f'); /* no id, date or region holds it */
    }
    if (r->nkeys == r->keycap) {
        r->keycap = r->keycap ? r->keycap * 2 : 64;
        r->keys = mf_xrealloc(r->keys, r->keycap * sizeof *r->keys);
    }
    struct ctl_key *k = &r->keys[r->nkeys++];
    k->key = b.data ? b.data : mf_xstrdup("");
    snprintf(k->shown, sizeof k->shown, "%s", shown ? shown : "");
    k->line = line;
    k->bad = 0;
}

/* Checks one data row; keeps it (values owned by r) when it is good. */
static void read_row(struct ctl_rows *r, const struct mf_csv *csv, ctl_known_fn *known, void *ctx)
{
    const struct ctl_kind *k = r->kind;
    size_t line = csv->line_of_row, errs = r->nerrs;
    char *vals[CTL_MAX_COLS] = {0};
    char msg[160];

    if (csv->nfields < r->ncols) {
        const char *name = k->cols[r->col[csv->nfields]].name;
        add_error(r, line, csv->nfields + 1, name, "missing field (%zu of the header's %zu)",
                  csv->nfields, r->ncols);
    } else if (csv->nfields > r->ncols) {
        add_error(r, line, r->ncols + 1, NULL, "%zu fields, but the header names %zu", csv->nfields,
                  r->ncols);
    }
    /* Every field is checked, so one pass over the file finds every error. */
    int key_ok = csv->nfields >= r->ncols;
    for (size_t i = 0; i < r->ncols && i < csv->nfields; i++) {
        const struct ctl_column *c = &k->cols[r->col[i]];
        const struct mf_csv_field *f = &csv->f[i];
        size_t before = r->nerrs;
        if (!field_text_ok(r, line, i + 1, c->name, f)) {
            /* nothing more to say about bytes that are not text */
        } else if (f->n == 0) {
            if (c->def)
                vals[i] = mf_xstrdup(c->def);
            else if (c->flags & CTL_COL_KEY && c->type != CTL_REGION)
                add_error(r, line, i + 1, c->name, "empty, but the row's key");
            else if (c->flags & CTL_COL_NOTNULL)
                add_error(r, line, i + 1, c->name, "empty, but required");
        } else {
            char *s = mf_xstrndup(f->s, f->n);
            vals[i] = check_value(c, s, f->n, known, ctx, msg, sizeof msg);
            if (!vals[i])
                add_error(r, line, i + 1, c->name, "%s: '%.64s'", msg, s);
            free(s);
        }
        if (r->nerrs != before && (c->flags & CTL_COL_KEY))
            key_ok = 0;
    }
    /* A row with other errors still takes part in the duplicate check. */
    if (key_ok)
        push_key(r, vals, line);
    if (r->nerrs != errs) {
        r->bad_rows++;
        if (key_ok)
            r->keys[r->nkeys - 1].bad = 1;
        for (size_t i = 0; i < CTL_MAX_COLS; i++)
            free(vals[i]);
        return;
    }
    push_row(r, vals, line);
}

/* ---------------------------------------------------------------- duplicates */

static int keyed_cmp(const void *a, const void *b)
{
    const struct ctl_key *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* Refuses every row whose key an earlier row of the file has, naming both lines. */
static void find_duplicates(struct ctl_rows *r)
{
    if (r->nkeys < 2)
        return; /* and qsort may not be given keys == NULL */
    qsort(r->keys, r->nkeys, sizeof *r->keys, keyed_cmp);
    for (size_t i = 1; i < r->nkeys; i++) {
        const struct ctl_key *k = &r->keys[i], *prev = &r->keys[i - 1];
        if (strcmp(k->key, prev->key) != 0)
            continue;
        /* Sorted by line within a key: prev is the nearest earlier row. */
        add_error(r, k->line, r->key_col + 1, r->kind->cols[r->col[r->key_col]].name,
                  "duplicate key '%.64s' (also on line %zu)", k->shown, prev->line);
        if (!k->bad)
            r->bad_rows++;
    }
}

/* ---------------------------------------------------------------- load */

size_t ctl_rows_load(struct ctl_rows *r, const struct ctl_kind *k, const char *data, size_t len,
                     ctl_known_fn *known, void *ctx)
{
    struct mf_csv csv;
    char err[128];
    int rc;

    memset(r, 0, sizeof *r);
    r->kind = k;
    MF_ASSERT(k->ncols <= CTL_MAX_COLS && k->ncols <= MF_CSV_MAX_FIELDS);
    /* A spreadsheet's UTF-8 byte order mark is not part of the first column's name. */
    if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) {
        data += 3;
        len -= 3;
    }
    mf_csv_init(&csv, data, len);
    if (!read_header(r, &csv)) {
        mf_csv_release(&csv);
        return r->nerrs;
    }
    while ((rc = mf_csv_next(&csv, err, sizeof err)) != 0) {
        if (rc < 0) {
            add_csv_error(r, err);
            r->bad_rows++;
            continue;
        }
        read_row(r, &csv, known, ctx);
    }
    mf_csv_release(&csv);
    find_duplicates(r);
    return r->nerrs;
}

void ctl_rows_release(struct ctl_rows *r)
{
    for (size_t i = 0; i < r->nrows * r->ncols; i++)
        free(r->vals[i]);
    for (size_t i = 0; i < r->nkeys; i++)
        free(r->keys[i].key);
    free(r->keys);
    free(r->vals);
    free(r->lines);
    memset(r, 0, sizeof *r);
}
