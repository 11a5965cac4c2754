/*
 * libFuzzer target: the GW_TOKENS_FILE parser and the bearer header.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gw_auth.h"
#include "mf_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    char *copy = malloc(size + 1);
    memcpy(copy, data, size);
    copy[size] = '\0';
    struct gw_auth *a = gw_auth_parse(copy, size, err, sizeof err);
    if (a) {
        gw_auth_lookup(a, copy, size);
        gw_auth_destroy(a);
    }
    const char *tok;
    size_t n;
    if (gw_auth_bearer(copy, &tok, &n))
        MF_ASSERT(n > 0 && tok >= copy && tok + n <= copy + size);
    free(copy);
    return 0;
}
