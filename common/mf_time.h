/*
 * mf_time: times as int64 milliseconds since the Unix epoch, UTC.
 *
 * Parses RFC 3339 with any offset ("2024-03-15T16:00:00+02:00", fractions
 * of any length, truncated to ms) and digit strings of epoch milliseconds;
 * formats the one output form, "2024-03-15T14:00:00.000Z". The calendar is
 * proleptic Gregorian arithmetic, so no time zone database or locale is
 * involved and DST cannot affect anything. Accepted range: 1970-01-01 to
 * 9999-12-31 (negative epochs are refused: no meter reads before 1970).
 * Thread: any.
 */
#ifndef MF_TIME_H
#define MF_TIME_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define MF_TIME_STRLEN 25              /* "2024-03-15T14:00:00.000Z" + NUL */
#define MF_TIME_MAX_MS 253402300799999 /* 9999-12-31T23:59:59.999Z */

/*
 * Parses s (n bytes, no NUL needed) as RFC 3339. A space or lower-case t/z
 * are accepted as RFC 3339 allows; a leap second (:60) is refused, as POSIX
 * time has none. MF_OK and *ms, or MF_EDATA with the reason in errbuf.
 */
int mf_time_parse_rfc3339(const char *s, size_t n, int64_t *ms, char *errbuf, size_t errlen);

/*
 * Parses s as RFC 3339 or, when it is all digits, epoch milliseconds
 * (the form CSV bodies carry). Same returns as above.
 */
int mf_time_parse_text(const char *s, size_t n, int64_t *ms, char *errbuf, size_t errlen);

/*
 * Parses s (n bytes) by a strptime-like format of %Y %m %d %H %M %S and
 * literal characters, as UTC ("%d/%m/%Y %H:%M:%S" for "16/12/2006
 * 17:24:00"); fields may have fewer digits than their width ("6/1/2007").
 * MF_OK and *ms, or MF_EDATA (a mismatch, or a field out of range).
 */
int mf_time_parse_format(const char *s, size_t n, const char *fmt, int64_t *ms);

/* Checks that an epoch-ms number (as JSON gives it) is a whole ms in range. */
int mf_time_from_epoch_ms(double v, int64_t *ms, char *errbuf, size_t errlen);

/* Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" into out (MF_TIME_STRLEN bytes). */
void mf_time_format(int64_t ms, char *out);

/* Days since 1970-01-01 of a civil date, and back (no range checks). */
int64_t mf_days_from_civil(int64_t y, unsigned m, unsigned d);
void mf_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

/*
 * Whether name is a zone of the tz database (TZDIR, else
 * /usr/share/zoneinfo): a relative path of [A-Za-z0-9_+-] parts naming a
 * TZif file. "UTC" always is. Where a zone name is configured, an unknown
 * one must be refused, never silently become UTC (glibc's behaviour).
 */
bool mf_tz_known(const char *name);

/* Wall clock and monotonic clock in ms; the monotonic clock in us, for timings. */
int64_t mf_now_ms(void);
int64_t mf_mono_ms(void);
int64_t mf_mono_us(void);

/* clock's time ms from now, for pthread_cond_timedwait (ms >= 0). */
struct timespec mf_clock_after(clockid_t clock, int64_t ms);

#endif
