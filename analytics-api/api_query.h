/*
 * api_query: each endpoint's SQL and its JSON answer. Statements are
 * prepared (parameters only, never SQL built from input) and each is
 * served by an index (tests/scripts/test_api_explain.sh holds them to it):
 * a meter's rows by the rollup tables' primary key (meter_id,
 * window_start), a region's load from the small region_load_1h table
 * the aggregator keeps per hour, the fleet's from fleet_load_1h (031, one
 * row an hour, kept by triggers on it), never from every meter's rows.
 * The answer's TTL follows its kind (DESIGN §12): real-time, hourly, or
 * daily once every window in it is closed. Thread: any.
 */
#ifndef API_QUERY_H
#define API_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "api_cache.h"
#include "api_pool.h"
#include "api_route.h"

/* The statements, in the order api_pool_opts wants (the probe first). */
extern const struct api_stmt api_stmts[];
extern const size_t api_nstmts;

struct api_query_env {
    struct api_pool *pool;
    int ttl_realtime_s, ttl_hourly_s, ttl_daily_s;
    const void *cursor_key;
    size_t cursor_keylen;
};

/* The fill context of one request. */
struct api_query {
    const struct api_query_env *env;
    const struct api_req *req;
    int64_t now_ms;
};

/* An api_fill_fn: runs req's statements and writes the answer (200, 404, 500, 503). */
void api_query_fill(void *query, struct api_answer *out);

/* A JSON error body {"error":..., "parameter":...} (parameter NULL: left out). */
void api_error_body(struct api_answer *out, unsigned status, const char *msg, const char *param);

#endif
