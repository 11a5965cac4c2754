/*
 * mf_json: the JSON text meterflow writes, in one place: numbers, strings
 * and a reading's extra fields carried through. Every program's output
 * goes through it (the gateway's readings, the worker's scored readings
 * and alerts, the aggregator's rollups), so the same value is the same
 * bytes everywhere. Writing only: parsing is cJSON's.
 *
 * Numbers. A finite double is written as the shortest decimal that reads
 * back (strtod) to the same double: 0.1, not 0.10000000000000001; 1250,
 * not 1250.0; -0 as 0. A value below 1e9 in magnitude that is k / 10^d
 * for some d <= 9 (what meters send, and the worker's energy rounded to
 * 1e-9 kWh) is plain decimal: 0.000016667, not 1.6667e-05. Other values
 * get what the first of "%.15g", "%.16g", "%.17g" that reads back gives
 * (plain decimal within 1e-4..1e9, else an exponent: 1e-12,
 * 1.6666666666666667e-05, 1.2345678901234567e+20), except that whole
 * values below 2^53 are always integers. Integer arithmetic does all but
 * the last kind, at about a tenth of snprintf + strtod: the stream-worker
 * writes four to six numbers a record and is measured for it.
 *
 * NaN and infinities are written as null. JSON has no such numbers, so the
 * choice is null or refusing the whole record; DESIGN §3 writes null where
 * an output has no number (value_kw and energy_kwh without a kW value,
 * stddev_kw of a single reading), and a refused record is worse than a
 * null field: the worker would retry a reading and then dead-letter it as
 * processing_failed for one field, where DESIGN routes records by their
 * content. No input brings one (DESIGN §3.1: `value` is finite; the
 * aggregator bounds what it reads), so null only appears where a value
 * overflowed (1e308 MW in kW), which says "no usable number" as DESIGN
 * means it. cJSON, which prints the extra fields, writes null too.
 *
 * Thread: any (no shared state).
 */
#ifndef MF_JSON_H
#define MF_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "mf_buf.h"

/* Room for any number mf_json_fmt_double or mf_json_fmt_int writes (no NUL). */
#define MF_JSON_NUM_MAX 32

/*
 * Writes v as a JSON number (null if not finite) into out, which has at
 * least MF_JSON_NUM_MAX bytes, without a NUL. Returns the length.
 */
size_t mf_json_fmt_double(char *out, double v);

/* Writes v in decimal into out (MF_JSON_NUM_MAX bytes), no NUL; returns the length. */
size_t mf_json_fmt_int(char *out, int64_t v);

/* Appends v as mf_json_fmt_double writes it. MF_OK or MF_EDATA (the buffer's maximum). */
int mf_json_double(struct mf_buf *b, double v);

/* Appends v in decimal. MF_OK or MF_EDATA (the buffer's maximum). */
int mf_json_int(struct mf_buf *b, int64_t v);

/*
 * Appends s (n bytes, UTF-8 already checked by the caller) as a quoted JSON
 * string: " and \ escaped, control characters as \n \r \t or \u00XX,
 * everything else as is. MF_OK or MF_EDATA (the buffer's maximum).
 */
int mf_json_str(struct mf_buf *b, const char *s, size_t n);

/*
 * Appends ,"name":value for every member of the JSON object obj whose name
 * is not one of skip[0..nskip), in the object's order, each value as cJSON
 * prints it (unformatted). obj may be NULL (nothing to write). MF_OK, or
 * MF_EDATA (the buffer's maximum, or cJSON out of memory).
 */
int mf_json_extras(struct mf_buf *b, const cJSON *obj, const char *const *skip, size_t nskip);

/*
 * Parses s (n bytes) as exactly one JSON value, white space around it
 * allowed; NULL if it is not, or if anything else follows it (cJSON alone
 * stops after the first value and ignores the rest: bytes kept verbatim as
 * JSON, e.g. for jsonb, must be the value and nothing more).
 */
cJSON *mf_json_parse_whole(const char *s, size_t n);

#endif
