/*
 * mf_reading: the input reading (DESIGN §3.1) and its JSON codec.
 *
 * Structural checks only, the ones that make a record unusable: meter_id
 * 1..64 chars of [A-Za-z0-9._:-], ts as RFC 3339 (any offset) or whole
 * epoch ms, value a finite number, unit a short string, interval_s a whole
 * number of seconds in 1..86400, no duplicate fields. What a reading *means*
 * (an unknown unit, a negative value) is the worker's business: such a
 * reading parses fine here and is quarantined there.
 * Thread: any (no shared state).
 */
#ifndef MF_READING_H
#define MF_READING_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "mf_buf.h"

#define MF_METER_ID_MAX       64
#define MF_UNIT_TEXT_MAX      16
#define MF_INTERVAL_MAX_S     86400
#define MF_READING_MAX_FIELDS 64 /* bounds the duplicate-field check */

enum mf_unit {
    MF_UNIT_NONE = 0, /* not given: the worker infers it */
    MF_UNIT_W,
    MF_UNIT_KW,
    MF_UNIT_MW,
    MF_UNIT_WH,
    MF_UNIT_KWH,
    MF_UNIT_MWH,
    MF_UNIT_OTHER, /* given but unknown: the worker rejects unit_unknown */
};

struct mf_reading {
    char meter_id[MF_METER_ID_MAX + 1];
    int64_t ts_ms;
    double value;
    enum mf_unit unit;
    char unit_text[MF_UNIT_TEXT_MAX + 1]; /* as given; "" when absent */
    int32_t interval_s;                   /* 0 when absent */
    const cJSON *object; /* source object, for extra fields; NULL (CSV). Borrowed. */
};

/* "kW", "KWH", "watts", ... to a unit; MF_UNIT_OTHER if unknown, NONE if "". */
enum mf_unit mf_unit_parse(const char *s, size_t n);
/* Canonical spelling ("kWh"); "" for NONE and OTHER. */
const char *mf_unit_name(enum mf_unit u);

/*
 * The optional `unit` and `interval_s` fields of §3.1 (f may be NULL:
 * absent), which the grid feed of §11.1 shares: unit_text gets the text as
 * given (MF_UNIT_TEXT_MAX + 1 bytes) and *unit its meaning; *interval_s a
 * whole number of seconds in 1..86400. MF_OK, or MF_EDATA with errbuf.
 */
int mf_unit_from_json(const cJSON *f, char *unit_text, enum mf_unit *unit, char *errbuf,
                      size_t errlen);
int mf_interval_from_json(const cJSON *f, int32_t *interval_s, char *errbuf, size_t errlen);
/* Appends ,"unit":... and ,"interval_s":... when given ("" and 0: absent). MF_OK or MF_EDATA. */
int mf_unit_interval_to_json(struct mf_buf *out, const char *unit_text, int32_t interval_s);

/* Checks a meter ID (n bytes). MF_OK or MF_EDATA with the reason. */
int mf_meter_id_check(const char *s, size_t n, char *errbuf, size_t errlen);

/*
 * Reads a reading from a parsed JSON value (must be an object). MF_OK, or
 * MF_EDATA with one line in errbuf ("missing field 'ts'"). r->object points
 * into obj, which must outlive r.
 */
int mf_reading_from_json(const cJSON *obj, struct mf_reading *r, char *errbuf, size_t errlen);

/*
 * Parses one record's bytes (a Kafka value): valid UTF-8, one JSON object,
 * then mf_reading_from_json. On MF_OK *root owns the tree (cJSON_Delete it);
 * on MF_EDATA *root is NULL and errbuf says why.
 */
int mf_reading_parse(const char *data, size_t len, cJSON **root, struct mf_reading *r, char *errbuf,
                     size_t errlen);

/*
 * Appends the reading as one JSON object: ts normalized to UTC with ms,
 * unit as given, and every extra field of r->object carried through.
 */
int mf_reading_to_json(const struct mf_reading *r, struct mf_buf *out);

/* 1 if s[0..n) is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
int mf_utf8_valid(const char *s, size_t n);

#endif
