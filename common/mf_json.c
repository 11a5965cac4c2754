/*
 * mf_json: JSON numbers, strings and extra fields. The number writer is
 * the stream-worker's measured one (issue 3), now everyone's: a fast path
 * for short decimals, an exact integer path for %.Pg within 1e-4..1e9, and
 * snprintf + strtod for the rest.
 */
#include "mf_json.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_common.h"

/* ---------------------------------------------------------------- numbers */

static const double pow10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};

/* %.Pg exactly */

/*
 * The general path (fmt_printf: the first of "%.15g", "%.16g", "%.17g"
 * that strtod reads back) costs two or three snprintf and strtod calls,
 * ~9,000 instructions; a quarter of the W->kW values take it (1234.567 W /
 * 1000 is not the double nearest 1.234567). fmt_exact gives the same text
 * with integer arithmetic, for 1e-4 <= |v| < 1e9 (the only range it is
 * called with): v = m * 2^-s exactly, so v * 10^k = N / 2^s with
 * N = m * 10^k < 2^53 * 10^21 < 2^123. Rounding half to even as glibc's
 * printf; the read-back test is strtod's round-to-nearest-even, done on
 * the same integers.
 */
__extension__ typedef unsigned __int128 u128;

static const uint64_t p10[] = {1ULL,
                               10ULL,
                               100ULL,
                               1000ULL,
                               10000ULL,
                               100000ULL,
                               1000000ULL,
                               10000000ULL,
                               100000000ULL,
                               1000000000ULL,
                               10000000000ULL,
                               100000000000ULL,
                               1000000000000ULL,
                               10000000000000ULL,
                               100000000000000ULL,
                               1000000000000000ULL,
                               10000000000000000ULL,
                               100000000000000000ULL,
                               1000000000000000000ULL,
                               10000000000000000000ULL};

static u128 pow10_128(int k)
{
    /* k is 7..21 (fmt_exact), so k - 19 indexes p10[] too. */
    /* NOLINTNEXTLINE(clang-analyzer-core.uninitialized.UndefReturn) */
    return k < 20 ? (u128)p10[k] : (u128)p10[19] * p10[k - 19];
}

/* 1 if the decimal q / 10^k reads back (strtod) as m * 2^-s. */
static int reads_back(uint64_t q, int k, uint64_t m, int s, u128 n)
{
    u128 qs = (u128)q << s, ten = pow10_128(k);
    int even = (m & 1) == 0;
    if (qs >= n) {
        u128 d2 = (qs - n) * 2; /* in units where the gap above is 10^k */
        return d2 < ten || (d2 == ten && even);
    }
    u128 d = n - qs;
    /* At a power of two the gap below is half as wide. */
    u128 dd = m == (1ULL << 52) ? d * 4 : d * 2;
    return dd < ten || (dd == ten && even);
}

/* Writes v (1e-4 <= |v| < 1e9) into out (>= MF_JSON_NUM_MAX bytes); returns its length. */
static int fmt_exact(char *out, double v)
{
    int x;
    double f = frexp(fabs(v), &x); /* |v| = f * 2^x, f in [0.5, 1) */
    uint64_t m = (uint64_t)ldexp(f, 53);
    int s = 53 - x; /* |v| = m * 2^-s, 23 <= s <= 67 here */

    /* e = floor(log10 |v|), -4..8: estimated, then made exact on the integers. */
    int e = (int)floor(log10(fabs(v)));
    /* The analyzer cannot follow floor(log10()): e stays -4..8, inside p10[]. */
    /* NOLINTBEGIN(clang-analyzer-core.UndefinedBinaryOperatorResult) */
    for (;;) {
        int up = e >= 0 ? (u128)m >= ((u128)p10[e] << s) : (u128)m * p10[-e] >= ((u128)1 << s);
        if (!up) {
            e--;
            continue;
        }
        int e1 = e + 1;
        int up1 = e1 >= 0 ? (u128)m >= ((u128)p10[e1] << s) : (u128)m * p10[-e1] >= ((u128)1 << s);
        if (up1) {
            e++;
            continue;
        }
        break;
    }
    /* NOLINTEND(clang-analyzer-core.UndefinedBinaryOperatorResult) */
    for (int prec = 15; prec <= 17; prec++) {
        int k = prec - 1 - e; /* 7..21 */
        u128 n = (u128)m * pow10_128(k);
        u128 mask = ((u128)1 << s) - 1, half = (u128)1 << (s - 1);
        uint64_t q = (uint64_t)(n >> s);
        u128 rem = n & mask;
        if (rem > half || (rem == half && (q & 1)))
            q++;
        if (prec < 17 && !reads_back(q, k, m, s, n))
            continue;
        int ex = e, kk = k;
        if (q == p10[prec]) { /* rounded up to the next power of ten */
            q /= 10;
            ex++;
            kk--;
        }
        /* %g: prec digits, ex in -4..prec-1 so fixed notation; trailing zeros dropped. */
        char dig[20];
        int nd = 0, o = 0;
        for (uint64_t u = q; nd < prec; u /= 10)
            dig[nd++] = (char)('0' + u % 10); /* dig[0] is the last digit */
        int drop = 0;
        while (drop < kk && dig[drop] == '0')
            drop++;
        if (v < 0)
            out[o++] = '-';
        if (ex < 0) {
            out[o++] = '0';
            out[o++] = '.';
            for (int z = -1; z > ex; z--)
                out[o++] = '0';
            for (int i = prec - 1; i >= drop; i--)
                out[o++] = dig[i];
        } else {
            for (int i = prec - 1; i >= prec - 1 - ex; i--)
                out[o++] = dig[i];
            if (prec - 1 - ex - 1 >= drop) {
                out[o++] = '.';
                for (int i = prec - 2 - ex; i >= drop; i--)
                    out[o++] = dig[i];
            }
        }
        return o;
    }
    return -1; /* not reached: prec 17 always returns */
}

/*
 * Writes v into out (>= MF_JSON_NUM_MAX bytes) and returns the length, or
 * -1 when only fmt_printf knows how (outside 1e-4..1e9 and no short
 * decimal, or 0). v is finite.
 */
static int fmt_fast(char *out, double v)
{
    double a = fabs(v);
    /*
     * Fast path: a value that is exactly k / 10^d (as a double) for d <= 9,
     * which is what meters send. r / 10^d is correctly rounded, so when it
     * equals a, the decimal "k with d decimals" reads back to exactly a; the
     * smallest such d is the shortest form.
     */
    if (a != 0 && a < 1e9) {
        for (int d = 0; d <= 9; d++) {
            double s = a * pow10[d];
            double r = nearbyint(s);
            if (r >= 9007199254740992.0)
                break;
            if (r / pow10[d] != a)
                continue;
            char dig[24];
            int nd = 0, o = 0;
            uint64_t u = (uint64_t)r;
            do {
                dig[nd++] = (char)('0' + u % 10);
                u /= 10;
            } while (u);
            while (nd < d + 1)
                dig[nd++] = '0'; /* a digit before the point: 0.05, not .05 */
            if (v < 0)
                out[o++] = '-';
            for (int i = nd - 1; i >= d; i--)
                out[o++] = dig[i];
            if (d > 0) {
                out[o++] = '.';
                for (int i = d - 1; i >= 0; i--)
                    out[o++] = dig[i];
            }
            return o;
        }
        if (a >= 1e-4)
            return fmt_exact(out, v);
    }
    return -1;
}

/*
 * Any finite v, into out (>= MF_JSON_NUM_MAX bytes): whole values below
 * 2^53 as integers, else the shortest of 15, 16 or 17 significant digits
 * that reads back exactly.
 */
static size_t fmt_printf(char *out, double v)
{
    char tmp[40];

    if (v == 0) /* also folds -0 */
        return mf_json_fmt_int(out, 0);
    if (fabs(v) < 9007199254740992.0 && v == (double)(int64_t)v)
        return mf_json_fmt_int(out, (int64_t)v);
    for (int prec = 15;; prec++) {
        int n = snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (prec == 17 || strtod(tmp, NULL) == v) {
            memcpy(out, tmp, (size_t)n);
            return (size_t)n;
        }
    }
}

size_t mf_json_fmt_double(char *out, double v)
{
    if (!isfinite(v)) {
        /* out is bytes with a length, not a string */
        /* NOLINTNEXTLINE(bugprone-not-null-terminated-result) */
        memcpy(out, "null", 4);
        return 4;
    }
    int n = fmt_fast(out, v);
    return n >= 0 ? (size_t)n : fmt_printf(out, v);
}

size_t mf_json_fmt_int(char *out, int64_t v)
{
    char tmp[24];
    char *p = tmp + sizeof tmp;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    size_t n = (size_t)(tmp + sizeof tmp - p);
    memcpy(out, p, n);
    return n;
}

int mf_json_double(struct mf_buf *b, double v)
{
    char out[MF_JSON_NUM_MAX];
    return mf_buf_append(b, out, mf_json_fmt_double(out, v));
}

int mf_json_int(struct mf_buf *b, int64_t v)
{
    char out[MF_JSON_NUM_MAX];
    return mf_buf_append(b, out, mf_json_fmt_int(out, v));
}

/* ---------------------------------------------------------------- strings */

int mf_json_str(struct mf_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";

    /* Worst case every byte becomes \u00XX: reserve once, write directly. */
    if (n > (SIZE_MAX - 2) / 6 || mf_buf_reserve(b, n * 6 + 2) != MF_OK)
        return MF_EDATA;
    char *o = b->data + b->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            *o++ = '\\';
            *o++ = '"';
            break;
        case '\\':
            *o++ = '\\';
            *o++ = '\\';
            break;
        case '\n':
            *o++ = '\\';
            *o++ = 'n';
            break;
        case '\r':
            *o++ = '\\';
            *o++ = 'r';
            break;
        case '\t':
            *o++ = '\\';
            *o++ = 't';
            break;
        default:
            if (c < 0x20) {
                *o++ = '\\';
                *o++ = 'u';
                *o++ = '0';
                *o++ = '0';
                *o++ = hex[c >> 4];
                *o++ = hex[c & 15];
            } else {
                *o++ = (char)c;
            }
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
    return MF_OK;
}

/* ---------------------------------------------------------------- extra fields */

static int skipped(const char *name, const char *const *skip, size_t nskip)
{
    for (size_t i = 0; i < nskip; i++)
        if (strcmp(name, skip[i]) == 0)
            return 1;
    return 0;
}

/*
 * One member's value. Scalars, what extra fields nearly always are (a
 * voltage, a site code), are written here: cJSON_PrintUnformatted
 * allocates and prints a number with "%1.15g" and reads it back with
 * sscanf, which was most of a reading's encoding in ingest-gw's profile.
 * The text differs at most in spelling (1e+16 vs 10000000000000000,
 * \u0008 vs \b), never in value. Objects and arrays go through cJSON.
 */
static int extra_value(struct mf_buf *b, const cJSON *c)
{
    if (cJSON_IsNumber(c))
        return mf_json_double(b, c->valuedouble);
    if (cJSON_IsString(c))
        return mf_json_str(b, c->valuestring, strlen(c->valuestring));
    if (cJSON_IsBool(c))
        return mf_buf_appends(b, cJSON_IsTrue(c) ? "true" : "false");
    if (cJSON_IsNull(c))
        return mf_buf_appends(b, "null");
    char *text = cJSON_PrintUnformatted(c);
    if (!text)
        return MF_EDATA;
    int rc = mf_buf_appends(b, text);
    cJSON_free(text);
    return rc;
}

int mf_json_extras(struct mf_buf *b, const cJSON *obj, const char *const *skip, size_t nskip)
{
    int rc = MF_OK;
    for (const cJSON *c = obj ? obj->child : NULL; c; c = c->next) {
        if (!c->string || skipped(c->string, skip, nskip))
            continue;
        rc |= mf_buf_appendc(b, ',');
        rc |= mf_json_str(b, c->string, strlen(c->string));
        rc |= mf_buf_appendc(b, ':');
        if (extra_value(b, c) != MF_OK)
            return MF_EDATA;
    }
    return rc == MF_OK ? MF_OK : MF_EDATA;
}

cJSON *mf_json_parse_whole(const char *s, size_t n)
{
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(s, n, &end, 0);
    if (!j)
        return NULL;
    for (; end && end < s + n; end++)
        if (*end != ' ' && *end != '\t' && *end != '\n' && *end != '\r') {
            cJSON_Delete(j);
            return NULL;
        }
    return j;
}
