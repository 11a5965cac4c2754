/*
 * mf_buf: growable buffers with a maximum. The JSON written into them is
 * mf_json's.
 */
#include "mf_buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_json.h"
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
    return mf_json_str(b, s, n);
}
