/*
 * wk_emit: hand-written JSON writers. cJSON would build a tree per output
 * (a malloc per field); these append straight into a reused buffer, which
 * is most of why our own code stays under 2 us a record.
 */
#include "wk_emit.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "mf_time.h"
#include "mf_common.h"

static const double pow10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};

/* ---------------------------------------------------------------- %.Pg exactly */

/*
 * mf_buf_append_double's slow path (the first of "%.15g", "%.16g", "%.17g"
 * that strtod reads back) costs two or three snprintf and strtod calls,
 * ~9,000 instructions; a quarter of the W->kW values take it (1234.567 W /
 * 1000 is not the double nearest 1.234567). emit_exact gives the same text
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

/* Writes v (1e-4 <= |v| < 1e9) into out (>= 48 bytes); returns its length. */
static int fmt_exact(char *out, double v)
{
    int x;
    double f = frexp(fabs(v), &x); /* |v| = f * 2^x, f in [0.5, 1) */
    uint64_t m = (uint64_t)ldexp(f, 53);
    int s = 53 - x; /* |v| = m * 2^-s, 23 <= s <= 67 here */

    /* e = floor(log10 |v|), -4..8: estimated, then made exact on the integers. */
    int e = (int)floor(log10(fabs(v)));
    for (;;) {
        int up = e >= 0 ? (u128)m >= ((u128)p10[e] << s) : (u128)m * p10[-e] >= ((u128)1 << s);
        if (!up) {
            e--;
            continue;
        }
        int e1 = e + 1;
        int up1 = e1 >= 0 ? (u128)m >= ((u128)p10[e1] << s)
                          : (u128)m * p10[-e1] >= ((u128)1 << s);
        if (up1) {
            e++;
            continue;
        }
        break;
    }
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
 * Writes v as JSON into out (>= 48 bytes) and returns the length, or -1
 * when only mf_buf_append_double knows how (outside 1e-4..1e9, or 0).
 */
static int fmt_double(char *out, double v)
{
    if (!isfinite(v)) {
        memcpy(out, "null", 4);
        return 4;
    }
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

int wk_emit_double(struct mf_buf *b, double v)
{
    char out[48];
    int n = fmt_double(out, v);
    return n >= 0 ? mf_buf_append(b, out, (size_t)n) : mf_buf_append_double(b, v);
}

/*
 * energy_kwh is kW * interval / 3600, rarely a short decimal: written to
 * 1e-9 kWh (a microwatt-hour), which is below any meter's resolution and
 * keeps it on the fast path of wk_emit_double.
 */
static double energy_rounded(double e)
{
    return fabs(e) < 1e6 ? nearbyint(e * 1e9) / 1e9 : e;
}

static int put_src(struct mf_buf *b, struct wk_src s)
{
    int rc = mf_buf_appends(b, "\"src\":{\"p\":");
    rc |= mf_buf_append_int(b, s.p);
    rc |= mf_buf_appends(b, ",\"o\":");
    rc |= mf_buf_append_int(b, s.o);
    rc |= mf_buf_appends(b, ",\"i\":");
    rc |= mf_buf_append_int(b, s.i);
    rc |= mf_buf_appendc(b, '}');
    return rc;
}

static int put_time(struct mf_buf *b, const char *name, int64_t ms)
{
    char ts[MF_TIME_STRLEN];
    mf_time_format(ms, ts);
    int rc = mf_buf_appends(b, name);
    rc |= mf_buf_appendc(b, '"');
    rc |= mf_buf_append(b, ts, MF_TIME_STRLEN - 1);
    rc |= mf_buf_appendc(b, '"');
    return rc;
}

/* "flags":[...],"reasons":[...] from the bits, in wk_flags[] order. */
static int put_flags(struct mf_buf *b, uint32_t flags)
{
    int rc = mf_buf_appends(b, ",\"flags\":[");
    int first = 1;
    for (int f = 0; f < WK_F_COUNT; f++) {
        if (!(flags & (1u << f)))
            continue;
        if (!first)
            rc |= mf_buf_appendc(b, ',');
        first = 0;
        rc |= mf_buf_appendc(b, '"');
        rc |= mf_buf_appends(b, wk_flags[f].name);
        rc |= mf_buf_appendc(b, '"');
    }
    rc |= mf_buf_appends(b, "],\"reasons\":[");
    first = 1;
    for (int f = 0; f < WK_F_COUNT; f++) {
        if (!(flags & (1u << f)) || !wk_flags[f].reject)
            continue;
        if (!first)
            rc |= mf_buf_appendc(b, ',');
        first = 0;
        rc |= mf_buf_appendc(b, '"');
        rc |= mf_buf_appends(b, wk_flags[f].name);
        rc |= mf_buf_appendc(b, '"');
    }
    rc |= mf_buf_appendc(b, ']');
    return rc;
}

/* Names a scored reading writes itself; an input extra field by one of them is not copied. */
static int reserved_name(const char *s)
{
    static const char *const names[] = {
        "meter_id",     "ts",      "value",  "unit",  "interval_s", "value_kw",     "source_value",
        "source_unit",  "energy_kwh", "quality", "tier", "flags",   "reasons",      "interpolated",
        "src",
    };
    for (size_t i = 0; i < MF_ARRAY_LEN(names); i++)
        if (strcmp(s, names[i]) == 0)
            return 1;
    return 0;
}

static int put_extras(struct mf_buf *b, const cJSON *obj)
{
    int rc = MF_OK;
    for (const cJSON *c = obj ? obj->child : NULL; c; c = c->next) {
        if (!c->string || reserved_name(c->string))
            continue;
        char *text = cJSON_PrintUnformatted(c);
        if (!text)
            return MF_EDATA;
        rc |= mf_buf_appendc(b, ',');
        rc |= mf_buf_append_json_str(b, c->string, strlen(c->string));
        rc |= mf_buf_appendc(b, ':');
        rc |= mf_buf_appends(b, text);
        cJSON_free(text);
    }
    return rc;
}

/* ---------------------------------------------------------------- the scored reading */

/*
 * The scored reading is written once per record, so it goes straight into
 * room reserved up front instead of through an append per piece (each one
 * a strlen, a capacity check and a NUL: a fifth of our instructions a
 * record, callgrind). Strings that need escaping and the extra fields still
 * go through mf_buf, after which the writer picks up at the buffer's end.
 */
struct raw {
    struct mf_buf *b;
    char *o;     /* next byte; room reserved by raw_room */
    size_t room; /* what the last raw_room asked for */
};

#define RAW_LIT(w, s) (memcpy((w)->o, s, sizeof(s) - 1), (w)->o += sizeof(s) - 1)

/* Makes room for n more bytes at the end of the buffer. MF_OK or MF_EDATA. */
static int raw_room(struct raw *w, size_t n)
{
    struct mf_buf *b = w->b;
    if (w->o)
        b->len = (size_t)(w->o - b->data);
    w->room = n;
    if (mf_buf_reserve(b, n) != MF_OK)
        return MF_EDATA;
    w->o = b->data + b->len;
    return MF_OK;
}

/* Hands the bytes written so far to the buffer (before an mf_buf call). */
static void raw_sync(struct raw *w)
{
    w->b->len = (size_t)(w->o - w->b->data);
    w->b->data[w->b->len] = '\0';
    w->o = NULL;
}

static void raw_str(struct raw *w, const char *s)
{
    size_t n = strlen(s);
    memcpy(w->o, s, n);
    w->o += n;
}

static void raw_int(struct raw *w, int64_t v)
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
    memcpy(w->o, p, (size_t)(tmp + sizeof tmp - p));
    w->o += tmp + sizeof tmp - p;
}

/* A number (48 bytes of the room). MF_OK, or MF_EDATA as mf_buf_append_double. */
static int raw_double(struct raw *w, double v)
{
    int n = fmt_double(w->o, v);
    if (n >= 0) {
        w->o += n;
        return MF_OK;
    }
    raw_sync(w);
    int rc = mf_buf_append_double(w->b, v);
    return rc | raw_room(w, w->room); /* the whole room again: more than is left to write */
}

/* The JSON string s[0..n) (escaped through mf_buf), then room for `after` bytes. */
static int raw_json_str(struct raw *w, const char *s, size_t n, size_t after)
{
    raw_sync(w);
    int rc = mf_buf_append_json_str(w->b, s, n);
    return rc | raw_room(w, after);
}

/* Room "flags":[...],"reasons":[...] can take: every name twice, quoted, with commas. */
static size_t flags_room(void)
{
    static size_t room; /* computed once; the same value from any thread */
    if (!room) {
        size_t n = 32;
        for (int f = 0; f < WK_F_COUNT; f++)
            n += 2 * (strlen(wk_flags[f].name) + 3);
        room = n;
    }
    return room;
}

static void raw_flags(struct raw *w, uint32_t flags)
{
    RAW_LIT(w, ",\"flags\":[");
    int first = 1;
    for (int f = 0; f < WK_F_COUNT; f++) {
        if (!(flags & (1u << f)))
            continue;
        if (!first)
            *w->o++ = ',';
        first = 0;
        *w->o++ = '"';
        raw_str(w, wk_flags[f].name);
        *w->o++ = '"';
    }
    RAW_LIT(w, "],\"reasons\":[");
    first = 1;
    for (int f = 0; f < WK_F_COUNT; f++) {
        if (!(flags & (1u << f)) || !wk_flags[f].reject)
            continue;
        if (!first)
            *w->o++ = ',';
        first = 0;
        *w->o++ = '"';
        raw_str(w, wk_flags[f].name);
        *w->o++ = '"';
    }
    *w->o++ = ']';
}

int wk_emit_scored(struct mf_buf *b, const struct mf_reading *r, const struct wk_result *res,
                   struct wk_src src)
{
    struct raw w = {b, NULL, 0};
    bool rejected = false;
    for (int f = 0; f < WK_F_COUNT; f++)
        if ((res->flags & (1u << f)) && wk_flags[f].reject)
            rejected = true;

    /* Up to the unit: fixed text, a time and two numbers (48 each); then the rest. */
    const size_t upto_unit = 256, rest = 320 + flags_room();
    int rc = raw_room(&w, 16);
    if (rc != MF_OK)
        return MF_EDATA;
    RAW_LIT(&w, "{\"meter_id\":");
    rc |= raw_json_str(&w, r->meter_id, strlen(r->meter_id), upto_unit + rest);
    if (rc != MF_OK)
        return MF_EDATA;
    RAW_LIT(&w, ",\"ts\":\"");
    mf_time_format(r->ts_ms, w.o);
    w.o += MF_TIME_STRLEN - 1;
    RAW_LIT(&w, "\",\"value_kw\":");
    if (res->has_kw)
        rc |= raw_double(&w, res->value_kw);
    else
        RAW_LIT(&w, "null");
    RAW_LIT(&w, ",\"source_value\":");
    rc |= raw_double(&w, r->value);
    RAW_LIT(&w, ",\"source_unit\":");
    if (rc != MF_OK)
        return MF_EDATA;
    if (res->unit == MF_UNIT_OTHER) {
        rc |= raw_json_str(&w, r->unit_text, strlen(r->unit_text), rest);
        if (rc != MF_OK)
            return MF_EDATA;
    } else if (res->unit == MF_UNIT_NONE) {
        RAW_LIT(&w, "null");
    } else {
        *w.o++ = '"'; /* canonical unit names need no escaping */
        raw_str(&w, mf_unit_name(res->unit));
        *w.o++ = '"';
    }
    RAW_LIT(&w, ",\"interval_s\":");
    raw_int(&w, res->interval_s);
    RAW_LIT(&w, ",\"energy_kwh\":");
    if (res->has_kw)
        rc |= raw_double(&w, energy_rounded(res->energy_kwh));
    else
        RAW_LIT(&w, "null");
    RAW_LIT(&w, ",\"quality\":");
    raw_int(&w, res->quality);
    RAW_LIT(&w, ",\"tier\":\"");
    raw_str(&w, wk_tier(res->quality, rejected));
    *w.o++ = '"';
    raw_flags(&w, res->flags);
    RAW_LIT(&w, ",\"interpolated\":false");
    raw_sync(&w);
    if (rc != MF_OK)
        return MF_EDATA;
    if (r->object)
        rc |= put_extras(b, r->object);
    rc |= raw_room(&w, 96);
    if (rc != MF_OK)
        return MF_EDATA;
    RAW_LIT(&w, ",\"src\":{\"p\":");
    raw_int(&w, src.p);
    RAW_LIT(&w, ",\"o\":");
    raw_int(&w, src.o);
    RAW_LIT(&w, ",\"i\":");
    raw_int(&w, src.i);
    RAW_LIT(&w, "}}");
    raw_sync(&w);
    return MF_OK;
}

int wk_emit_interp(struct mf_buf *b, const struct mf_reading *r, const struct wk_result *res,
                   uint32_t k, struct wk_src src)
{
    double kw = wk_interp_kw(res, k);
    int rc = mf_buf_appends(b, "{\"meter_id\":");
    rc |= mf_buf_append_json_str(b, r->meter_id, strlen(r->meter_id));
    rc |= put_time(b, ",\"ts\":", wk_interp_ts(res, k));
    rc |= mf_buf_appends(b, ",\"value_kw\":");
    rc |= wk_emit_double(b, kw);
    /* Made here, in kW: its own source value, never a converted one. */
    rc |= mf_buf_appends(b, ",\"source_value\":");
    rc |= wk_emit_double(b, kw);
    rc |= mf_buf_appends(b, ",\"source_unit\":\"kW\",\"interval_s\":");
    rc |= mf_buf_append_int(b, res->interval_s);
    rc |= mf_buf_appends(b, ",\"energy_kwh\":");
    rc |= wk_emit_double(b, energy_rounded(kw * res->interval_s / 3600.0));
    rc |= mf_buf_appends(b, ",\"quality\":");
    rc |= mf_buf_append_int(b, res->interp_quality);
    rc |= mf_buf_appends(b, ",\"tier\":\"");
    rc |= mf_buf_appends(b, wk_tier(res->interp_quality, false));
    rc |= mf_buf_appendc(b, '"');
    rc |= put_flags(b, 1u << WK_F_INTERPOLATED);
    rc |= mf_buf_appends(b, ",\"interpolated\":true,");
    rc |= put_src(b, src);
    rc |= mf_buf_appendc(b, '}');
    return rc == MF_OK ? MF_OK : MF_EDATA;
}

int wk_emit_alert(struct mf_buf *b, const char *meter_id, const struct wk_alert *a,
                  struct wk_src src)
{
    const struct wk_alert_info *t = &wk_alert_types[a->type];
    int rc = mf_buf_appends(b, "{\"meter_id\":");
    rc |= mf_buf_append_json_str(b, meter_id, strlen(meter_id));
    rc |= mf_buf_appends(b, ",\"type\":\"");
    rc |= mf_buf_appends(b, t->type);
    rc |= mf_buf_appends(b, "\",\"severity\":\"");
    rc |= mf_buf_appends(b, t->severity);
    rc |= mf_buf_appends(b, a->cleared ? "\",\"state\":\"cleared\"" : "\",\"state\":\"raised\"");
    rc |= put_time(b, ",\"since\":", a->since);
    rc |= put_time(b, ",\"ts\":", a->ts);
    rc |= mf_buf_appends(b, ",\"detail\":{\"hours\":");
    rc |= wk_emit_double(b, round(a->hours * 1000) / 1000);
    switch ((enum wk_alert_type)a->type) {
    case WK_A_STUCK:
        rc |= mf_buf_appends(b, ",\"value_kw\":");
        rc |= wk_emit_double(b, a->value);
        break;
    case WK_A_OVERLOAD:
        rc |= mf_buf_appends(b, ",\"readings\":");
        rc |= wk_emit_double(b, a->value);
        rc |= mf_buf_appends(b, ",\"max_kw\":");
        rc |= wk_emit_double(b, a->limit);
        break;
    case WK_A_LOWVAR:
        rc |= mf_buf_appends(b, ",\"cv\":");
        rc |= wk_emit_double(b, a->value);
        rc |= mf_buf_appends(b, ",\"days\":");
        rc |= wk_emit_double(b, a->limit);
        break;
    case WK_A_MISSING_SHORT:
    case WK_A_MISSING_EXTENDED:
    case WK_A_ZERO:
    case WK_A_COUNT:
    default:
        break;
    }
    rc |= mf_buf_appends(b, "},");
    rc |= put_src(b, src);
    rc |= mf_buf_appendc(b, '}');
    return rc == MF_OK ? MF_OK : MF_EDATA;
}
