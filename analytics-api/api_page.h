/*
 * api_page: the page at / (analytics-api/page/index.html, compiled in by
 * gen-page.sh) and the chart library it draws with, read once at start
 * from where Debian's libjs-chart.js installed it (API_CHARTJS_PATH): the
 * library is the system's, never a copy in the repo. Thread: main loads;
 * the bytes are read-only after.
 */
#ifndef API_PAGE_H
#define API_PAGE_H

#include <stddef.h>

extern const char api_page_html[];
extern const unsigned long api_page_html_len;

/*
 * Reads a file of at most 8 MiB into a malloc'd buffer: MF_OK with *data
 * and *len, or MF_EDATA with errbuf naming the path and the reason.
 */
int api_page_read(const char *path, char **data, size_t *len, char *errbuf, size_t errlen);

#endif
