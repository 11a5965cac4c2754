/*
 * ctl_rows: a CSV file checked against one table's columns, before any of
 * it reaches PostgreSQL (DESIGN §14 registry import, holidays import).
 *
 * A header line names the columns, in any order; an empty field is null
 * (or the column's default when the table has one and allows no null).
 * Every row is checked, and every error kept with its line and column, so
 * an operator fixes the whole file at once; a caller imports nothing when
 * there is any error. Values come out normalised as the text PostgreSQL
 * casts ("true", "2024-12-25", the number as written). Time zones and
 * regions are checked by a callback, which meterctl answers from the
 * database. No I/O here: the unit tests and the fuzzer drive it directly.
 * Thread: any (one ctl_rows per caller).
 */
#ifndef CTL_ROWS_H
#define CTL_ROWS_H

#include <stddef.h>

enum ctl_coltype {
    CTL_ID,     /* 1..64 of [A-Za-z0-9._:-] (DESIGN §3.1) */
    CTL_TEXT,   /* any UTF-8, at most CTL_TEXT_MAX bytes */
    CTL_NUM,    /* a finite number within [min, max] (min exclusive when min_open) */
    CTL_INT,    /* an integer within [min, max] */
    CTL_BOOL,   /* true/false, t/f, yes/no, y/n, on/off, 1/0 (any case) */
    CTL_TZ,     /* an IANA time zone name the known callback knows */
    CTL_DATE,   /* YYYY-MM-DD, a real calendar day */
    CTL_REGION, /* a region the known callback knows */
};

#define CTL_COL_KEY     1u  /* part of the table's key: required, unique in the file */
#define CTL_COL_NOTNULL 2u  /* an empty field is refused (when no default) */
#define CTL_TEXT_MAX    200 /* bytes of a text value */
#define CTL_MAX_COLS    16  /* columns of a table at most */
#define CTL_MAX_ERRORS  100 /* errors kept (all are counted) */

struct ctl_column {
    const char *name;
    enum ctl_coltype type;
    const char *sqltype; /* the cast from text in SQL: "double precision" */
    unsigned flags;
    const char *def; /* an empty field's value when the column allows no null, else NULL */
    double min, max; /* CTL_NUM, CTL_INT */
    int min_open;    /* CTL_NUM: min itself refused (max_kw > 0) */
};

/* A table meterctl imports into. */
struct ctl_kind {
    const char *name;     /* as --kind names it: "meters", "stations" */
    const char *table;    /* "weather_stations" */
    const char *conflict; /* the ON CONFLICT target: "(meter_id)" */
    const struct ctl_column *cols;
    size_t ncols;
};

/* The registries of --kind (meters, feeders, stations, vehicles), then holidays. */
extern const struct ctl_kind ctl_kinds[];
extern const size_t ctl_nkinds;
/* The kind called name, or NULL. */
const struct ctl_kind *ctl_kind_find(const char *name);

/*
 * Answers whether s is a known time zone (type CTL_TZ) or region
 * (CTL_REGION): 1 known, 0 not.
 */
typedef int ctl_known_fn(void *ctx, enum ctl_coltype type, const char *s);

struct ctl_error {
    size_t line;   /* 1-based line of the file */
    size_t column; /* 1-based field of that line; 0: the line as a whole */
    char name[64]; /* the column's name from the header, or "" */
    char msg[192];
};

/* A row's key, for the duplicate check. */
struct ctl_key {
    char *key;      /* the key columns' values joined; owned */
    char shown[72]; /* the first key value, for the message */
    size_t line;
    int bad; /* the row has other errors (counted refused already) */
};

struct ctl_rows {
    const struct ctl_kind *kind;
    size_t ncols;             /* columns the header names */
    size_t col[CTL_MAX_COLS]; /* the kind's column of each header field */
    size_t nrows;
    char **vals;   /* nrows * ncols values, row by row; NULL is null; owned */
    size_t *lines; /* the line each row starts on; owned */
    struct ctl_error errs[CTL_MAX_ERRORS];
    size_t nerrs;    /* errors found (only the first CTL_MAX_ERRORS kept) */
    size_t bad_rows; /* data rows with at least one error */
    size_t cap;
    struct ctl_key *keys; /* every row whose key columns are good; owned */
    size_t nkeys, keycap;
    size_t key_col; /* the header field of the first key column */
};

/*
 * Reads and checks data (len bytes) as a CSV file of kind k. known may be
 * NULL when the kind has no CTL_TZ or CTL_REGION column (or to accept any).
 * Returns 0 when every row is good, else the number of errors (r->errs
 * holds the first ones). Either way release r afterwards.
 */
size_t ctl_rows_load(struct ctl_rows *r, const struct ctl_kind *k, const char *data, size_t len,
                     ctl_known_fn *known, void *ctx);

/* Frees what ctl_rows_load stored; r is empty afterwards. */
void ctl_rows_release(struct ctl_rows *r);

/* The value of row i's header column j: NULL for null. */
static inline const char *ctl_rows_val(const struct ctl_rows *r, size_t i, size_t j)
{
    return r->vals[i * r->ncols + j];
}

#endif
