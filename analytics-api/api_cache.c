/* api_cache: TTL cache with coalescing, an LRU byte bound and ETags. */
#include "api_cache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_crash.h"
#include "mf_time.h"
#include "mf_common.h"

#define NBUCKETS (1u << 16)
/* A key's and an entry's bookkeeping, counted against the bound too. */
#define ENTRY_OVERHEAD 128

enum state { PENDING, READY, DEAD };

struct ent {
    struct api_entry pub; /* first: a struct api_entry * is a struct ent * */
    struct api_cache *cache;
    struct ent *hnext;
    struct ent *prev, *next; /* LRU, READY entries only; head = newest */
    char *key;
    uint64_t hash;
    enum state state;
    int refs;
    int in_map;
    size_t bytes;
};

struct api_cache {
    int enabled;
    size_t max_bytes, bytes, entries;
    pthread_mutex_t lock;
    pthread_cond_t filled;
    struct ent **buckets;
    struct ent *head, *tail;
};

static uint64_t fnv1a(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

struct api_cache *api_cache_new(size_t max_bytes, int enabled)
{
    struct api_cache *c = mf_xcalloc(1, sizeof *c);
    c->enabled = enabled;
    c->max_bytes = max_bytes;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->filled, NULL);
    c->buckets = mf_xcalloc(NBUCKETS, sizeof *c->buckets);
    return c;
}

static void ent_free(struct ent *e)
{
    free(e->pub.a.body);
    free(e->key);
    free(e);
}

void api_cache_destroy(struct api_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < NBUCKETS; i++) {
        struct ent *e = c->buckets[i], *nx;
        for (; e; e = nx) {
            nx = e->hnext;
            ent_free(e);
        }
    }
    free(c->buckets);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->filled);
    free(c);
}

static void lru_unlink(struct api_cache *c, struct ent *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push(struct api_cache *c, struct ent *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

/* Takes e out of the map; the caller frees it if nobody holds it. */
static void map_remove(struct api_cache *c, struct ent *e)
{
    struct ent **pp = &c->buckets[e->hash & (NBUCKETS - 1)];
    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = e->hnext;
    e->in_map = 0;
}

/* Takes a stored entry, already out of the LRU, out of the map; frees it unless held. */
static void forget(struct api_cache *c, struct ent *e)
{
    c->bytes -= e->bytes;
    c->entries--;
    map_remove(c, e);
    e->state = DEAD;
    if (e->refs == 0)
        ent_free(e);
}

/* Drops the least recently used answers until `more` bytes fit under the bound. */
static void make_room(struct api_cache *c, size_t more)
{
    while (c->tail && c->bytes + more > c->max_bytes) {
        struct ent *old = c->tail;
        c->tail = old->prev;
        if (c->tail)
            c->tail->next = NULL;
        else
            c->head = NULL;
        old->prev = old->next = NULL;
        forget(c, old);
    }
}

/*
 * The body's validator: eight bytes a step (fnv1a's byte a step was 12 % of
 * the API's CPU on uncached fleet answers of 17 kB). An ETag needs a
 * change to show, not resistance to someone crafting collisions.
 */
static uint64_t body_hash(const char *p, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ n, w;
    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDULL;
        h ^= h >> 29;
    }
    w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ULL;
    return h ^ (h >> 32);
}

static void set_etag(struct api_entry *pub)
{
    snprintf(pub->etag, sizeof pub->etag, "\"%016llx\"",
             (unsigned long long)body_hash(pub->a.body ? pub->a.body : "", pub->a.len));
}

static struct ent *fill_now(struct api_cache *c, const char *key, api_fill_fn *fill, void *ctx)
{
    struct ent *e = mf_xcalloc(1, sizeof *e);
    e->cache = c;
    fill(ctx, &e->pub.a);
    set_etag(&e->pub);
    e->pub.expires_ms = mf_mono_ms() + (int64_t)e->pub.a.ttl_s * 1000;
    e->key = mf_xstrdup(key);
    e->refs = 1;
    e->state = DEAD;
    return e;
}

const struct api_entry *api_cache_get(struct api_cache *c, const char *key, api_fill_fn *fill,
                                      void *ctx, enum api_cache_result *res)
{
    if (!c->enabled) {
        *res = API_CACHE_MISS;
        return &fill_now(c, key, fill, ctx)->pub;
    }
    size_t klen = strlen(key);
    uint64_t h = fnv1a(key, klen);
    int64_t now = mf_mono_ms();

    pthread_mutex_lock(&c->lock);
    struct ent *e = c->buckets[h & (NBUCKETS - 1)];
    while (e && !(e->hash == h && strcmp(e->key, key) == 0))
        e = e->hnext;
    if (e && e->state == READY && now < e->pub.expires_ms) {
        e->refs++;
        lru_unlink(c, e);
        lru_push(c, e);
        pthread_mutex_unlock(&c->lock);
        *res = API_CACHE_HIT;
        return &e->pub;
    }
    if (e && e->state == PENDING) {
        e->refs++;
        while (e->state == PENDING)
            pthread_cond_wait(&c->filled, &c->lock);
        pthread_mutex_unlock(&c->lock);
        *res = API_CACHE_COALESCED;
        return &e->pub;
    }
    if (e) { /* expired */
        lru_unlink(c, e);
        forget(c, e);
    }

    e = mf_xcalloc(1, sizeof *e);
    e->cache = c;
    e->key = mf_xstrndup(key, klen);
    e->hash = h;
    e->state = PENDING;
    e->refs = 1;
    e->in_map = 1;
    e->hnext = c->buckets[h & (NBUCKETS - 1)];
    c->buckets[h & (NBUCKETS - 1)] = e;
    pthread_mutex_unlock(&c->lock);

    /* The query and the ETag's hash run without the lock; others asking
     * for key wait above. */
    struct api_entry made;
    fill(ctx, &made.a);
    set_etag(&made);
    struct api_answer a = made.a;
    MF_CRASH_POINT("api.cache.filled"); /* queried, not stored; others may wait for it */

    pthread_mutex_lock(&c->lock);
    e->pub.a = a;
    memcpy(e->pub.etag, made.etag, sizeof made.etag);
    e->pub.expires_ms = mf_mono_ms() + (int64_t)a.ttl_s * 1000;
    e->bytes = a.len + klen + ENTRY_OVERHEAD;
    /* An answer larger than an eighth of the bound would evict too much. */
    if (a.ttl_s > 0 && a.status != 503 && a.status != 500 && e->bytes <= c->max_bytes / 8) {
        make_room(c, e->bytes);
        e->state = READY;
        lru_push(c, e);
        c->bytes += e->bytes;
        c->entries++;
    } else {
        e->state = DEAD;
        map_remove(c, e); /* the leader's reference keeps it for the waiters */
    }
    pthread_cond_broadcast(&c->filled);
    pthread_mutex_unlock(&c->lock);
    *res = API_CACHE_MISS;
    return &e->pub;
}

void api_cache_put(struct api_cache *c, const struct api_entry *pub)
{
    struct ent *e = (struct ent *)(void *)pub; /* pub is the first member */
    if (!c->enabled) {
        ent_free(e);
        return;
    }
    pthread_mutex_lock(&c->lock);
    if (--e->refs == 0 && !e->in_map)
        ent_free(e);
    pthread_mutex_unlock(&c->lock);
}

void api_cache_release(void *entry)
{
    struct ent *e = entry;
    api_cache_put(e->cache, &e->pub);
}

int api_cache_max_age(const struct api_entry *e)
{
    int64_t left = e->expires_ms - mf_mono_ms();
    return left > 0 ? (int)((left + 999) / 1000) : 0;
}

void api_cache_stats(struct api_cache *c, size_t *entries, size_t *bytes)
{
    pthread_mutex_lock(&c->lock);
    *entries = c->entries;
    *bytes = c->bytes;
    pthread_mutex_unlock(&c->lock);
}
