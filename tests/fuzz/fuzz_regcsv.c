/*
 * libFuzzer target: meterctl's registry and holidays CSV checks
 * (meterctl/ctl_rows). The first byte picks the table, the rest is the
 * file. Whatever the bytes, a file is either refused with located errors
 * or accepted with values the database will take: valid UTF-8, keys
 * present and unique, booleans normalised.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_rows.h"
#include "mf_reading.h"
#include "mf_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stands in for the database: zones start with an upper-case letter, two regions exist. */
static int known(void *ctx, enum ctl_coltype type, const char *s)
{
    (void)ctx;
    if (type == CTL_TZ)
        return s[0] >= 'A' && s[0] <= 'Z';
    return strcmp(s, "north") == 0 || strcmp(s, "south") == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const struct ctl_kind *k = &ctl_kinds[data[0] % ctl_nkinds];
    struct ctl_rows r;
    size_t nerrs = ctl_rows_load(&r, k, (const char *)data + 1, size - 1, known, NULL);
    MF_ASSERT(nerrs == r.nerrs);
    for (size_t i = 0; i < r.nerrs && i < CTL_MAX_ERRORS; i++)
        MF_ASSERT(r.errs[i].line >= 1 && r.errs[i].msg[0]);
    if (nerrs == 0) {
        MF_ASSERT(r.ncols >= 1 && r.bad_rows == 0);
        for (size_t i = 0; i < r.nrows; i++) {
            for (size_t j = 0; j < r.ncols; j++) {
                const struct ctl_column *c = &k->cols[r.col[j]];
                const char *v = ctl_rows_val(&r, i, j);
                if (!v) {
                    MF_ASSERT(!c->def && !(c->flags & CTL_COL_NOTNULL));
                    MF_ASSERT(!(c->flags & CTL_COL_KEY) || c->type == CTL_REGION);
                    continue;
                }
                MF_ASSERT(mf_utf8_valid(v, strlen(v)));
                if (c->type == CTL_BOOL)
                    MF_ASSERT(strcmp(v, "true") == 0 || strcmp(v, "false") == 0);
                if (c->type == CTL_ID)
                    MF_ASSERT(strlen(v) >= 1 && strlen(v) <= 64);
            }
        }
        MF_ASSERT(r.nkeys == r.nrows);
        for (size_t i = 1; i < r.nkeys; i++) /* sorted by key: neighbours differ */
            MF_ASSERT(strcmp(r.keys[i - 1].key, r.keys[i].key) != 0);
    }
    ctl_rows_release(&r);
    return 0;
}
