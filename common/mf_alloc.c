/*
 * mf_alloc: allocation wrappers that abort on OOM, and the error names.
 */
#include "mf_alloc.h"
#include "mf_err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void oom(size_t n)
{
    char line[128];
    int len = snprintf(line, sizeof line,
                       "{\"level\":\"fatal\",\"msg\":\"out of memory allocating %zu bytes\"}\n", n);
    if (len > 0 && write(STDERR_FILENO, line, (size_t)len) < 0) {
        /* nothing left to report with */
    }
    abort();
}

void *mf_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *mf_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        oom(count * size);
    return p;
}

void *mf_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *mf_xstrndup(const char *s, size_t n)
{
    char *p = mf_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *mf_xstrdup(const char *s)
{
    return mf_xstrndup(s, strlen(s));
}

const char *mf_strerror(int err)
{
    switch (err) {
    case MF_OK:
        return "ok";
    case MF_EDATA:
        return "bad data";
    case MF_ERETRY:
        return "temporarily unavailable";
    case MF_EFATAL:
        return "fatal";
    default:
        return "unknown error";
    }
}
