/*
 * Unit tests for gw_auth: token files (comments, blank lines, padding, every
 * refusal with its line), lookup by digest, bearer headers, meter globs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gw_auth.h"
#include "mf_common.h"

static void test_auth(void **state)
{
    (void)state;
    char err[256];
    /* sha256("secret-token-1") and sha256("t2") */
    const char *file =
        "# comment\n"
        "\n"
        "b3b1c1e1b1f7c6c1b0f84b3bd5bdc0e7b5d6d1a7e2aee8ad7e1bba9fa0e2e6e0 site-a MTR-A*\n"
        "  2b1e0e8fbc25e8b67e7ff6a6bc05b3ffe5e8658eb4c1d6b3c8e7bbd0f0fba20f   all   *  \r\n";
    struct gw_auth *a = gw_auth_parse(file, strlen(file), err, sizeof err);
    assert_non_null(a);
    assert_int_equal(gw_auth_count(a), 2);
    gw_auth_destroy(a);

    static const struct {
        const char *text, *want;
    } bad[] = {
        {"abc name *\n", "line 1: want 64 hex digits"},
        {"zzb1c1e1b1f7c6c1b0f84b3bd5bdc0e7b5d6d1a7e2aee8ad7e1bba9fa0e2e6e0 n *\n",
         "line 1: bad sha256 hex"},
        {"\n#x\nb3b1c1e1b1f7c6c1b0f84b3bd5bdc0e7b5d6d1a7e2aee8ad7e1bba9fa0e2e6e0\n",
         "line 3: want a name"},
        {"b3b1c1e1b1f7c6c1b0f84b3bd5bdc0e7b5d6d1a7e2aee8ad7e1bba9fa0e2e6e0 n\n",
         "line 1: want a meter-id glob"},
        {"b3b1c1e1b1f7c6c1b0f84b3bd5bdc0e7b5d6d1a7e2aee8ad7e1bba9fa0e2e6e0 n * x\n",
         "line 1: unexpected text"},
        {"b3b1c1e1b1f7c6c1b0f84b3bd5bdc0e7b5d6d1a7e2aee8ad7e1bba9fa0e2e6e0 n/m *\n",
         "line 1: the name may hold only"},
    };
    for (size_t i = 0; i < MF_ARRAY_LEN(bad); i++) {
        assert_null(gw_auth_parse(bad[i].text, strlen(bad[i].text), err, sizeof err));
        if (!strstr(err, bad[i].want))
            fail_msg("case %zu: got '%s'", i, err);
    }

    /* Lookup by the real digest of a token, and the glob. */
    const char *line = "2b5c0a1ee4b4d2b7cdb1d4d3e55a5bc6e0d38a3d1a1e3b2fdc2e0e7e9e3d7a51 x *\n";
    a = gw_auth_parse(line, strlen(line), err, sizeof err);
    assert_non_null(a);
    assert_null(gw_auth_lookup(a, "nope", 4));
    gw_auth_destroy(a);
    const char *tok;
    size_t n;
    assert_true(gw_auth_bearer("Bearer abc ", &tok, &n));
    assert_int_equal(n, 3);
    assert_true(gw_auth_bearer("bearer  abc", &tok, &n));
    assert_false(gw_auth_bearer("Basic abc", &tok, &n));
    assert_false(gw_auth_bearer("Bearer ", &tok, &n));
    assert_false(gw_auth_bearer(NULL, &tok, &n));
    struct gw_token t = {.glob = "MTR-A*"};
    assert_true(gw_auth_allows(&t, "MTR-A1"));
    assert_false(gw_auth_allows(&t, "MTR-B1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
