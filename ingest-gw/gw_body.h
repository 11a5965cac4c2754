/*
 * gw_body: an HTTP request body (JSON, NDJSON or CSV) to readings.
 *
 * Each item is handed to a callback with its index, either as a reading
 * or with the reason it is structurally invalid, so the gateway can accept
 * the good ones and list the bad ones (partial acceptance). A body that is
 * wrong as a whole (empty, not UTF-8, not JSON, a bad CSV header, more
 * items than allowed) fails before any callback. Thread: any.
 *
 * Formats:
 *   JSON    one reading object, or an array of them
 *   NDJSON  one reading object a line; blank lines are skipped
 *   CSV     a header naming the columns (meter_id, ts, value and optionally
 *           unit and interval_s, in any order), then one reading a row
 */
#ifndef GW_BODY_H
#define GW_BODY_H

#include <stddef.h>

#include "mf_reading.h"

enum gw_body_format { GW_BODY_JSON, GW_BODY_NDJSON, GW_BODY_CSV };

/* An item: r is the reading (NULL when invalid), err the reason (NULL when valid). */
typedef void gw_body_item_fn(void *opaque, size_t index, const struct mf_reading *r,
                             const char *err);

enum gw_body_status {
    GW_BODY_OK = 0,
    GW_BODY_BAD,      /* 400: errbuf says why */
    GW_BODY_TOO_MANY, /* 413: more than max_items */
};

/* "application/json", "application/x-ndjson", "text/csv" (parameters ignored) to a format; -1 if
 * none. */
int gw_body_format_of(const char *content_type);

/* Parses the body, calling item_fn for every item in order. */
enum gw_body_status gw_body_parse(enum gw_body_format fmt, const char *body, size_t len,
                                  size_t max_items, gw_body_item_fn *item_fn, void *opaque,
                                  char *errbuf, size_t errlen);

/*
 * The other sources' and /v1/telemetry's form: each item handed over as a
 * JSON object (obj, valid for the call only; NULL with err when the item is
 * not even an object), for the caller to route by its fields. A CSV row
 * becomes an object of its non-empty columns named by the header: columns
 * named like ids or `unit` are strings, others numbers when they read as
 * one (an epoch-ms ts too), strings otherwise. So one CSV body may carry
 * several kinds, each row filling its own kind's columns.
 */
typedef void gw_body_object_fn(void *opaque, size_t index, const cJSON *obj, const char *err);
enum gw_body_status gw_body_parse_objects(enum gw_body_format fmt, const char *body, size_t len,
                                          size_t max_items, gw_body_object_fn *obj_fn, void *opaque,
                                          char *errbuf, size_t errlen);

#endif
