/*
 * api_route: a request's path and query parameters into a struct api_req
 * (which endpoint, which id, which range), or the reason it is refused.
 * The query parameters come through a getter so the same code serves
 * libmicrohttpd, the unit tests and the fuzzer. Every request gets a
 * normalized cache key: equal questions share one cache entry whatever
 * order or spelling their parameters had. Thread: any.
 */
#ifndef API_ROUTE_H
#define API_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "api_params.h"

enum api_route {
    API_R_STATUS,     /* GET /v1/meters/{id}/status */
    API_R_ROLLUPS,    /* GET /v1/meters/{id}/rollups */
    API_R_FLEET_LOAD, /* GET /v1/fleet/load */
    API_R_QUALITY,    /* GET /v1/fleet/quality */
    API_R_PEAKS,      /* GET /v1/fleet/peaks */
    API_R_ALERTS,     /* GET /v1/meters/{id}/alerts */
    API_R_FEEDER,     /* GET /v1/feeders/{id}/balance */
    API_R_WEATHER,    /* GET /v1/weather/{region} */
    API_R_VEHICLE,    /* GET /v1/analytics/performance/{vehicleId} */
    API_R_COUNT
};

/* The metrics label of a route ("status", "rollups", "fleet_load", ...). */
const char *api_route_name(enum api_route r);

/* 1 when a route's answer is about one meter or vehicle (req.id): a token's
 * glob is matched against it; other answers span many and need "*". */
int api_route_per_key(enum api_route r);

#define API_KEY_MAX 256

struct api_req {
    enum api_route route;
    char id[API_ID_MAX + 1];     /* meter, feeder or vehicle id */
    char region[API_ID_MAX + 1]; /* fleet: "" = every region; weather: the region */
    char state[8];               /* alerts: "raised", "cleared" or "" (both) */
    enum api_width width;
    int64_t from, to; /* [from, to), ms */
    int limit;
    int64_t after;              /* cursor position (alerts: the id to resume at), or -1 */
    char scope[API_KEY_MAX];    /* the query without its cursor: what a cursor is bound to */
    char key[API_KEY_MAX + 32]; /* the cache key: scope and cursor position */
};

/* Looks up a query parameter; NULL when absent. */
typedef const char *api_arg_fn(void *ctx, const char *name);

enum api_parse { API_PARSE_OK, API_PARSE_BAD, API_PARSE_NOT_FOUND };

/*
 * Parses path (decoded, without the query string) and the parameters.
 * API_PARSE_OK with req filled; API_PARSE_BAD with bad naming the
 * parameter (400); API_PARSE_NOT_FOUND for a path that is no endpoint.
 * now_ms is the wall clock (default ranges end at the current window).
 */
enum api_parse api_route_parse(const char *path, api_arg_fn *arg, void *argctx, int64_t now_ms,
                               const void *cursor_key, size_t cursor_keylen, struct api_req *req,
                               struct api_bad *bad);

#endif
