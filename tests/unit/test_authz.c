/*
 * Unit tests for mf_authz: the rate bucket (a second's worth of burst,
 * refill at the token's rate, Retry-After rounded up), tokens without a
 * rate never refused, and a reload that keeps the old entries valid and
 * starts new buckets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mf_authz.h"
#include "mf_common.h"

/* sha256("tok-a") and sha256("tok-b") */
#define HASH_A "4f66a4283f8bc9768c3cb97fd06d267b79315aee941c9c1727b9354509242ffe"
#define HASH_B "efa1cd32d437a4dd30463a379503cadfb2b13481660f6345110f3bde01f2e773"

static struct mf_tokens *tokens(const char *text)
{
    char err[256];
    struct mf_tokens *t = mf_tokens_parse(text, strlen(text), err, sizeof err);
    if (!t)
        fail_msg("%s", err);
    return t;
}

static enum mf_authz_result check(struct mf_authz *a, const char *tok, long long now,
                                  unsigned *wait)
{
    const struct mf_token *e = NULL;
    *wait = 0;
    return mf_authz_check(a, tok, strlen(tok), now, &e, wait);
}

static void test_bucket(void **state)
{
    (void)state;
    unsigned wait;
    struct mf_authz *a = mf_authz_new(tokens(HASH_A " a * readings 4/s\n" HASH_B " b *\n"));
    long long t0 = 1000000;
    /* A full bucket: 4 at once, the fifth refused for 1 s. */
    for (int i = 0; i < 4; i++)
        assert_int_equal(check(a, "tok-a", t0, &wait), MF_AUTHZ_OK);
    assert_int_equal(check(a, "tok-a", t0, &wait), MF_AUTHZ_RATE_LIMITED);
    assert_int_equal(wait, 1);
    /* 250 ms refill one request at 4/s; not two. */
    assert_int_equal(check(a, "tok-a", t0 + 250, &wait), MF_AUTHZ_OK);
    assert_int_equal(check(a, "tok-a", t0 + 250, &wait), MF_AUTHZ_RATE_LIMITED);
    /* A long pause refills to a second's worth, never more. */
    for (int i = 0; i < 4; i++)
        assert_int_equal(check(a, "tok-a", t0 + 60000, &wait), MF_AUTHZ_OK);
    assert_int_equal(check(a, "tok-a", t0 + 60000, &wait), MF_AUTHZ_RATE_LIMITED);
    /* No rate: never refused. */
    for (int i = 0; i < 1000; i++)
        assert_int_equal(check(a, "tok-b", t0, &wait), MF_AUTHZ_OK);
    assert_int_equal(check(a, "tok-c", t0, &wait), MF_AUTHZ_UNKNOWN);
    mf_authz_destroy(a);
    mf_authz_destroy(NULL);
}

static void test_slow_rate(void **state)
{
    (void)state;
    unsigned wait;
    /* 6/min: a burst of one, then one every 10 s; Retry-After rounds up. */
    struct mf_authz *a = mf_authz_new(tokens(HASH_A " a * readings 6/min\n"));
    assert_int_equal(check(a, "tok-a", 5000, &wait), MF_AUTHZ_OK);
    assert_int_equal(check(a, "tok-a", 5000, &wait), MF_AUTHZ_RATE_LIMITED);
    assert_int_equal(wait, 10);
    assert_int_equal(check(a, "tok-a", 9000, &wait), MF_AUTHZ_RATE_LIMITED);
    assert_int_equal(wait, 6);
    assert_int_equal(check(a, "tok-a", 15001, &wait), MF_AUTHZ_OK);
    mf_authz_destroy(a);
}

static void test_reload(void **state)
{
    (void)state;
    unsigned wait;
    const struct mf_token *old = NULL;
    struct mf_authz *a = mf_authz_new(tokens(HASH_A " a * readings 1/s\n"));
    assert_int_equal(mf_authz_check(a, "tok-a", 5, 1000, &old, &wait), MF_AUTHZ_OK);
    assert_int_equal(check(a, "tok-a", 1000, &wait), MF_AUTHZ_RATE_LIMITED);
    assert_int_equal(check(a, "tok-b", 1000, &wait), MF_AUTHZ_UNKNOWN);
    mf_authz_replace(a, tokens(HASH_B " b * grid\n" HASH_A " a2 * readings 1/s\n"));
    assert_int_equal(mf_authz_count(a), 2);
    /* The new table in force, with fresh buckets; the old entry still readable. */
    assert_int_equal(check(a, "tok-b", 1000, &wait), MF_AUTHZ_OK);
    const struct mf_token *e = NULL;
    assert_int_equal(mf_authz_check(a, "tok-a", 5, 1000, &e, &wait), MF_AUTHZ_OK);
    assert_string_equal(e->name, "a2");
    assert_string_equal(old->name, "a");
    mf_authz_destroy(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket),
        cmocka_unit_test(test_slow_rate),
        cmocka_unit_test(test_reload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
