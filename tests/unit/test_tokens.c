/*
 * Unit tests for mf_tokens: token files (comments, blank lines, padding,
 * every refusal with its line), scopes (default, lists, unknown words),
 * lookup by digest, bearer headers, key globs per scope, and the loader's
 * one-line errors naming the variable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mf_tokens.h"
#include "mf_common.h"

/* sha256("tok-a") and sha256("tok-b") */
#define HASH_A "4f66a4283f8bc9768c3cb97fd06d267b79315aee941c9c1727b9354509242ffe"
#define HASH_B "efa1cd32d437a4dd30463a379503cadfb2b13481660f6345110f3bde01f2e773"

/* The fifth column: a request rate per token; none means no cap. */
static void test_rate(void **state)
{
    (void)state;
    char err[256];
    const char *file = HASH_A " a * readings 20/s\n" HASH_B " b * readings,grid 90/min\n";
    struct mf_tokens *t = mf_tokens_parse(file, strlen(file), err, sizeof err);
    assert_non_null(t);
    const struct mf_token *a = mf_tokens_lookup(t, "tok-a", 5);
    const struct mf_token *b = mf_tokens_lookup(t, "tok-b", 5);
    assert_non_null(a);
    assert_non_null(b);
    assert_true(a->rate_per_s == 20.0);
    assert_true(b->rate_per_s == 1.5);
    assert_int_equal(mf_tokens_index(t, a), 0);
    assert_int_equal(mf_tokens_index(t, b), 1);
    mf_tokens_destroy(t);
    const char *plain = HASH_A " a *\n";
    t = mf_tokens_parse(plain, strlen(plain), err, sizeof err);
    assert_non_null(t);
    assert_true(mf_tokens_lookup(t, "tok-a", 5)->rate_per_s == 0.0);
    mf_tokens_destroy(t);
}

static void test_parse(void **state)
{
    (void)state;
    char err[256];
    const char *file = "# comment\n"
                       "\n" HASH_A " site-a MTR-A*\n"
                       "  " HASH_B "   all   *  \r\n";
    struct mf_tokens *a = mf_tokens_parse(file, strlen(file), err, sizeof err);
    assert_non_null(a);
    assert_int_equal(mf_tokens_count(a), 2);
    mf_tokens_destroy(a);
    mf_tokens_destroy(NULL);

    static const struct {
        const char *text, *want;
    } bad[] = {
        {"abc name *\n", "line 1: want 64 hex digits"},
        {"zz" HASH_A "\n", "line 1: want 64 hex digits"},
        {"zzb1c1e1b1f7c6c1b0f84b3bd5bdc0e7b5d6d1a7e2aee8ad7e1bba9fa0e2e6e0 n *\n",
         "line 1: bad sha256 hex"},
        {"\n#x\n" HASH_A "\n", "line 3: want a name"},
        {HASH_A " n\n", "line 1: want a key glob"},
        {HASH_A " n * x\n", "line 1: unknown scope 'x'"},
        {HASH_A " n * grid,\n", "line 1: unknown scope ''"},
        {HASH_A " n * ,grid\n", "line 1: unknown scope ''"},
        {HASH_A " n * grid,Weather\n", "line 1: unknown scope 'Weather'"},
        {HASH_A " n * readings,reads\n", "line 1: unknown scope 'reads'"},
        {HASH_A " n * grid extra\n", "line 1: the rate (fifth column) must be"},
        {HASH_A " n * grid 0/s\n", "line 1: the rate (fifth column) must be"},
        {HASH_A " n * grid 5/h\n", "line 1: the rate (fifth column) must be"},
        {HASH_A " n * grid 5\n", "line 1: the rate (fifth column) must be"},
        {HASH_A " n * grid /s\n", "line 1: the rate (fifth column) must be"},
        {HASH_A " n * grid -5/s\n", "line 1: the rate (fifth column) must be"},
        {HASH_A " n * grid 5/s x\n", "line 1: unexpected text after the rate"},
        {HASH_A " n/m *\n", "line 1: the name may hold only"},
    };
    for (size_t i = 0; i < MF_ARRAY_LEN(bad); i++) {
        assert_null(mf_tokens_parse(bad[i].text, strlen(bad[i].text), err, sizeof err));
        if (!strstr(err, bad[i].want))
            fail_msg("case %zu: got '%s', want '%s'", i, err, bad[i].want);
    }
}

static void test_scopes_and_lookup(void **state)
{
    (void)state;
    char err[256];
    const char *file = HASH_A " meters MTR-*\n" HASH_B " fleet EV-* vehicles,read,grid\n";
    struct mf_tokens *a = mf_tokens_parse(file, strlen(file), err, sizeof err);
    assert_non_null(a);

    const struct mf_token *ta = mf_tokens_lookup(a, "tok-a", 5);
    const struct mf_token *tb = mf_tokens_lookup(a, "tok-b", 5);
    assert_non_null(ta);
    assert_non_null(tb);
    assert_string_equal(ta->name, "meters");
    assert_string_equal(tb->name, "fleet");
    assert_null(mf_tokens_lookup(a, "tok-c", 5));
    assert_null(mf_tokens_lookup(a, "tok-a ", 6));
    assert_null(mf_tokens_lookup(a, "tok-", 4));

    /* Three columns: readings only, the meaning before scopes existed. */
    assert_int_equal(ta->scopes, MF_SCOPE_READINGS);
    assert_true(mf_token_allows(ta, MF_SCOPE_READINGS, "MTR-1"));
    assert_false(mf_token_allows(ta, MF_SCOPE_READINGS, "EV-1"));
    assert_false(mf_token_allows(ta, MF_SCOPE_VEHICLES, "MTR-1"));
    assert_false(mf_token_allows(ta, MF_SCOPE_READ, "MTR-1"));

    assert_int_equal(tb->scopes, MF_SCOPE_VEHICLES | MF_SCOPE_READ | MF_SCOPE_GRID);
    assert_true(mf_token_allows(tb, MF_SCOPE_VEHICLES, "EV-7"));
    assert_true(mf_token_allows(tb, MF_SCOPE_READ, "EV-7"));
    assert_false(mf_token_allows(tb, MF_SCOPE_VEHICLES, "MTR-7")); /* glob */
    assert_false(mf_token_allows(tb, MF_SCOPE_READINGS, "EV-7"));  /* scope */
    assert_false(mf_token_allows(tb, MF_SCOPE_WEATHER, "EV-7"));
    mf_tokens_destroy(a);

    /* Every scope word, once each. */
    const char *all = HASH_A " x * readings,grid,weather,vehicles,read\n";
    a = mf_tokens_parse(all, strlen(all), err, sizeof err);
    assert_non_null(a);
    ta = mf_tokens_lookup(a, "tok-a", 5);
    assert_int_equal(ta->scopes, MF_SCOPE_READINGS | MF_SCOPE_GRID | MF_SCOPE_WEATHER |
                                     MF_SCOPE_VEHICLES | MF_SCOPE_READ);
    mf_tokens_destroy(a);
    assert_string_equal(mf_scope_name(MF_SCOPE_WEATHER), "weather");
    assert_string_equal(mf_scope_name(MF_SCOPE_READ), "read");
}

static void test_bearer(void **state)
{
    (void)state;
    const char *tok;
    size_t n;
    assert_true(mf_tokens_bearer("Bearer abc ", &tok, &n));
    assert_int_equal(n, 3);
    assert_memory_equal(tok, "abc", 3);
    assert_true(mf_tokens_bearer("bearer  abc", &tok, &n));
    assert_false(mf_tokens_bearer("Basic abc", &tok, &n));
    assert_false(mf_tokens_bearer("Bearer ", &tok, &n));
    assert_false(mf_tokens_bearer("Bearer", &tok, &n));
    assert_false(mf_tokens_bearer(NULL, &tok, &n));
}

static void test_load(void **state)
{
    (void)state;
    char err[256], path[] = "/tmp/mf-tokens-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);

    assert_null(mf_tokens_load("/nonexistent/tokens", "API_TOKENS_FILE", err, sizeof err));
    assert_non_null(strstr(err, "invalid API_TOKENS_FILE '/nonexistent/tokens': cannot open"));

    FILE *f = fopen(path, "w");
    fputs("# nothing\n", f);
    fclose(f);
    assert_null(mf_tokens_load(path, "GW_TOKENS_FILE", err, sizeof err));
    assert_non_null(strstr(err, "': no tokens"));

    f = fopen(path, "w");
    fputs(HASH_A " a *\n" HASH_B " b * nope\n", f);
    fclose(f);
    assert_null(mf_tokens_load(path, "GW_TOKENS_FILE", err, sizeof err));
    assert_non_null(strstr(err, "invalid GW_TOKENS_FILE"));
    assert_non_null(strstr(err, "line 2: unknown scope 'nope'"));

    f = fopen(path, "w");
    fputs(HASH_A " a * read\n", f);
    fclose(f);
    struct mf_tokens *t = mf_tokens_load(path, "GW_TOKENS_FILE", err, sizeof err);
    assert_non_null(t);
    assert_true(mf_token_allows(mf_tokens_lookup(t, "tok-a", 5), MF_SCOPE_READ, "MTR-1"));
    mf_tokens_destroy(t);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_rate),
        cmocka_unit_test(test_scopes_and_lookup),
        cmocka_unit_test(test_bearer),
        cmocka_unit_test(test_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
