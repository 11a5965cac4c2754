/*
 * libFuzzer target: the analytics API's request parsing (analytics-api/
 * api_route, api_params): a path and a query string ("path?k=v&k=v") into
 * a request, with every time, width, limit, id, region and cursor rule on
 * the way, and cursors decoded from raw bytes. Whatever the input, a
 * request that parses is inside the rules (a range that is not empty nor
 * over a year, a list's limit in 1..10000, a cursor inside its range).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api_params.h"
#include "api_route.h"
#include "mf_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ARGS 16

struct args {
    const char *k[MAX_ARGS], *v[MAX_ARGS];
    int n;
};

static const char *arg(void *ctx, const char *name)
{
    struct args *a = ctx;
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->k[i], name) == 0)
            return a->v[i];
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    struct api_bad bad;
    int64_t pos;
    (void)api_cursor_decode("k", 1, "scope", s, &pos, &bad);

    struct args a = {{0}, {0}, 0};
    char *q = strchr(s, '?');
    if (q) {
        *q++ = '\0';
        while (q && a.n < MAX_ARGS) {
            char *amp = strchr(q, '&');
            if (amp)
                *amp++ = '\0';
            char *eq = strchr(q, '=');
            if (eq) {
                *eq = '\0';
                a.k[a.n] = q;
                a.v[a.n++] = eq + 1;
            }
            q = amp;
        }
    }
    struct api_req req;
    /* 2024-03-15T14:30:00Z */
    if (api_route_parse(s, arg, &a, 1710513000000LL, "k", 1, &req, &bad) == API_PARSE_OK &&
        req.route != API_R_STATUS) {
        MF_ASSERT(req.from < req.to && req.to - req.from <= 366LL * 86400000);
        /* lists with pages only: a vehicle's performance is one answer, the
         * peaks a list bounded by its range */
        MF_ASSERT(req.route == API_R_VEHICLE || req.route == API_R_PEAKS ||
                  (req.limit >= 1 && req.limit <= API_LIMIT_MAX));
        /* a cursor resumes inside its range (an alerts cursor is an alert's id) */
        MF_ASSERT(req.after < 0 || req.route == API_R_ALERTS ||
                  (req.after >= req.from && req.after < req.to));
    }
    free(s);
    return 0;
}
