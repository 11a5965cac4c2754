/*
 * api_cache: the analytics API's answer cache (DESIGN §12).
 *
 * Answers are kept by key (the route and its normalized parameters) for
 * the TTL their kind was given. When many requests ask for the same key at
 * once, one runs the query and the others wait for its answer
 * (coalescing), so a hot key costs one database query per TTL however many
 * clients ask. The bytes held are bounded: past the bound the least
 * recently used answers are dropped. Answers are immutable once stored and
 * reference-counted, so a reader keeps its answer even if it is evicted
 * meanwhile. A fill that reports a dependency failure (503) or a TTL of 0
 * is handed to its waiters and never stored. Disabled, every get fills.
 * Thread: any.
 */
#ifndef API_CACHE_H
#define API_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define API_ETAG_LEN 20 /* "\"" + 16 hex + "\"" + NUL, rounded */

/* What a fill produces and the cache holds. */
struct api_answer {
    unsigned status; /* 200, 400, 404, 500, 503 */
    char *body;      /* malloc'd; owned by the cache once returned */
    size_t len;
    int ttl_s; /* how long it may be served; 0: not stored */
};

/* Runs the query behind a key; must set every field of out. */
typedef void api_fill_fn(void *ctx, struct api_answer *out);

enum api_cache_result { API_CACHE_HIT, API_CACHE_MISS, API_CACHE_COALESCED };

struct api_entry {
    struct api_answer a;
    char etag[API_ETAG_LEN]; /* a strong validator of the body */
    int64_t expires_ms;      /* monotonic; for Cache-Control's max-age */
};

struct api_cache;

/* max_bytes bounds bodies and keys held; enabled 0: a pass-through. */
struct api_cache *api_cache_new(size_t max_bytes, int enabled);
void api_cache_destroy(struct api_cache *c);

/*
 * The answer for key: stored and fresh (hit), being made by another
 * request (coalesced: waits for it), or made now by fill(ctx) (miss).
 * Never NULL; give it back with api_cache_put.
 */
const struct api_entry *api_cache_get(struct api_cache *c, const char *key, api_fill_fn *fill,
                                      void *ctx, enum api_cache_result *res);
void api_cache_put(struct api_cache *c, const struct api_entry *e);
/* api_cache_put given only the entry: the free callback of a response that
 * sends the entry's body without copying it. */
void api_cache_release(void *entry);

/* Seconds the entry may still be served (>= 0). */
int api_cache_max_age(const struct api_entry *e);

/* Answers and bytes held now (metrics, tests). */
void api_cache_stats(struct api_cache *c, size_t *entries, size_t *bytes);

#endif
