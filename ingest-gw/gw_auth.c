/*
 * gw_auth: the token table: parsing, constant-time lookup, meter globs.
 */
#include "gw_auth.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "mf_common.h"

#define MAX_TOKENS     4096
#define MAX_FILE_BYTES (1 << 20)

struct gw_auth {
    struct gw_token *tokens;
    size_t n;
};

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Splits the next whitespace-separated word off *p (bounded by end). */
static int next_word(const char **p, const char *end, const char **w, size_t *n)
{
    while (*p < end && (**p == ' ' || **p == '\t'))
        (*p)++;
    *w = *p;
    while (*p < end && **p != ' ' && **p != '\t')
        (*p)++;
    *n = (size_t)(*p - *w);
    return *n > 0;
}

static int parse_line(const char *s, const char *end, struct gw_token *t, char *why, size_t whylen)
{
    const char *w;
    size_t n;

    memset(t, 0, sizeof *t);
    if (!next_word(&s, end, &w, &n) || n != 64) {
        snprintf(why, whylen, "want 64 hex digits of sha256 first");
        return MF_EDATA;
    }
    for (size_t i = 0; i < 32; i++) {
        int hi = hexval(w[2 * i]), lo = hexval(w[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            snprintf(why, whylen, "bad sha256 hex");
            return MF_EDATA;
        }
        t->sha256[i] = (unsigned char)(hi << 4 | lo);
    }
    if (!next_word(&s, end, &w, &n) || n >= sizeof t->name) {
        snprintf(why, whylen, "want a name (at most %zu characters) second", sizeof t->name - 1);
        return MF_EDATA;
    }
    for (size_t i = 0; i < n; i++) {
        char c = w[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '@' || c == ':')) {
            snprintf(why, whylen, "the name may hold only [A-Za-z0-9._@:-]");
            return MF_EDATA;
        }
    }
    memcpy(t->name, w, n);
    if (!next_word(&s, end, &w, &n) || n >= sizeof t->glob) {
        snprintf(why, whylen, "want a meter-id glob (at most %zu characters) third",
                 sizeof t->glob - 1);
        return MF_EDATA;
    }
    memcpy(t->glob, w, n);
    if (next_word(&s, end, &w, &n)) {
        snprintf(why, whylen, "unexpected text after the glob");
        return MF_EDATA;
    }
    return MF_OK;
}

struct gw_auth *gw_auth_parse(const char *text, size_t len, char *errbuf, size_t errlen)
{
    struct gw_auth *a = mf_xcalloc(1, sizeof *a);
    const char *end = text + len;
    size_t lineno = 0;

    for (const char *p = text; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        lineno++;
        while (e > p && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
            e--;
        const char *q = p;
        while (q < e && (*q == ' ' || *q == '\t'))
            q++;
        if (q < e && *q != '#') {
            char why[128];
            if (a->n == MAX_TOKENS) {
                snprintf(errbuf, errlen, "more than %d tokens", MAX_TOKENS);
                goto fail;
            }
            a->tokens = mf_xrealloc(a->tokens, (a->n + 1) * sizeof *a->tokens);
            if (parse_line(q, e, &a->tokens[a->n], why, sizeof why) != MF_OK) {
                snprintf(errbuf, errlen, "line %zu: %s", lineno, why);
                goto fail;
            }
            a->n++;
        }
        p = nl ? nl + 1 : end;
    }
    return a;
fail:
    gw_auth_destroy(a);
    return NULL;
}

struct gw_auth *gw_auth_load(const char *path, char *errbuf, size_t errlen)
{
    char why[256];
    struct gw_auth *a = NULL;
    char *buf = NULL;
    FILE *f = fopen(path, "r");

    if (!f) {
        snprintf(errbuf, errlen, "invalid GW_TOKENS_FILE '%s': cannot open it", path);
        return NULL;
    }
    buf = mf_xmalloc(MAX_FILE_BYTES + 1);
    size_t n = fread(buf, 1, MAX_FILE_BYTES + 1, f);
    if (n > MAX_FILE_BYTES) {
        snprintf(errbuf, errlen, "invalid GW_TOKENS_FILE '%s': larger than 1 MiB", path);
        goto out;
    }
    a = gw_auth_parse(buf, n, why, sizeof why);
    if (!a) {
        snprintf(errbuf, errlen, "invalid GW_TOKENS_FILE '%s': %s", path, why);
        goto out;
    }
    if (a->n == 0) {
        snprintf(errbuf, errlen,
                 "invalid GW_TOKENS_FILE '%s': no tokens (set GW_AUTH=off to "
                 "run without auth)",
                 path);
        gw_auth_destroy(a);
        a = NULL;
    }
out:
    free(buf);
    fclose(f);
    return a;
}

void gw_auth_destroy(struct gw_auth *a)
{
    if (!a)
        return;
    free(a->tokens);
    free(a);
}

size_t gw_auth_count(const struct gw_auth *a)
{
    return a->n;
}

const struct gw_token *gw_auth_lookup(const struct gw_auth *a, const char *token, size_t n)
{
    unsigned char digest[32];
    unsigned int dlen = 0;
    const struct gw_token *found = NULL;

    if (!EVP_Digest(token, n, digest, &dlen, EVP_sha256(), NULL) || dlen != 32)
        return NULL;
    /* Every entry is compared in full, so timing says nothing about which matched. */
    for (size_t i = 0; i < a->n; i++) {
        unsigned char diff = 0;
        for (size_t k = 0; k < 32; k++)
            diff |= (unsigned char)(a->tokens[i].sha256[k] ^ digest[k]);
        if (diff == 0 && !found)
            found = &a->tokens[i];
    }
    return found;
}

int gw_auth_bearer(const char *header, const char **tok, size_t *n)
{
    if (!header || strncasecmp(header, "Bearer ", 7) != 0)
        return 0;
    const char *t = header + 7;
    while (*t == ' ')
        t++;
    size_t len = strlen(t);
    while (len > 0 && t[len - 1] == ' ')
        len--;
    if (len == 0 || len > 4096)
        return 0;
    *tok = t;
    *n = len;
    return 1;
}

int gw_auth_allows(const struct gw_token *t, const char *meter_id)
{
    return fnmatch(t->glob, meter_id, 0) == 0;
}
