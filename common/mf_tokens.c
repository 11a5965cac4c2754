/*
 * mf_tokens: the token table: parsing (with scopes), constant-time lookup,
 * key globs. Knows nothing of HTTP beyond the Authorization header's shape.
 */
#include "mf_tokens.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "mf_common.h"

#define MAX_TOKENS     4096
#define MAX_FILE_BYTES (1 << 20)

struct mf_tokens {
    struct mf_token *tokens;
    size_t n;
};

/* The scope words of the fourth column: rows, so a new scope is one line. */
static const struct {
    const char *name;
    enum mf_scope bit;
} scope_words[] = {
    {"readings", MF_SCOPE_READINGS}, {"grid", MF_SCOPE_GRID}, {"weather", MF_SCOPE_WEATHER},
    {"vehicles", MF_SCOPE_VEHICLES}, {"read", MF_SCOPE_READ},
};

const char *mf_scope_name(enum mf_scope scope)
{
    for (size_t i = 0; i < MF_ARRAY_LEN(scope_words); i++)
        if (scope_words[i].bit == scope)
            return scope_words[i].name;
    return "?";
}

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

/* The fourth column: "grid,weather" -> bits; an unknown or empty word is refused. */
static int parse_scopes(const char *w, size_t n, unsigned *out, char *why, size_t whylen)
{
    *out = 0;
    for (size_t at = 0;;) {
        const char *c = memchr(w + at, ',', n - at);
        size_t len = c ? (size_t)(c - (w + at)) : n - at;
        unsigned bit = 0;
        for (size_t i = 0; i < MF_ARRAY_LEN(scope_words); i++)
            if (strlen(scope_words[i].name) == len && memcmp(scope_words[i].name, w + at, len) == 0)
                bit = (unsigned)scope_words[i].bit;
        if (!bit) {
            snprintf(why, whylen,
                     "unknown scope '%.*s' (want a comma list of readings, grid, weather, "
                     "vehicles, read)",
                     (int)(len > 32 ? 32 : len), w + at);
            return MF_EDATA;
        }
        *out |= bit;
        if (!c)
            return MF_OK;
        at += len + 1;
    }
}

/*
 * The fifth column: the token's request rate, "<n>/s" or "<n>/min" (n a
 * positive whole number), so one noisy client cannot take the gateway from
 * the others.
 */
static int parse_rate(const char *w, size_t n, double *per_s, char *why, size_t whylen)
{
    size_t digits = 0;
    unsigned long v = 0;
    while (digits < n && digits < 9 && w[digits] >= '0' && w[digits] <= '9')
        v = v * 10 + (unsigned long)(w[digits++] - '0');
    const char *unit = w + digits;
    size_t ulen = n - digits;
    if (digits == 0 || v == 0 || ulen < 2 || unit[0] != '/') {
        snprintf(why, whylen, "the rate (fifth column) must be <n>/s or <n>/min with n >= 1");
        return MF_EDATA;
    }
    if (ulen == 2 && unit[1] == 's') {
        *per_s = (double)v;
    } else if (ulen == 4 && memcmp(unit, "/min", 4) == 0) {
        *per_s = (double)v / 60.0;
    } else {
        snprintf(why, whylen, "the rate (fifth column) must be <n>/s or <n>/min with n >= 1");
        return MF_EDATA;
    }
    return MF_OK;
}

static int parse_line(const char *s, const char *end, struct mf_token *t, char *why, size_t whylen)
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
        snprintf(why, whylen, "want a key glob (at most %zu characters) third", sizeof t->glob - 1);
        return MF_EDATA;
    }
    memcpy(t->glob, w, n);
    t->scopes = MF_SCOPE_READINGS; /* a three-column line: what it always meant */
    if (next_word(&s, end, &w, &n) && parse_scopes(w, n, &t->scopes, why, whylen) != MF_OK)
        return MF_EDATA;
    if (next_word(&s, end, &w, &n) && parse_rate(w, n, &t->rate_per_s, why, whylen) != MF_OK)
        return MF_EDATA;
    if (next_word(&s, end, &w, &n)) {
        snprintf(why, whylen, "unexpected text after the rate");
        return MF_EDATA;
    }
    return MF_OK;
}

struct mf_tokens *mf_tokens_parse(const char *text, size_t len, char *errbuf, size_t errlen)
{
    struct mf_tokens *a = mf_xcalloc(1, sizeof *a);
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
            char why[160];
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
    mf_tokens_destroy(a);
    return NULL;
}

struct mf_tokens *mf_tokens_load(const char *path, const char *var, char *errbuf, size_t errlen)
{
    char why[256];
    struct mf_tokens *a = NULL;
    char *buf = NULL;
    FILE *f = fopen(path, "r");

    if (!f) {
        snprintf(errbuf, errlen, "invalid %s '%s': cannot open it", var, path);
        return NULL;
    }
    buf = mf_xmalloc(MAX_FILE_BYTES + 1);
    size_t n = fread(buf, 1, MAX_FILE_BYTES + 1, f);
    if (n > MAX_FILE_BYTES) {
        snprintf(errbuf, errlen, "invalid %s '%s': larger than 1 MiB", var, path);
        goto out;
    }
    a = mf_tokens_parse(buf, n, why, sizeof why);
    if (!a) {
        snprintf(errbuf, errlen, "invalid %s '%s': %s", var, path, why);
        goto out;
    }
    if (a->n == 0) {
        snprintf(errbuf, errlen, "invalid %s '%s': no tokens", var, path);
        mf_tokens_destroy(a);
        a = NULL;
    }
out:
    free(buf);
    fclose(f);
    return a;
}

void mf_tokens_destroy(struct mf_tokens *t)
{
    if (!t)
        return;
    free(t->tokens);
    free(t);
}

size_t mf_tokens_count(const struct mf_tokens *t)
{
    return t->n;
}

size_t mf_tokens_index(const struct mf_tokens *t, const struct mf_token *entry)
{
    MF_ASSERT(entry >= t->tokens && entry < t->tokens + t->n);
    return (size_t)(entry - t->tokens);
}

const struct mf_token *mf_tokens_lookup(const struct mf_tokens *t, const char *token, size_t n)
{
    unsigned char digest[32];
    unsigned int dlen = 0;
    const struct mf_token *found = NULL;

    if (!EVP_Digest(token, n, digest, &dlen, EVP_sha256(), NULL) || dlen != 32)
        return NULL;
    /* Every entry is compared in full, so timing says nothing about which matched. */
    for (size_t i = 0; i < t->n; i++) {
        unsigned char diff = 0;
        for (size_t k = 0; k < 32; k++)
            diff |= (unsigned char)(t->tokens[i].sha256[k] ^ digest[k]);
        if (diff == 0 && !found)
            found = &t->tokens[i];
    }
    return found;
}

int mf_tokens_bearer(const char *header, const char **tok, size_t *n)
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

int mf_token_allows(const struct mf_token *t, enum mf_scope scope, const char *key)
{
    return (t->scopes & (unsigned)scope) && fnmatch(t->glob, key, 0) == 0;
}
