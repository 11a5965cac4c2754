/* api_route: paths and parameters of the analytics API's endpoints. */
#include "api_route.h"

#include <stdio.h>
#include <string.h>

#include "mf_common.h"

#define DAY_MS ((int64_t)86400000)

const char *api_route_name(enum api_route r)
{
    switch (r) {
    case API_R_STATUS:
        return "status";
    case API_R_ROLLUPS:
        return "rollups";
    case API_R_FLEET_LOAD:
        return "fleet_load";
    case API_R_QUALITY:
        return "fleet_quality";
    case API_R_PEAKS:
        return "fleet_peaks";
    case API_R_ALERTS:
        return "alerts";
    case API_R_FEEDER:
        return "feeder_balance";
    case API_R_WEATHER:
        return "weather";
    case API_R_VEHICLE:
        return "vehicle_performance";
    case API_R_COUNT:
        break;
    }
    return "other";
}

int api_route_per_key(enum api_route r)
{
    return r == API_R_STATUS || r == API_R_ROLLUPS || r == API_R_ALERTS || r == API_R_VEHICLE;
}

/* Range rules per width: the default span and the most one request may ask. */
struct span {
    int64_t def, max;
};

static struct span rollup_span(enum api_width w)
{
    /* 1m: an hour by default, a week at most (10,080 rows); 1h: a day, 92
     * days; 1d (billing days): 30 days, a year and a day. */
    return w == API_W_1M   ? (struct span){3600 * 1000, 7 * DAY_MS}
           : w == API_W_1H ? (struct span){DAY_MS, 92 * DAY_MS}
                           : (struct span){30 * DAY_MS, 366 * DAY_MS};
}

static struct span fleet_span(enum api_width w)
{
    /* 1h: a week by default, 92 days at most; 1d: 30 days, a year and a day. */
    return w == API_W_1H ? (struct span){7 * DAY_MS, 92 * DAY_MS}
                         : (struct span){30 * DAY_MS, 366 * DAY_MS};
}

/* "/v1/meters/<id>/<what>": copies id, points *what at the rest. */
static int split_meter_path(const char *path, char *id, size_t idlen, const char **what)
{
    static const char prefix[] = "/v1/meters/";
    if (strncmp(path, prefix, sizeof prefix - 1) != 0)
        return 0;
    const char *s = path + sizeof prefix - 1, *slash = strchr(s, '/');
    if (!slash)
        return 0;
    size_t n = (size_t)(slash - s);
    if (n >= idlen)
        n = idlen - 1; /* too long: api_check_id refuses what is left */
    memcpy(id, s, n);
    id[n] = '\0';
    *what = slash + 1;
    /* An id longer than the buffer must still be refused as too long. */
    return (size_t)(slash - s) < idlen ? 1 : 2;
}

/*
 * "<prefix><key><suffix>" (suffix "" for a key that ends the path): copies
 * the key into key (at most keylen - 1 bytes) and returns 1, 2 when it was
 * longer (refused as such), 0 when path is not of that shape.
 */
static int split_key(const char *path, const char *prefix, const char *suffix, char *key,
                     size_t keylen)
{
    size_t pl = strlen(prefix), sl = strlen(suffix), n = strlen(path);
    if (n < pl + sl || strncmp(path, prefix, pl) != 0 || strcmp(path + n - sl, suffix) != 0)
        return 0;
    size_t k = n - pl - sl;
    if (memchr(path + pl, '/', k))
        return 0;
    size_t c = k < keylen ? k : keylen - 1;
    memcpy(key, path + pl, c);
    key[c] = '\0';
    return k < keylen ? 1 : 2;
}

static enum api_parse bad_param(struct api_bad *bad, const char *param, const char *why)
{
    snprintf(bad->param, sizeof bad->param, "%s", param);
    snprintf(bad->why, sizeof bad->why, "%s", why);
    return API_PARSE_BAD;
}

static enum api_parse finish(struct api_req *q, api_arg_fn *arg, void *argctx, const void *ck,
                             size_t cklen, struct api_bad *bad)
{
    const char *cur = arg(argctx, "cursor");
    q->after = -1;
    if (cur) {
        if (api_cursor_decode(ck, cklen, q->scope, cur, &q->after, bad) != MF_OK)
            return API_PARSE_BAD;
        /* An alerts cursor is an alert's id (several may share a time). */
        if (q->route != API_R_ALERTS && (q->after < q->from || q->after >= q->to))
            return bad_param(bad, "cursor", "cursor lies outside the range asked for");
    }
    snprintf(q->key, sizeof q->key, "%s|%lld", q->scope, (long long)q->after);
    return API_PARSE_OK;
}

enum api_parse api_route_parse(const char *path, api_arg_fn *arg, void *argctx, int64_t now_ms,
                               const void *cursor_key, size_t cursor_keylen, struct api_req *q,
                               struct api_bad *bad)
{
    const char *what = NULL;
    char id[API_ID_MAX + 2];
    memset(q, 0, sizeof *q);
    q->after = -1;

    int m = split_meter_path(path, id, sizeof id, &what);
    if (m) {
        if (strcmp(what, "status") == 0)
            q->route = API_R_STATUS;
        else if (strcmp(what, "rollups") == 0)
            q->route = API_R_ROLLUPS;
        else if (strcmp(what, "alerts") == 0)
            q->route = API_R_ALERTS;
        else
            return API_PARSE_NOT_FOUND;
        if (m == 2 || api_check_id("id", id, bad) != MF_OK)
            return m == 2 ? bad_param(bad, "id", "id must be 1 to 64 characters") : API_PARSE_BAD;
        memcpy(q->id, id, strlen(id) + 1); /* api_check_id: at most API_ID_MAX */
        if (q->route == API_R_STATUS) {
            snprintf(q->key, sizeof q->key, "status|%s", q->id);
            return API_PARSE_OK;
        }
        if (q->route == API_R_ALERTS) {
            /* Alerts whose `since` is in [from, to): the last 30 days by
             * default, a year and a day at most; to the minute. */
            const char *st = arg(argctx, "state");
            if (st && strcmp(st, "raised") != 0 && strcmp(st, "cleared") != 0)
                return bad_param(bad, "state", "state must be raised or cleared");
            snprintf(q->state, sizeof q->state, "%s", st ? st : "");
            q->width = API_W_1M;
            if (api_parse_range(arg(argctx, "from"), arg(argctx, "to"), now_ms,
                                api_width_ms(API_W_1M), 30 * DAY_MS, 366 * DAY_MS, &q->from, &q->to,
                                bad) != MF_OK ||
                api_parse_limit(arg(argctx, "limit"), &q->limit, bad) != MF_OK)
                return API_PARSE_BAD;
            snprintf(q->scope, sizeof q->scope, "alerts|%s|%s|%lld|%lld|%d", q->id, q->state,
                     (long long)q->from, (long long)q->to, q->limit);
            return finish(q, arg, argctx, cursor_key, cursor_keylen, bad);
        }
        if (api_parse_width(arg(argctx, "width"), 1u << API_W_1M | 1u << API_W_1H | 1u << API_W_1D,
                            API_W_1H, &q->width, bad) != MF_OK)
            return API_PARSE_BAD;
        struct span sp = rollup_span(q->width);
        /* Billing days begin at the meter's local midnight, which may be on
         * a half hour of UTC: the range is aligned to hours, and a day is
         * in it when it begins in it. */
        int64_t align = api_width_ms(q->width == API_W_1D ? API_W_1H : q->width);
        if (api_parse_range(arg(argctx, "from"), arg(argctx, "to"), now_ms, align, sp.def, sp.max,
                            &q->from, &q->to, bad) != MF_OK ||
            api_parse_limit(arg(argctx, "limit"), &q->limit, bad) != MF_OK)
            return API_PARSE_BAD;
        snprintf(q->scope, sizeof q->scope, "rollups|%s|%s|%lld|%lld|%d", q->id,
                 api_width_name(q->width), (long long)q->from, (long long)q->to, q->limit);
        return finish(q, arg, argctx, cursor_key, cursor_keylen, bad);
    }
    /* Hourly answers of one feeder or region; one vehicle's last 24 hours. */
    static const struct {
        enum api_route route;
        const char *prefix, *suffix, *param;
    } keyed[] = {
        {API_R_FEEDER, "/v1/feeders/", "/balance", "id"},
        {API_R_WEATHER, "/v1/weather/", "", "region"},
        {API_R_VEHICLE, "/v1/analytics/performance/", "", "vehicleId"},
    };
    for (size_t i = 0; i < MF_ARRAY_LEN(keyed); i++) {
        int k = split_key(path, keyed[i].prefix, keyed[i].suffix, id, sizeof id);
        if (!k)
            continue;
        q->route = keyed[i].route;
        q->width = API_W_1H;
        int bad_key = k == 2 ||
                      (q->route == API_R_WEATHER ? api_check_region(id, bad)
                                                 : api_check_id(keyed[i].param, id, bad)) != MF_OK;
        if (bad_key) {
            if (k == 2 || q->route == API_R_WEATHER)
                snprintf(bad->param, sizeof bad->param, "%s", keyed[i].param);
            if (k == 2)
                snprintf(bad->why, sizeof bad->why, "%s must be 1 to 64 characters",
                         keyed[i].param);
            return API_PARSE_BAD;
        }
        memcpy(q->route == API_R_WEATHER ? q->region : q->id, id, strlen(id) + 1);
        if (q->route == API_R_VEHICLE) {
            /* The 24 hours before `to` (default: up to the end of this hour). */
            if (api_parse_range(NULL, arg(argctx, "to"), now_ms, api_width_ms(API_W_1H),
                                24 * 3600 * 1000, 24 * 3600 * 1000, &q->from, &q->to, bad) != MF_OK)
                return API_PARSE_BAD;
            snprintf(q->key, sizeof q->key, "vehicle|%s|%lld", q->id, (long long)q->to);
            return API_PARSE_OK;
        }
        if (api_parse_range(arg(argctx, "from"), arg(argctx, "to"), now_ms, api_width_ms(API_W_1H),
                            DAY_MS, 92 * DAY_MS, &q->from, &q->to, bad) != MF_OK ||
            api_parse_limit(arg(argctx, "limit"), &q->limit, bad) != MF_OK)
            return API_PARSE_BAD;
        snprintf(q->scope, sizeof q->scope, "%s|%s|%lld|%lld|%d", api_route_name(q->route),
                 q->route == API_R_WEATHER ? q->region : q->id, (long long)q->from,
                 (long long)q->to, q->limit);
        return finish(q, arg, argctx, cursor_key, cursor_keylen, bad);
    }
    /*
     * The fleet's (region '*') or a region's peak hours of the local days
     * (FLEET_TZ) that [from, to) touches: at most 3 a day over 366 days, a
     * list bounded by its range (no limit, no cursor).
     */
    if (strcmp(path, "/v1/fleet/peaks") == 0) {
        q->route = API_R_PEAKS;
        q->width = API_W_1H;
        const char *region = arg(argctx, "region");
        if (region && api_check_region(region, bad) != MF_OK)
            return API_PARSE_BAD;
        snprintf(q->region, sizeof q->region, "%s", region ? region : "*");
        if (api_parse_range(arg(argctx, "from"), arg(argctx, "to"), now_ms, api_width_ms(API_W_1H),
                            7 * DAY_MS, 366 * DAY_MS, &q->from, &q->to, bad) != MF_OK)
            return API_PARSE_BAD;
        snprintf(q->key, sizeof q->key, "fleet_peaks|%s|%lld|%lld", q->region, (long long)q->from,
                 (long long)q->to);
        return API_PARSE_OK;
    }
    /* The fleet's or a region's hours: load (1h or 1d), quality (1h). */
    int load = strcmp(path, "/v1/fleet/load") == 0;
    if (load || strcmp(path, "/v1/fleet/quality") == 0) {
        q->route = load ? API_R_FLEET_LOAD : API_R_QUALITY;
        const char *region = arg(argctx, "region");
        if (region) {
            if (api_check_region(region, bad) != MF_OK)
                return API_PARSE_BAD;
            snprintf(q->region, sizeof q->region, "%s", region);
        }
        unsigned widths = load ? 1u << API_W_1H | 1u << API_W_1D : 1u << API_W_1H;
        if (api_parse_width(arg(argctx, "width"), widths, API_W_1H, &q->width, bad) != MF_OK)
            return API_PARSE_BAD;
        struct span sp = fleet_span(q->width);
        if (api_parse_range(arg(argctx, "from"), arg(argctx, "to"), now_ms, api_width_ms(q->width),
                            sp.def, sp.max, &q->from, &q->to, bad) != MF_OK ||
            api_parse_limit(arg(argctx, "limit"), &q->limit, bad) != MF_OK)
            return API_PARSE_BAD;
        snprintf(q->scope, sizeof q->scope, "%s|%s|%s|%lld|%lld|%d", api_route_name(q->route),
                 q->region, api_width_name(q->width), (long long)q->from, (long long)q->to,
                 q->limit);
        return finish(q, arg, argctx, cursor_key, cursor_keylen, bad);
    }
    return API_PARSE_NOT_FOUND;
}
