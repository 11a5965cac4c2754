/*
 * mf_time: RFC 3339 parsing and formatting on int64 epoch milliseconds.
 *
 * The day arithmetic is the usual era-based conversion between a civil
 * date and a day count (400-year eras of 146097 days, years starting in
 * March so the leap day is the last day of the year).
 */
#include "mf_time.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mf_common.h"

int64_t mf_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);                       /* [0, 399] */
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
    return era * 146097 + (int64_t)doe - 719468;
}

void mf_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Reads exactly `width` digits at s[*pos]; -1 if any is not a digit. */
static int digits(const char *s, size_t n, size_t *pos, int width)
{
    int v = 0;
    if (*pos + (size_t)width > n)
        return -1;
    for (int i = 0; i < width; i++) {
        char c = s[*pos + (size_t)i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *pos += (size_t)width;
    return v;
}

static int expect(const char *s, size_t n, size_t *pos, char c)
{
    if (*pos < n && s[*pos] == c) {
        (*pos)++;
        return 1;
    }
    return 0;
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        snprintf(errbuf, errlen, __VA_ARGS__);                                                     \
        return MF_EDATA;                                                                           \
    } while (0)

int mf_time_parse_rfc3339(const char *s, size_t n, int64_t *ms, char *errbuf, size_t errlen)
{
    size_t p = 0;
    int year = digits(s, n, &p, 4);
    if (year < 0 || !expect(s, n, &p, '-'))
        FAIL("ts is not RFC 3339 (want YYYY-MM-DDTHH:MM:SSZ)");
    int mon = digits(s, n, &p, 2);
    if (mon < 0 || !expect(s, n, &p, '-'))
        FAIL("ts is not RFC 3339 (want YYYY-MM-DDTHH:MM:SSZ)");
    int day = digits(s, n, &p, 2);
    if (day < 0)
        FAIL("ts is not RFC 3339 (want YYYY-MM-DDTHH:MM:SSZ)");
    if (p >= n || (s[p] != 'T' && s[p] != 't' && s[p] != ' '))
        FAIL("ts has no time of day (want YYYY-MM-DDTHH:MM:SSZ)");
    p++;
    int hh = digits(s, n, &p, 2);
    int mm = hh >= 0 && expect(s, n, &p, ':') ? digits(s, n, &p, 2) : -1;
    int ss = mm >= 0 && expect(s, n, &p, ':') ? digits(s, n, &p, 2) : -1;
    if (ss < 0)
        FAIL("ts is not RFC 3339 (want YYYY-MM-DDTHH:MM:SSZ)");

    int frac_ms = 0;
    if (expect(s, n, &p, '.')) {
        size_t start = p;
        int scale = 100;
        while (p < n && s[p] >= '0' && s[p] <= '9') {
            frac_ms += (s[p] - '0') * scale; /* digits past ms are truncated */
            scale /= 10;
            p++;
        }
        if (p == start)
            FAIL("ts has an empty fraction of a second");
    }

    int offset_min = 0;
    if (p < n && (s[p] == 'Z' || s[p] == 'z')) {
        p++;
    } else if (p < n && (s[p] == '+' || s[p] == '-')) {
        int sign = s[p] == '-' ? -1 : 1;
        p++;
        int oh = digits(s, n, &p, 2);
        int om = oh >= 0 && expect(s, n, &p, ':') ? digits(s, n, &p, 2) : -1;
        if (om < 0)
            FAIL("ts has a bad offset (want Z or +HH:MM)");
        if (oh > 23 || om > 59)
            FAIL("ts offset out of range");
        offset_min = sign * (oh * 60 + om);
    } else {
        FAIL("ts has no offset (want Z or +HH:MM)");
    }
    if (p != n)
        FAIL("ts has trailing characters");

    if (mon < 1 || mon > 12)
        FAIL("ts month %02d out of range", mon);
    if (day < 1 || (unsigned)day > days_in_month(year, (unsigned)mon))
        FAIL("ts day %04d-%02d-%02d does not exist", year, mon, day);
    if (hh > 23 || mm > 59)
        FAIL("ts time of day out of range");
    if (ss > 59)
        FAIL("ts second %02d out of range (leap seconds are not supported)", ss);

    int64_t days = mf_days_from_civil(year, (unsigned)mon, (unsigned)day);
    int64_t t = ((days * 24 + hh) * 60 + mm - offset_min) * 60 + ss;
    t = t * 1000 + frac_ms;
    if (t < 0)
        FAIL("ts is before 1970-01-01");
    if (t > MF_TIME_MAX_MS)
        FAIL("ts is after 9999-12-31");
    *ms = t;
    return MF_OK;
}

int mf_time_parse_text(const char *s, size_t n, int64_t *ms, char *errbuf, size_t errlen)
{
    size_t i = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    if (n == 0 || i != n)
        return mf_time_parse_rfc3339(s, n, ms, errbuf, errlen);
    if (n > 15) /* MF_TIME_MAX_MS has 15 digits */
        FAIL("ts epoch milliseconds out of range");
    int64_t v = 0;
    for (i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    if (v > MF_TIME_MAX_MS)
        FAIL("ts epoch milliseconds out of range");
    *ms = v;
    return MF_OK;
}

int mf_time_from_epoch_ms(double v, int64_t *ms, char *errbuf, size_t errlen)
{
    if (!isfinite(v) || v != floor(v))
        FAIL("ts epoch milliseconds must be a whole number");
    if (v < 0)
        FAIL("ts is before 1970-01-01");
    if (v > (double)MF_TIME_MAX_MS)
        FAIL("ts epoch milliseconds out of range");
    *ms = (int64_t)v;
    return MF_OK;
}

void mf_time_format(int64_t ms, char *out)
{
    int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
    int64_t rem = ms - days * 86400000;
    int64_t y;
    unsigned m, d;

    mf_civil_from_days(days, &y, &m, &d);
    unsigned msec = (unsigned)(rem % 1000);
    unsigned sec = (unsigned)(rem / 1000);
    unsigned fields[] = {(unsigned)y, m, d, sec / 3600, sec / 60 % 60, sec % 60, msec};
    static const char layout[] = "YYYY-MM-DDThh:mm:ss.fffZ";
    static const unsigned widths[] = {4, 2, 2, 2, 2, 2, 3};

    /* Written by hand: this runs for every output record. */
    char *o = out;
    for (size_t f = 0; f < 7; f++) {
        for (unsigned w = widths[f], v = fields[f]; w > 0; w--, v /= 10)
            o[w - 1] = (char)('0' + v % 10);
        o += widths[f];
        *o = layout[o - out];
        o++;
    }
    out[MF_TIME_STRLEN - 1] = '\0';
}

int64_t mf_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mf_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mf_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct timespec mf_clock_after(clockid_t clock, int64_t ms)
{
    struct timespec t;
    clock_gettime(clock, &t);
    t.tv_sec += (time_t)(ms / 1000);
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

/* Reads 1..maxd digits of s (up to end). */
static int format_digits(const char **s, const char *end, int maxd, long *v)
{
    int n = 0;
    *v = 0;
    while (n < maxd && *s < end && **s >= '0' && **s <= '9') {
        *v = *v * 10 + (**s - '0');
        (*s)++, n++;
    }
    return n > 0 ? MF_OK : MF_EDATA;
}

int mf_time_parse_format(const char *s, size_t n, const char *fmt, int64_t *ms)
{
    long y = 1970, mo = 1, d = 1, h = 0, mi = 0, sec = 0;
    const char *p = s, *end = s + n;
    for (const char *f = fmt; *f; f++) {
        if (*f != '%') {
            if (p >= end || *p++ != *f)
                return MF_EDATA;
            continue;
        }
        long *field;
        int width = 2;
        switch (*++f) {
        case 'Y':
            field = &y;
            width = 4;
            break;
        case 'm':
            field = &mo;
            break;
        case 'd':
            field = &d;
            break;
        case 'H':
            field = &h;
            break;
        case 'M':
            field = &mi;
            break;
        case 'S':
            field = &sec;
            break;
        case '%':
            if (p >= end || *p++ != '%')
                return MF_EDATA;
            continue;
        default:
            return MF_EDATA;
        }
        if (format_digits(&p, end, width, field) != MF_OK)
            return MF_EDATA;
    }
    if (p != end || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
        sec > 59)
        return MF_EDATA;
    *ms = ((mf_days_from_civil(y, (unsigned)mo, (unsigned)d) * 24 + h) * 60 + mi) * 60000LL +
          sec * 1000LL;
    return MF_OK;
}

bool mf_tz_known(const char *name)
{
    if (strcmp(name, "UTC") == 0)
        return true;
    size_t n = strlen(name);
    if (n == 0 || n > 128 || name[0] == '/' || name[n - 1] == '/')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '+' || c == '-' || (c == '/' && name[i + 1] != '/');
        if (!ok)
            return false;
    }
    const char *dir = getenv("TZDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    char magic[4];
    bool tzif = fread(magic, 1, sizeof magic, f) == sizeof magic && memcmp(magic, "TZif", 4) == 0;
    fclose(f);
    return tzif;
}
