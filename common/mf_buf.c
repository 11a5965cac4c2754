/*
 * mf_buf: growable buffers with a maximum, and the JSON text helpers that
 * write into them (escaped strings, round-trip doubles).
 */
#include "mf_buf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_common.h"

void mf_buf_init(struct mf_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void mf_buf_release(struct mf_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void mf_buf_reset(struct mf_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

int mf_buf_reserve(struct mf_buf *b, size_t n)
{
    if (n > b->max || b->len > b->max - n)
        return MF_EDATA;
    if (b->len + n + 1 <= b->cap)
        return MF_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n + 1)
        cap *= 2;
    b->data = mf_xrealloc(b->data, cap);
    b->cap = cap;
    return MF_OK;
}

int mf_buf_append(struct mf_buf *b, const void *data, size_t n)
{
    if (mf_buf_reserve(b, n) != MF_OK)
        return MF_EDATA;
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return MF_OK;
}

int mf_buf_appends(struct mf_buf *b, const char *s)
{
    return mf_buf_append(b, s, strlen(s));
}

int mf_buf_appendc(struct mf_buf *b, char c)
{
    return mf_buf_append(b, &c, 1);
}

int mf_buf_appendf(struct mf_buf *b, const char *fmt, ...)
{
    va_list ap;
    char small[256];

    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return MF_EDATA;
    if ((size_t)n < sizeof small)
        return mf_buf_append(b, small, (size_t)n);

    if (mf_buf_reserve(b, (size_t)n) != MF_OK)
        return MF_EDATA;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return MF_OK;
}

int mf_buf_append_json_str(struct mf_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";

    /* Worst case every byte becomes \u00XX: reserve once, write directly. */
    if (mf_buf_reserve(b, n * 6 + 2) != MF_OK)
        return MF_EDATA;
    char *o = b->data + b->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            *o++ = '\\';
            *o++ = '"';
            break;
        case '\\':
            *o++ = '\\';
            *o++ = '\\';
            break;
        case '\n':
            *o++ = '\\';
            *o++ = 'n';
            break;
        case '\r':
            *o++ = '\\';
            *o++ = 'r';
            break;
        case '\t':
            *o++ = '\\';
            *o++ = 't';
            break;
        default:
            if (c < 0x20) {
                *o++ = '\\';
                *o++ = 'u';
                *o++ = '0';
                *o++ = '0';
                *o++ = hex[c >> 4];
                *o++ = hex[c & 15];
            } else {
                *o++ = (char)c;
            }
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
    return MF_OK;
}

int mf_buf_append_double(struct mf_buf *b, double v)
{
    char tmp[32];

    if (!isfinite(v))
        return MF_EDATA;
    if (v == 0) /* also folds -0 */
        return mf_buf_append(b, "0", 1);
    /* Integral values below 2^53 print exactly as integers. */
    if (fabs(v) < 9007199254740992.0 && v == (double)(int64_t)v)
        return mf_buf_append_int(b, (int64_t)v);
    /* The shortest of 15, 16 or 17 significant digits that reads back exactly. */
    for (int prec = 15; prec <= 17; prec++) {
        int n = snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (prec == 17 || strtod(tmp, NULL) == v)
            return mf_buf_append(b, tmp, (size_t)n);
    }
    return MF_EDATA; /* not reached */
}

int mf_buf_append_int(struct mf_buf *b, int64_t v)
{
    char tmp[24];
    char *p = tmp + sizeof tmp;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    return mf_buf_append(b, p, (size_t)(tmp + sizeof tmp - p));
}
