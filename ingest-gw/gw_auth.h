/*
 * gw_auth: bearer tokens for ingest-gw (DESIGN §7).
 *
 * GW_TOKENS_FILE holds one token a line: `<sha256 hex of token> <name>
 * <meter-id glob>`; blank lines and lines starting with '#' are skipped.
 * Only hashes are stored, so the file is not itself a secret worth much,
 * and a token never appears in memory longer than the request that carries
 * it, nor in a log line. The table is immutable after loading: lookups are
 * safe from any thread.
 */
#ifndef GW_AUTH_H
#define GW_AUTH_H

#include <stddef.h>

struct gw_auth;

struct gw_token {
    unsigned char sha256[32];
    char name[64];  /* goes into the ingest.source header */
    char glob[128]; /* fnmatch(3) pattern over meter IDs */
};

/*
 * Loads a tokens file. NULL with one line in errbuf naming the file and
 * line on failure ("GW_TOKENS_FILE line 3: bad sha256 hex").
 */
struct gw_auth *gw_auth_load(const char *path, char *errbuf, size_t errlen);
/* Parses tokens from text (the loader's core; tests use it directly). */
struct gw_auth *gw_auth_parse(const char *text, size_t len, char *errbuf, size_t errlen);
void gw_auth_destroy(struct gw_auth *a);
size_t gw_auth_count(const struct gw_auth *a);

/*
 * The token entry for a presented token (n bytes), or NULL. Compares
 * digests in constant time. Thread: any.
 */
const struct gw_token *gw_auth_lookup(const struct gw_auth *a, const char *token, size_t n);

/*
 * The token from an Authorization header value ("Bearer abc"); sets
 * *tok and *n and returns 1, or 0 when the header is absent or malformed.
 */
int gw_auth_bearer(const char *header, const char **tok, size_t *n);

/* 1 if the token may write this meter. */
int gw_auth_allows(const struct gw_token *t, const char *meter_id);

#endif
