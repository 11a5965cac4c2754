/*
 * Unit tests for the analytics API's cache: hit after miss, one fill for
 * many concurrent askers (coalescing), TTL expiry, 503s and TTL 0 never
 * stored, the byte bound with least-recently-used eviction, answers kept
 * alive by a reader while evicted, ETags, and the pass-through when off.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "api_cache.h"
#include "mf_common.h"

struct filler {
    atomic_int calls;
    unsigned status;
    int ttl_s;
    size_t size;
    int sleep_ms; /* hold the fill so others pile up behind it */
};

static void fill(void *ctx, struct api_answer *out)
{
    struct filler *f = ctx;
    int n = atomic_fetch_add(&f->calls, 1) + 1;
    if (f->sleep_ms)
        usleep((useconds_t)f->sleep_ms * 1000);
    out->status = f->status;
    out->ttl_s = f->ttl_s;
    out->len = f->size;
    out->body = mf_xmalloc(f->size + 1);
    memset(out->body, 'a' + n % 26, f->size);
    out->body[f->size] = '\0';
}

static void test_hit_miss(void **state)
{
    (void)state;
    struct api_cache *c = api_cache_new(1 << 20, 1);
    struct filler f = {0, 200, 60, 100, 0};
    enum api_cache_result r;
    const struct api_entry *e = api_cache_get(c, "k1", fill, &f, &r);
    assert_int_equal(r, API_CACHE_MISS);
    char etag[API_ETAG_LEN];
    memcpy(etag, e->etag, sizeof etag);
    assert_int_equal(etag[0], '"');
    assert_int_equal(strlen(etag), 18);
    assert_in_range(api_cache_max_age(e), 59, 60);
    api_cache_put(c, e);
    e = api_cache_get(c, "k1", fill, &f, &r);
    assert_int_equal(r, API_CACHE_HIT);
    assert_string_equal(e->etag, etag);
    api_cache_put(c, e);
    assert_int_equal(atomic_load(&f.calls), 1);
    /* another key, another fill; different body, different ETag */
    e = api_cache_get(c, "k2", fill, &f, &r);
    assert_int_equal(r, API_CACHE_MISS);
    assert_string_not_equal(e->etag, etag);
    api_cache_put(c, e);
    size_t n, bytes;
    api_cache_stats(c, &n, &bytes);
    assert_int_equal(n, 2);
    api_cache_destroy(c);
}

static void test_not_stored(void **state)
{
    (void)state;
    struct api_cache *c = api_cache_new(1 << 20, 1);
    enum api_cache_result r;
    struct filler f503 = {0, 503, 60, 10, 0}, f0 = {0, 200, 0, 10, 0};
    for (int i = 0; i < 3; i++) {
        api_cache_put(c, api_cache_get(c, "down", fill, &f503, &r));
        assert_int_equal(r, API_CACHE_MISS);
        api_cache_put(c, api_cache_get(c, "ttl0", fill, &f0, &r));
        assert_int_equal(r, API_CACHE_MISS);
    }
    assert_int_equal(atomic_load(&f503.calls), 3);
    assert_int_equal(atomic_load(&f0.calls), 3);
    size_t n, bytes;
    api_cache_stats(c, &n, &bytes);
    assert_int_equal(n, 0);
    assert_int_equal(bytes, 0);
    api_cache_destroy(c);
}

static void test_expiry(void **state)
{
    (void)state;
    struct api_cache *c = api_cache_new(1 << 20, 1);
    struct filler f = {0, 200, 1, 10, 0};
    enum api_cache_result r;
    api_cache_put(c, api_cache_get(c, "k", fill, &f, &r));
    api_cache_put(c, api_cache_get(c, "k", fill, &f, &r));
    assert_int_equal(r, API_CACHE_HIT);
    usleep(600 * 1000);
    usleep(500 * 1000);
    api_cache_put(c, api_cache_get(c, "k", fill, &f, &r));
    assert_int_equal(r, API_CACHE_MISS);
    assert_int_equal(atomic_load(&f.calls), 2);
    api_cache_destroy(c);
}

struct asker {
    struct api_cache *c;
    struct filler *f;
    enum api_cache_result r;
    char body0;
};

static void *ask(void *arg)
{
    struct asker *a = arg;
    const struct api_entry *e = api_cache_get(a->c, "hot", fill, a->f, &a->r);
    a->body0 = e->a.body[0];
    api_cache_put(a->c, e);
    return NULL;
}

static void test_coalescing(void **state)
{
    (void)state;
    for (int enabled = 1; enabled >= 0; enabled--) {
        struct api_cache *c = api_cache_new(1 << 20, enabled);
        struct filler f = {0, 200, 60, 10, 300};
        enum { N = 16 };
        pthread_t th[N];
        struct asker a[N];
        for (int i = 0; i < N; i++) {
            a[i] = (struct asker){c, &f, API_CACHE_HIT, 0};
            pthread_create(&th[i], NULL, ask, &a[i]);
        }
        int miss = 0, coalesced = 0;
        for (int i = 0; i < N; i++) {
            pthread_join(th[i], NULL);
            miss += a[i].r == API_CACHE_MISS;
            coalesced += a[i].r == API_CACHE_COALESCED;
            assert_int_equal(a[i].body0, a[0].body0 * enabled + a[i].body0 * !enabled);
        }
        if (enabled) {
            /* one query; those that came while it ran waited for it, the rest hit */
            assert_int_equal(atomic_load(&f.calls), 1);
            assert_int_equal(miss, 1);
            assert_true(coalesced >= 1);
        } else {
            assert_int_equal(atomic_load(&f.calls), N);
            assert_int_equal(miss, N);
        }
        api_cache_destroy(c);
    }
}

static void test_eviction(void **state)
{
    (void)state;
    /* 64 KiB bound: entries of ~1 KiB; the oldest untouched go first */
    struct api_cache *c = api_cache_new(65536, 1);
    struct filler f = {0, 200, 60, 1000, 0};
    enum api_cache_result r;
    char key[32];
    const struct api_entry *held = api_cache_get(c, "k0", fill, &f, &r);
    char held_body = held->a.body[0];
    for (int i = 1; i < 200; i++) {
        snprintf(key, sizeof key, "k%d", i);
        api_cache_put(c, api_cache_get(c, key, fill, &f, &r));
        /* k1 stays hot */
        api_cache_put(c, api_cache_get(c, "k1", fill, &f, &r));
    }
    size_t n, bytes;
    api_cache_stats(c, &n, &bytes);
    assert_true(bytes <= 65536);
    assert_true(n > 20 && n < 200);
    api_cache_put(c, api_cache_get(c, "k1", fill, &f, &r));
    assert_int_equal(r, API_CACHE_HIT);
    api_cache_put(c, api_cache_get(c, "k2", fill, &f, &r));
    assert_int_equal(r, API_CACHE_MISS);
    /* the reader of an evicted answer still holds it whole */
    assert_int_equal(held->a.body[0], held_body);
    assert_int_equal(held->a.body[999], held_body);
    api_cache_put(c, held);
    /* an answer over an eighth of the bound is served, never stored */
    struct filler big = {0, 200, 60, 65536 / 8 + 1, 0};
    api_cache_put(c, api_cache_get(c, "big", fill, &big, &r));
    api_cache_put(c, api_cache_get(c, "big", fill, &big, &r));
    assert_int_equal(atomic_load(&big.calls), 2);
    api_cache_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_miss), cmocka_unit_test(test_not_stored),
        cmocka_unit_test(test_expiry),   cmocka_unit_test(test_coalescing),
        cmocka_unit_test(test_eviction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
