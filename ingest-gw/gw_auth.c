/*
 * gw_auth: GW_TOKENS_FILE for the gateway. The parsing, lookup and globs
 * live in common/mf_tokens, which analytics-api shares.
 */
#include "gw_auth.h"

#include <stdio.h>
#include <string.h>

#include "mf_common.h"

struct mf_tokens *gw_auth_load(const char *path, char *errbuf, size_t errlen)
{
    struct mf_tokens *t = mf_tokens_load(path, "GW_TOKENS_FILE", errbuf, errlen);
    /* The one refusal worth a hint: an operator who meant no auth says so. */
    if (!t && strstr(errbuf, ": no tokens") && strlen(errbuf) + 40 < errlen) {
        size_t n = strlen(errbuf);
        snprintf(errbuf + n, errlen - n, " (set GW_AUTH=off to run without auth)");
    }
    return t;
}
