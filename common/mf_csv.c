/*
 * mf_csv: RFC 4180 rows. Quoted fields are copied into scratch with ""
 * folded; the scratch buffer is sized up front for the row so pointers
 * into it never move while a row is being read.
 */
#include "mf_csv.h"

#include <stdio.h>
#include <string.h>

#include "mf_common.h"

void mf_csv_init(struct mf_csv *c, const char *data, size_t len)
{
    memset(c, 0, sizeof *c);
    c->p = data;
    c->end = data + len;
    c->sep = ',';
    mf_buf_init(&c->scratch, SIZE_MAX);
}

void mf_csv_set_separator(struct mf_csv *c, char sep)
{
    MF_ASSERT(sep != '"' && sep != '\n' && sep != '\r' && sep != ' ' && sep != '\t');
    c->sep = sep;
}

void mf_csv_release(struct mf_csv *c)
{
    mf_buf_release(&c->scratch);
}

static int is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Moves p past the end of the current line. */
static void skip_line(struct mf_csv *c)
{
    const char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
    c->p = nl ? nl + 1 : c->end;
}

int mf_csv_next(struct mf_csv *c, char *errbuf, size_t errlen)
{
    /* Skip empty lines (and a lone CR) between rows. */
    for (;;) {
        if (c->p >= c->end)
            return 0;
        c->line++;
        const char *q = c->p;
        while (q < c->end && (is_blank(*q) || *q == '\r'))
            q++;
        if (q < c->end && *q != '\n')
            break;
        c->p = q < c->end ? q + 1 : c->end;
    }

    /* A quoted field is never longer than the rest of the body. */
    mf_buf_reset(&c->scratch);
    if (mf_buf_reserve(&c->scratch, (size_t)(c->end - c->p)) != MF_OK)
        return -1;
    char *out = c->scratch.data;
    c->nfields = 0;
    size_t row_line = c->line; /* a quoted newline moves c->line on */

    for (;;) {
        const char *s;
        size_t n;
        while (c->p < c->end && is_blank(*c->p))
            c->p++;
        if (c->p < c->end && *c->p == '"') {
            c->p++;
            s = out;
            for (;;) {
                if (c->p >= c->end) {
                    snprintf(errbuf, errlen, "line %zu: unterminated quoted field", row_line);
                    return -1;
                }
                if (*c->p == '"') {
                    if (c->p + 1 < c->end && c->p[1] == '"') {
                        *out++ = '"';
                        c->p += 2;
                        continue;
                    }
                    c->p++;
                    break;
                }
                if (*c->p == '\n')
                    c->line++;
                *out++ = *c->p++;
            }
            n = (size_t)(out - s);
            while (c->p < c->end && (is_blank(*c->p) || *c->p == '\r'))
                c->p++;
            if (c->p < c->end && *c->p != c->sep && *c->p != '\n') {
                snprintf(errbuf, errlen, "line %zu: text after a closing quote", row_line);
                skip_line(c);
                return -1;
            }
        } else {
            s = c->p;
            while (c->p < c->end && *c->p != c->sep && *c->p != '\n')
                c->p++;
            const char *e = c->p;
            while (e > s && (is_blank(e[-1]) || e[-1] == '\r'))
                e--;
            n = (size_t)(e - s);
            if (memchr(s, '"', n)) {
                snprintf(errbuf, errlen, "line %zu: quote inside an unquoted field", row_line);
                skip_line(c);
                return -1;
            }
        }
        if (c->nfields < MF_CSV_MAX_FIELDS) {
            c->f[c->nfields].s = s;
            c->f[c->nfields].n = n;
        }
        c->nfields++;
        if (c->p >= c->end || *c->p == '\n') {
            if (c->p < c->end)
                c->p++;
            c->line_of_row = row_line;
            return 1;
        }
        c->p++; /* the separator */
    }
}
