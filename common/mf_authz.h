/*
 * mf_authz: the tokens in force for a server (ingest-gw, analytics-api):
 * the table from the tokens file (common/mf_tokens), replaced whole when
 * the file is reloaded (SIGHUP), and a request-rate bucket per token for
 * the tokens file's fifth column.
 *
 * A reload never drops a request: a request that looked its token up in
 * the old table keeps a pointer into it, so replaced tables are kept (a
 * few hundred bytes a token) until mf_authz_destroy. Rate buckets start
 * full again with each table.
 *
 * The bucket of a token with rate r holds up to max(r, 1) requests (one
 * second's worth) and refills at r a second; a request finding it empty is
 * refused with the seconds until the next one would be admitted.
 * Threads: any; lookups take no lock, the bucket a short mutex.
 */
#ifndef MF_AUTHZ_H
#define MF_AUTHZ_H

#include <stddef.h>

#include "mf_tokens.h"

struct mf_authz;

enum mf_authz_result {
    MF_AUTHZ_OK,           /* known, within its rate */
    MF_AUTHZ_UNKNOWN,      /* no such token: 401 */
    MF_AUTHZ_RATE_LIMITED, /* known, over its rate: 429 with Retry-After */
};

/* Takes ownership of t (not NULL). */
struct mf_authz *mf_authz_new(struct mf_tokens *t);
/* Puts t (owned from now on) in force; the old table stays valid. Thread: any. */
void mf_authz_replace(struct mf_authz *a, struct mf_tokens *t);
/*
 * Looks up the presented token (n bytes) in the table in force, then
 * charges one request to its bucket. *entry is set for OK and RATE_LIMITED
 * (valid until mf_authz_destroy); *retry_after_s for RATE_LIMITED (>= 1).
 * now_ms: a monotonic clock (mf_mono_ms), passed in for the tests.
 */
enum mf_authz_result mf_authz_check(struct mf_authz *a, const char *token, size_t n,
                                    long long now_ms, const struct mf_token **entry,
                                    unsigned *retry_after_s);
/*
 * The presented token's entry in the table in force, or NULL, charging no
 * bucket: for analytics-api, which has no per-token rate (its cache and
 * pool bound it). Valid until mf_authz_destroy.
 */
const struct mf_token *mf_authz_lookup(struct mf_authz *a, const char *token, size_t n);
/*
 * SIGHUP: puts t (loaded again from the file in var; owned from now on) in
 * force and logs how many tokens it holds; t NULL (the file did not load,
 * err says why) leaves the tokens in force as they were and logs err. A
 * NULL a (auth off) logs that there is nothing to reload. Thread: main.
 */
void mf_authz_reloaded(struct mf_authz *a, struct mf_tokens *t, const char *var, const char *err);
/* How many tokens the table in force holds. */
size_t mf_authz_count(struct mf_authz *a);
/* Frees every table and bucket; NULL is a no-op. */
void mf_authz_destroy(struct mf_authz *a);

#endif
