/* api_page: the chart library's bytes. */
#include "api_page.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_common.h"

#define MAX_BYTES (8u << 20)

int api_page_read(const char *path, char **data, size_t *len, char *errbuf, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(errbuf, errlen, "cannot read %s: %s", path, strerror(errno));
        return MF_EDATA;
    }
    char *buf = mf_xmalloc(MAX_BYTES + 1);
    size_t n = fread(buf, 1, MAX_BYTES + 1, f);
    int bad = ferror(f) || n > MAX_BYTES || n == 0;
    fclose(f);
    if (bad) {
        snprintf(errbuf, errlen, "cannot read %s: empty, unreadable or over 8 MiB", path);
        free(buf);
        return MF_EDATA;
    }
    *data = mf_xrealloc(buf, n);
    *len = n;
    return MF_OK;
}
