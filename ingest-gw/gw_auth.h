/*
 * gw_auth: the gateway's use of the shared tokens file (common/mf_tokens,
 * DESIGN §7): loading GW_TOKENS_FILE with the gateway's hint, and which
 * scope each kind of record needs.
 */
#ifndef GW_AUTH_H
#define GW_AUTH_H

#include <stddef.h>

#include "mf_tokens.h"

/*
 * Loads GW_TOKENS_FILE. NULL with one line in errbuf naming the variable,
 * the file and the line on failure; an empty file's error says how to run
 * without auth. The caller owns the result (mf_tokens_destroy).
 */
struct mf_tokens *gw_auth_load(const char *path, char *errbuf, size_t errlen);

#endif
