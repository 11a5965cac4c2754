/* mf_authz: the tokens in force, replaced on reload, and their rate buckets. */
#include "mf_authz.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "mf_common.h"
#include "mf_log.h"

struct bucket {
    double level;        /* requests that may be made now */
    long long refill_ms; /* when level was last topped up; 0: never (full) */
};

/* One table and its buckets; replaced ones stay linked until destroy. */
struct generation {
    struct mf_tokens *tokens;
    struct bucket *buckets;
    pthread_mutex_t lock;
    struct generation *older;
};

struct mf_authz {
    _Atomic(struct generation *) current;
    pthread_mutex_t replace_lock;
};

static struct generation *generation_new(struct mf_tokens *t, struct generation *older)
{
    struct generation *g = mf_xcalloc(1, sizeof *g);
    size_t n = mf_tokens_count(t);
    g->tokens = t;
    g->buckets = mf_xcalloc(n ? n : 1, sizeof *g->buckets);
    pthread_mutex_init(&g->lock, NULL);
    g->older = older;
    return g;
}

struct mf_authz *mf_authz_new(struct mf_tokens *t)
{
    struct mf_authz *a = mf_xcalloc(1, sizeof *a);
    pthread_mutex_init(&a->replace_lock, NULL);
    atomic_store(&a->current, generation_new(t, NULL));
    return a;
}

void mf_authz_replace(struct mf_authz *a, struct mf_tokens *t)
{
    pthread_mutex_lock(&a->replace_lock);
    struct generation *g = generation_new(t, atomic_load(&a->current));
    atomic_store(&a->current, g);
    pthread_mutex_unlock(&a->replace_lock);
}

/* Charges one request; 0 when admitted, else the seconds to wait (>= 1). */
static unsigned charge(struct generation *g, size_t i, double rate, long long now_ms)
{
    double cap = rate > 1.0 ? rate : 1.0;
    unsigned wait = 0;
    pthread_mutex_lock(&g->lock);
    struct bucket *b = &g->buckets[i];
    if (b->refill_ms == 0) {
        b->level = cap;
    } else if (now_ms > b->refill_ms) {
        b->level += (double)(now_ms - b->refill_ms) / 1000.0 * rate;
        if (b->level > cap)
            b->level = cap;
    }
    b->refill_ms = now_ms;
    if (b->level >= 1.0)
        b->level -= 1.0;
    else
        wait = (unsigned)ceil((1.0 - b->level) / rate);
    pthread_mutex_unlock(&g->lock);
    return wait;
}

enum mf_authz_result mf_authz_check(struct mf_authz *a, const char *token, size_t n,
                                    long long now_ms, const struct mf_token **entry,
                                    unsigned *retry_after_s)
{
    struct generation *g = atomic_load(&a->current);
    const struct mf_token *t = mf_tokens_lookup(g->tokens, token, n);
    *entry = t;
    if (!t)
        return MF_AUTHZ_UNKNOWN;
    if (t->rate_per_s <= 0)
        return MF_AUTHZ_OK;
    unsigned wait = charge(g, mf_tokens_index(g->tokens, t), t->rate_per_s, now_ms);
    if (wait == 0)
        return MF_AUTHZ_OK;
    *retry_after_s = wait;
    return MF_AUTHZ_RATE_LIMITED;
}

const struct mf_token *mf_authz_lookup(struct mf_authz *a, const char *token, size_t n)
{
    return mf_tokens_lookup(atomic_load(&a->current)->tokens, token, n);
}

void mf_authz_reloaded(struct mf_authz *a, struct mf_tokens *t, const char *var, const char *err)
{
    if (!a) {
        MF_LOG_INFO("main", "SIGHUP: no tokens to reload (auth off)");
        mf_tokens_destroy(t);
        return;
    }
    if (!t) {
        MF_LOG_ERROR("main", "SIGHUP: tokens not reloaded, the old ones stay in force: %s", err);
        return;
    }
    mf_authz_replace(a, t);
    MF_LOG_INFO("main", "SIGHUP: %zu tokens reloaded from %s", mf_authz_count(a), var);
}

size_t mf_authz_count(struct mf_authz *a)
{
    return mf_tokens_count(atomic_load(&a->current)->tokens);
}

void mf_authz_destroy(struct mf_authz *a)
{
    if (!a)
        return;
    struct generation *g = atomic_load(&a->current);
    while (g) {
        struct generation *older = g->older;
        mf_tokens_destroy(g->tokens);
        free(g->buckets);
        pthread_mutex_destroy(&g->lock);
        free(g);
        g = older;
    }
    pthread_mutex_destroy(&a->replace_lock);
    free(a);
}
