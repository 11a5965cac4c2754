/*
 * api_params: the analytics API's request parameters (DESIGN §12), pure
 * functions over strings so unit tests and the fuzzer reach every rule.
 *
 * Times are RFC 3339 with any offset or epoch milliseconds (DESIGN §3);
 * ranges are half-open [from, to). A parameter that does not parse makes a
 * 400 naming it: each parser writes the parameter's name and the reason
 * into struct api_bad. Cursors are opaque to clients and tamper-evident: a
 * position plus an HMAC-SHA256 (truncated) over the position and the
 * request they continue, so a cursor edited by hand, or taken from another
 * query, is refused rather than answered from a place nobody asked for.
 * Thread: any.
 */
#ifndef API_PARAMS_H
#define API_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#define API_LIMIT_DEFAULT 1000
#define API_LIMIT_MAX     10000
#define API_ID_MAX        64
#define API_CURSOR_MAX    64 /* base64url of version + position + MAC, with room */

/* Why a request is refused: the parameter and the reason (a 400's body). */
struct api_bad {
    char param[32];
    char why[192];
};

enum api_width { API_W_1M, API_W_1H, API_W_1D };

/* 60 000, 3 600 000 or 86 400 000. */
int64_t api_width_ms(enum api_width w);
const char *api_width_name(enum api_width w);

/*
 * Parses `width` (NULL: def) among the widths in `allowed` (a bit per
 * enum api_width). MF_OK, or MF_EDATA with bad filled.
 */
int api_parse_width(const char *s, unsigned allowed, enum api_width def, enum api_width *w,
                    struct api_bad *bad);

/*
 * A time parameter: RFC 3339 or epoch ms. A space where the offset's '+'
 * was is read as '+', since a '+' left unencoded in a query string arrives
 * as a space. MF_OK, or MF_EDATA with bad filled (param named `name`).
 */
int api_parse_time(const char *name, const char *s, int64_t *ms, struct api_bad *bad);

/*
 * The range [from, to) from the optional `from`/`to` strings: `to`
 * defaults to the end of the window holding now_ms, `from` to `to` minus
 * def_span_ms. Refuses from >= to and a span over max_span_ms (naming
 * `from`). Both are aligned down to the width so equal questions share a
 * cache entry.
 */
int api_parse_range(const char *from_s, const char *to_s, int64_t now_ms, int64_t width_ms,
                    int64_t def_span_ms, int64_t max_span_ms, int64_t *from, int64_t *to,
                    struct api_bad *bad);

/* `limit`: 1..API_LIMIT_MAX, default API_LIMIT_DEFAULT. */
int api_parse_limit(const char *s, int *limit, struct api_bad *bad);

/* A meter, vehicle or feeder id of DESIGN §3.1: 1..64 of [A-Za-z0-9._:-]. */
int api_check_id(const char *name, const char *s, struct api_bad *bad);

/* A region name (the registry's `region`): 1..64 of [A-Za-z0-9._: -]. */
int api_check_region(const char *s, struct api_bad *bad);

/*
 * Cursors. `scope` names the query the cursor continues (route and every
 * parameter but the cursor, as the caller writes its cache key); `pos` the
 * window_start to resume at. The key is the HMAC secret (any length, may
 * be empty: then the MAC is a checksum that still catches edits).
 * api_cursor_encode writes a NUL-terminated string of at most
 * API_CURSOR_MAX bytes into out; api_cursor_decode checks it against the
 * same scope and key: MF_OK with *pos, or MF_EDATA naming `cursor`.
 */
void api_cursor_encode(const void *key, size_t keylen, const char *scope, int64_t pos,
                       char out[API_CURSOR_MAX + 1]);
int api_cursor_decode(const void *key, size_t keylen, const char *scope, const char *s,
                      int64_t *pos, struct api_bad *bad);

#endif
