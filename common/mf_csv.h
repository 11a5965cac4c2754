/*
 * mf_csv: an RFC 4180 row reader over a buffer in memory.
 *
 * Fields are separated by commas (or another separator), rows by LF or CRLF; a field in double
 * quotes may hold commas, newlines and "" for a quote. Unquoted fields are
 * trimmed of surrounding spaces and tabs (real meter exports pad values).
 * Quoted fields are unescaped into the reader's scratch buffer, so field
 * pointers stay valid until the next call. Bounded: at most MF_CSV_MAX_FIELDS
 * fields a row. Not thread-safe; one reader per body.
 */
#ifndef MF_CSV_H
#define MF_CSV_H

#include <stddef.h>

#include "mf_buf.h"

#define MF_CSV_MAX_FIELDS 16

struct mf_csv_field {
    const char *s;
    size_t n;
};

struct mf_csv {
    const char *p, *end;
    size_t line;           /* 1-based line number reached so far */
    size_t line_of_row;    /* the line the row just read started on */
    struct mf_buf scratch; /* unescaped quoted fields */
    struct mf_csv_field f[MF_CSV_MAX_FIELDS];
    size_t nfields; /* fields in the row just read (may exceed the array) */
    char sep;       /* field separator: ',' unless set */
};

void mf_csv_init(struct mf_csv *c, const char *data, size_t len);
void mf_csv_release(struct mf_csv *c);
/* Another field separator (';' in European exports); not a quote, space or newline. */
void mf_csv_set_separator(struct mf_csv *c, char sep);

/*
 * Reads the next non-empty row. Returns 1 with c->f/c->nfields set, 0 at
 * the end, or -1 for a malformed row (an unterminated quote, text after a
 * closing quote) with the reason in errbuf; the reader then skips to the
 * next line, so one bad row does not sink the rest.
 */
int mf_csv_next(struct mf_csv *c, char *errbuf, size_t errlen);

#endif
