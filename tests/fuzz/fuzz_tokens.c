/*
 * libFuzzer target: the tokens-file parser (common/mf_tokens, with scopes)
 * and the bearer header.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mf_tokens.h"
#include "mf_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    char *copy = malloc(size + 1);
    memcpy(copy, data, size);
    copy[size] = '\0';
    struct mf_tokens *a = mf_tokens_parse(copy, size, err, sizeof err);
    if (a) {
        const struct mf_token *t = mf_tokens_lookup(a, copy, size);
        if (t)
            MF_ASSERT(t->scopes != 0);
        mf_tokens_destroy(a);
    }
    const char *tok;
    size_t n;
    if (mf_tokens_bearer(copy, &tok, &n))
        MF_ASSERT(n > 0 && tok >= copy && tok + n <= copy + size);
    free(copy);
    return 0;
}
