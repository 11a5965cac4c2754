/* api_params: parameters, ranges and cursors of the analytics API. */
#include "api_params.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "mf_time.h"
#include "mf_common.h"

#define CURSOR_VERSION 1
#define CURSOR_MAC_LEN 12 /* 96 bits: forging one is not a practical attack */
#define CURSOR_RAW_LEN (1 + 8 + CURSOR_MAC_LEN)
/* Longest time string we look at: RFC 3339 with a long fraction. */
#define TIME_MAX_LEN 64

static int refuse(struct api_bad *bad, const char *param, const char *why)
{
    snprintf(bad->param, sizeof bad->param, "%s", param);
    snprintf(bad->why, sizeof bad->why, "%s", why);
    return MF_EDATA;
}

int64_t api_width_ms(enum api_width w)
{
    switch (w) {
    case API_W_1M:
        return 60 * 1000;
    case API_W_1H:
        return 3600 * 1000;
    case API_W_1D:
        return 86400 * 1000;
    }
    return 3600 * 1000;
}

const char *api_width_name(enum api_width w)
{
    switch (w) {
    case API_W_1M:
        return "1m";
    case API_W_1H:
        return "1h";
    case API_W_1D:
        return "1d";
    }
    return "1h";
}

int api_parse_width(const char *s, unsigned allowed, enum api_width def, enum api_width *w,
                    struct api_bad *bad)
{
    if (!s) {
        *w = def;
        return MF_OK;
    }
    static const enum api_width all[] = {API_W_1M, API_W_1H, API_W_1D};
    char list[32] = "";
    size_t used = 0;
    for (size_t i = 0; i < MF_ARRAY_LEN(all); i++) {
        if (!(allowed & (1u << all[i])))
            continue;
        if (strcmp(s, api_width_name(all[i])) == 0) {
            *w = all[i];
            return MF_OK;
        }
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "",
                                 api_width_name(all[i]));
    }
    char why[96];
    snprintf(why, sizeof why, "width must be one of %s", list);
    return refuse(bad, "width", why);
}

int api_parse_time(const char *name, const char *s, int64_t *ms, struct api_bad *bad)
{
    char buf[TIME_MAX_LEN + 1], err[128], why[192];
    size_t n = strlen(s);
    if (n == 0 || n > TIME_MAX_LEN) {
        snprintf(why, sizeof why, "%s must be an RFC 3339 time or epoch milliseconds", name);
        return refuse(bad, name, why);
    }
    memcpy(buf, s, n + 1);
    /* "...T14:00:00 02:00": the '+' of an unencoded offset, decoded as a space. */
    if (n > 6 && buf[n - 6] == ' ' && buf[n - 3] == ':' && strchr(buf, 'T'))
        buf[n - 6] = '+';
    if (mf_time_parse_text(buf, n, ms, err, sizeof err) != MF_OK) {
        snprintf(why, sizeof why, "%s: %s", name, err);
        return refuse(bad, name, why);
    }
    return MF_OK;
}

static int64_t floor_to(int64_t t, int64_t step)
{
    return t - t % step; /* times are >= 0 (mf_time refuses negative epochs) */
}

int api_parse_range(const char *from_s, const char *to_s, int64_t now_ms, int64_t width_ms,
                    int64_t def_span_ms, int64_t max_span_ms, int64_t *from, int64_t *to,
                    struct api_bad *bad)
{
    int64_t f, t;
    if (to_s) {
        if (api_parse_time("to", to_s, &t, bad) != MF_OK)
            return MF_EDATA;
        /* A window that starts before `to` is in: round up to its end. */
        int64_t up = floor_to(t, width_ms);
        t = up < t ? up + width_ms : up;
    } else {
        t = floor_to(now_ms, width_ms) + width_ms;
    }
    if (from_s) {
        if (api_parse_time("from", from_s, &f, bad) != MF_OK)
            return MF_EDATA;
        f = floor_to(f, width_ms);
    } else {
        f = t > def_span_ms ? t - def_span_ms : 0;
    }
    if (f >= t)
        return refuse(bad, "from", "from must be before to (the range is [from, to))");
    if (t - f > max_span_ms) {
        char why[160];
        snprintf(why, sizeof why, "the range from..to spans more than %lld days at this width",
                 (long long)(max_span_ms / 86400000));
        return refuse(bad, "from", why);
    }
    *from = f;
    *to = t;
    return MF_OK;
}

int api_parse_limit(const char *s, int *limit, struct api_bad *bad)
{
    if (!s) {
        *limit = API_LIMIT_DEFAULT;
        return MF_OK;
    }
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < 1 || v > API_LIMIT_MAX || s[0] == '+' || s[0] == ' ')
        return refuse(bad, "limit", "limit must be an integer from 1 to 10000");
    *limit = (int)v;
    return MF_OK;
}

static int id_char(char c, int space_ok)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '-' || (space_ok && c == ' ');
}

static int check_chars(const char *name, const char *s, int space_ok, struct api_bad *bad)
{
    size_t n = strlen(s);
    char why[160];
    if (n == 0 || n > API_ID_MAX) {
        snprintf(why, sizeof why, "%s must be 1 to %d characters", name, API_ID_MAX);
        return refuse(bad, name, why);
    }
    for (size_t i = 0; i < n; i++) {
        if (!id_char(s[i], space_ok)) {
            snprintf(why, sizeof why, "%s may hold only A-Z a-z 0-9 . _ : -%s", name,
                     space_ok ? " and spaces" : "");
            return refuse(bad, name, why);
        }
    }
    return MF_OK;
}

int api_check_id(const char *name, const char *s, struct api_bad *bad)
{
    return check_chars(name, s, 0, bad);
}

int api_check_region(const char *s, struct api_bad *bad)
{
    return check_chars("region", s, 1, bad);
}

/* ---------------------------------------------------------------- cursors */

static void cursor_mac(const void *key, size_t keylen, const char *scope, const unsigned char *pos,
                       unsigned char mac[CURSOR_MAC_LEN])
{
    unsigned char full[EVP_MAX_MD_SIZE], msg[1 + 8];
    unsigned int len = 0;
    static const unsigned char nokey[1] = {0};
    msg[0] = CURSOR_VERSION;
    memcpy(msg + 1, pos, 8);
    /* Over version, position and scope: the scope is why a cursor of one
     * query cannot steer another. */
    size_t slen = strlen(scope);
    unsigned char *buf = mf_xmalloc(sizeof msg + slen + 1);
    memcpy(buf, msg, sizeof msg);
    memcpy(buf + sizeof msg, scope, slen + 1); /* the NUL is not MACed */
    HMAC(EVP_sha256(), keylen ? key : nokey, (int)(keylen ? keylen : 1), buf, sizeof msg + slen,
         full, &len);
    free(buf);
    memcpy(mac, full, CURSOR_MAC_LEN);
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void api_cursor_encode(const void *key, size_t keylen, const char *scope, int64_t pos,
                       char out[API_CURSOR_MAX + 1])
{
    unsigned char raw[CURSOR_RAW_LEN];
    raw[0] = CURSOR_VERSION;
    for (int i = 0; i < 8; i++)
        raw[1 + i] = (unsigned char)((uint64_t)pos >> (56 - 8 * i));
    cursor_mac(key, keylen, scope, raw + 1, raw + 9);
    /* CURSOR_RAW_LEN is a multiple of 3: no padding. */
    size_t o = 0;
    for (size_t i = 0; i + 2 < sizeof raw; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
        out[o++] = b64url[(v >> 18) & 63];
        out[o++] = b64url[(v >> 12) & 63];
        out[o++] = b64url[(v >> 6) & 63];
        out[o++] = b64url[v & 63];
    }
    out[o] = '\0';
}

static int b64val(char c)
{
    const char *p = c ? strchr(b64url, c) : NULL;
    return p ? (int)(p - b64url) : -1;
}

int api_cursor_decode(const void *key, size_t keylen, const char *scope, const char *s,
                      int64_t *pos, struct api_bad *bad)
{
    unsigned char raw[CURSOR_RAW_LEN], mac[CURSOR_MAC_LEN];
    if (strlen(s) != CURSOR_RAW_LEN / 3 * 4)
        return refuse(bad, "cursor", "cursor is not one this API handed out");
    for (size_t i = 0, o = 0; o < sizeof raw; i += 4, o += 3) {
        int a = b64val(s[i]), b = b64val(s[i + 1]), c = b64val(s[i + 2]), d = b64val(s[i + 3]);
        if (a < 0 || b < 0 || c < 0 || d < 0)
            return refuse(bad, "cursor", "cursor is not one this API handed out");
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
        raw[o] = (unsigned char)(v >> 16);
        raw[o + 1] = (unsigned char)(v >> 8);
        raw[o + 2] = (unsigned char)v;
    }
    cursor_mac(key, keylen, scope, raw + 1, mac);
    if (raw[0] != CURSOR_VERSION || CRYPTO_memcmp(mac, raw + 9, CURSOR_MAC_LEN) != 0)
        return refuse(bad, "cursor",
                      "cursor was altered or belongs to another query (ask again without it)");
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | raw[1 + i];
    if (v > (uint64_t)MF_TIME_MAX_MS)
        return refuse(bad, "cursor", "cursor is not one this API handed out");
    *pos = (int64_t)v;
    return MF_OK;
}
