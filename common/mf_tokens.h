/*
 * mf_tokens: the bearer-token file shared by ingest-gw and analytics-api
 * (DESIGN §7).
 *
 * One token a line: `<sha256 hex of token> <name> <key glob> [scopes [rate]]`;
 * blank lines and lines starting with '#' are skipped. The optional fourth
 * column is a comma list of scopes (readings, grid, weather, vehicles,
 * read); without it a token has `readings` only, which is what every token
 * file written before scopes existed meant. The optional fifth column caps
 * the token's requests: `<n>/s` or `<n>/min` (none: no cap). The glob applies to the key of
 * whatever the scope covers (meter_id, feeder_id, station_id, vehicle_id).
 * Only digests are stored, a token never appears in memory longer than the
 * request carrying it nor in a log line. The table is immutable after
 * loading: lookups are safe from any thread.
 */
#ifndef MF_TOKENS_H
#define MF_TOKENS_H

#include <stddef.h>

/* One bit per scope; a token holds a set of them. */
enum mf_scope {
    MF_SCOPE_READINGS = 1 << 0,
    MF_SCOPE_GRID = 1 << 1,
    MF_SCOPE_WEATHER = 1 << 2,
    MF_SCOPE_VEHICLES = 1 << 3,
    MF_SCOPE_READ = 1 << 4,
};

struct mf_tokens;

struct mf_token {
    unsigned char sha256[32];
    char name[64];     /* who: goes into the ingest.source header, never a secret */
    char glob[128];    /* fnmatch(3) pattern over record keys */
    unsigned scopes;   /* enum mf_scope bits */
    double rate_per_s; /* requests a second it may make; 0: no cap */
};

/*
 * Loads a tokens file. `var` names the setting the path came from
 * (GW_TOKENS_FILE), so the error is one line naming it and the file line:
 * "invalid GW_TOKENS_FILE 'x': line 3: bad sha256 hex". An empty file is
 * refused too. NULL on failure; the caller owns the result.
 */
struct mf_tokens *mf_tokens_load(const char *path, const char *var, char *errbuf, size_t errlen);
/* Parses tokens from text (the loader's core; tests and fuzzers use it). */
struct mf_tokens *mf_tokens_parse(const char *text, size_t len, char *errbuf, size_t errlen);
void mf_tokens_destroy(struct mf_tokens *t);
size_t mf_tokens_count(const struct mf_tokens *t);
/* The position of an entry of t (0..count-1), for state kept per token (rate buckets). */
size_t mf_tokens_index(const struct mf_tokens *t, const struct mf_token *entry);

/*
 * The entry for a presented token (n bytes), or NULL. Compares digests in
 * constant time over the whole table. Thread: any.
 */
const struct mf_token *mf_tokens_lookup(const struct mf_tokens *t, const char *token, size_t n);

/*
 * The token in an Authorization header value ("Bearer abc"): sets *tok and
 * *n and returns 1, or 0 when the header is absent or malformed.
 */
int mf_tokens_bearer(const char *header, const char **tok, size_t *n);

/* 1 if the token holds `scope` and its glob matches `key`. Thread: any. */
int mf_token_allows(const struct mf_token *t, enum mf_scope scope, const char *key);

/* "readings", "grid", ... for one scope bit. */
const char *mf_scope_name(enum mf_scope scope);

#endif
