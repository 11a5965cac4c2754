/* api_query: SQL and JSON of the analytics API's endpoints. */
#include "api_query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_buf.h"
#include "mf_json.h"
#include "mf_log.h"
#include "mf_time.h"
#include "mf_common.h"

/* Times go out as epoch ms (formatted here, DESIGN §3) and come in as text. */
#define EPOCH_MS(col) "(extract(epoch FROM " col ") * 1000)::int8"

enum {
    S_PING,
    S_STATUS,
    S_METER_KNOWN,
    S_ROLLUPS_1M,
    S_ROLLUPS_1H,
    S_ROLLUPS_1D,
    S_FLEET_1H,
    S_REGION_1H,
    S_FLEET_1D,
    S_REGION_1D,
    S_FLEET_QUALITY,
    S_REGION_QUALITY,
    S_PEAKS,
    S_ALERTS,
    S_FEEDER_BALANCE,
    S_FEEDER_KNOWN,
    S_WEATHER,
    S_REGION_KNOWN,
    S_VEHICLE,
};

#define ROLLUP_COLS                                                                                \
    EPOCH_MS("window_start")                                                                       \
    ", count, avg_kw, min_kw, max_kw, stddev_kw, stddev_pop_kw, energy_kwh, "                      \
    "quality_avg, premium, standard, interpolated, closed, revision"
#define ROLLUP_RANGE                                                                               \
    " WHERE meter_id = $1 AND window_start >= $2::timestamptz AND window_start < $3::timestamptz "
#define ROLLUP_ORDER "ORDER BY window_start LIMIT $4::int"
#define ROLLUP_WHERE ROLLUP_RANGE ROLLUP_ORDER
/*
 * Since 012 rollup_1h_stats is the stored (closed) hours and rollup_1h_open,
 * which sums the minutes after the lowest watermark less an hour. A range
 * that ends before that bound holds no open hour: this one-time filter
 * skips the minutes (0.41 -> 0.24 ms for a meter's day, about half of it).
 */
#define ROLLUP_1H_CLOSED_ONLY                                                                      \
    "AND (closed OR $3::timestamptz > coalesce((SELECT min(watermark) FROM "                       \
    "agg_partition_watermarks), '-infinity') - interval '1 hour') "
/* Days are UTC days; billing days in a meter's zone come with DESIGN §13. */
#define DAY_OF "date_trunc('day', window_start AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"

const struct api_stmt api_stmts[] = {
    [S_PING] = {"api_ping", "SELECT 1"},
    [S_STATUS] =
        {"api_status",
         "SELECT m.meter_id IS NOT NULL, m.active, m.region, " EPOCH_MS(
             "s.ts") ", s.value_kw, s.quality, s.tier, " EPOCH_MS("s.updated_at") " "
                                                                                  "FROM (SELECT "
                                                                                  "$1::text AS id) "
                                                                                  "q "
                                                                                  "LEFT JOIN "
                                                                                  "meters m ON "
                                                                                  "m.meter_id = "
                                                                                  "q.id "
                                                                                  "LEFT JOIN "
                                                                                  "meter_current_"
                                                                                  "status s ON "
                                                                                  "s.meter_id = "
                                                                                  "q.id"},
    [S_METER_KNOWN] = {"api_meter_known",
                       "SELECT EXISTS (SELECT 1 FROM meters WHERE meter_id = $1) "
                       "OR EXISTS (SELECT 1 FROM meter_current_status WHERE meter_id = $1)"},
    [S_ROLLUPS_1M] = {"api_rollups_1m", "SELECT " ROLLUP_COLS " FROM rollup_1m_stats" ROLLUP_WHERE},
    [S_ROLLUPS_1H] = {"api_rollups_1h",
                      "SELECT " ROLLUP_COLS
                      " FROM rollup_1h_stats" ROLLUP_RANGE ROLLUP_1H_CLOSED_ONLY ROLLUP_ORDER},
    /*
     * Billing days (041's rollup_1d_local, DESIGN §13): the meter's local
     * days that begin in [$2, $3), each from its local midnight to the
     * next (23, 24 or 25 hours), in the meter's zone.
     */
    // clang-format off
    [S_ROLLUPS_1D] = {"api_rollups_1d",
                      "SELECT " EPOCH_MS("s") ", " EPOCH_MS("e") ", day::text, tz, hours, count, "
                      "avg_kw, min_kw, max_kw, energy_kwh, quality_avg, premium, standard, "
                      "interpolated, exact FROM (SELECT d.*, d.day::timestamp AT TIME ZONE d.tz AS s, "
                      "(d.day + 1)::timestamp AT TIME ZONE d.tz AS e FROM rollup_1d_local d "
                      "WHERE d.meter_id = $1) x "
                      "WHERE s >= $2::timestamptz AND s < $3::timestamptz ORDER BY s LIMIT $4::int"},
    // clang-format on
    /* The fleet from 031's fleet_load_1h: one row an hour, not one per region. */
    // clang-format off
    [S_FLEET_1H] = {"api_fleet_1h",
                    "SELECT " EPOCH_MS("window_start") ", energy_kwh, readings, meters "
                    "FROM fleet_load_1h WHERE window_start >= $1::timestamptz "
                    "AND window_start < $2::timestamptz ORDER BY window_start LIMIT $3::int"},
    // clang-format on
    [S_REGION_1H] = {"api_region_1h",
                     "SELECT " EPOCH_MS("window_start") ", energy_kwh, readings, meters::int8 "
                                                        "FROM region_load_1h WHERE region = $4 "
                                                        "AND window_start >= $1::timestamptz "
                                                        "AND window_start < $2::timestamptz "
                                                        "ORDER BY window_start LIMIT $3::int"},
    /* meters of a day: the most meters that reported in one of its hours. */
    // clang-format off
    [S_FLEET_1D] = {"api_fleet_1d",
                    "SELECT " EPOCH_MS("d") ", sum(energy_kwh), sum(readings)::int8, "
                    "max(meters)::int8 FROM (SELECT " DAY_OF " AS d, energy_kwh, readings, meters "
                    "FROM fleet_load_1h WHERE window_start >= $1::timestamptz "
                    "AND window_start < $2::timestamptz) h GROUP BY d ORDER BY d LIMIT $3::int"},
    // clang-format on
    [S_REGION_1D] = {"api_region_1d",
                     "SELECT " EPOCH_MS("d") ", sum(energy_kwh), sum(readings)::int8, "
                                             "max(meters)::int8 FROM (SELECT " DAY_OF " AS d, "
                                             "energy_kwh, readings, meters FROM region_load_1h "
                                             "WHERE region = $4 "
                                             "AND window_start >= $1::timestamptz "
                                             "AND window_start < $2::timestamptz) h "
                                             "GROUP BY d ORDER BY d LIMIT $3::int"},
    /*
     * Quality per hour (040's quality_sum): the readings' average score,
     * for the fleet (every region's row of the hour) or one region.
     */
    // clang-format off
    [S_FLEET_QUALITY] = {"api_fleet_quality",
                         "SELECT " EPOCH_MS("window_start") ", quality_sum / nullif(readings, 0), "
                         "readings, meters FROM fleet_load_1h "
                         "WHERE window_start >= $1::timestamptz AND window_start < $2::timestamptz "
                         "ORDER BY window_start LIMIT $3::int"},
    // clang-format on
    [S_REGION_QUALITY] = {"api_region_quality",
                          "SELECT " EPOCH_MS(
                              "window_start") ", quality_sum / nullif(readings, 0), "
                                              "readings, meters::int8 "
                                              "FROM region_load_1h WHERE region = $4 "
                                              "AND window_start >= $1::timestamptz "
                                              "AND window_start < $2::timestamptz "
                                              "ORDER BY window_start LIMIT $3::int"},
    /*
     * peak_hours (042, DESIGN §13) of the local days from the one holding
     * $1 to the one holding the last instant before $2, and the zone.
     */
    [S_PEAKS] = {"api_peaks", "SELECT day::text, rank, " EPOCH_MS(
                                  "hour_start") ", energy_kwh, excluded, "
                                                "exclusion, meterflow_fleet_tz() "
                                                "FROM peak_hours "
                                                "WHERE region = $3 "
                                                "AND day >= meterflow_fleet_day("
                                                "$1::timestamptz) AND day <= "
                                                "meterflow_fleet_day($2::"
                                                "timestamptz - interval '1 "
                                                "millisecond') ORDER BY day, rank"},
    /*
     * A meter's alerts (051, written by source-sink from meter.alerts) by
     * since, then id; $5 = '' for both states; $6 the id to resume at
     * (the cursor) or -1.
     */
    // clang-format off
    [S_ALERTS] = {"api_alerts",
                  "SELECT id, type, severity, state, " EPOCH_MS("since") ", "
                  EPOCH_MS("raised_at") ", " EPOCH_MS("cleared_at") ", detail::text, "
                  EPOCH_MS("acked_at") ", acked_by, ack_why FROM alerts "
                  "WHERE meter_id = $1 AND since >= $2::timestamptz AND since < $3::timestamptz "
                  "AND ($5 = '' OR state = $5) "
                  "AND ($6::int8 = -1 OR (since, id) >= "
                  "(SELECT c.since, c.id FROM alerts c WHERE c.id = $6::int8)) "
                  "ORDER BY since, id LIMIT $4::int"},
    // clang-format on
    /*
     * feeder_balance_1h (DESIGN §11.1, 022) for one feeder and a range,
     * computed as that view computes it but with the range inside: the
     * view aggregates every hour of the feeder before any range applies.
     * test_api's values are checked against the view itself.
     */
    [S_FEEDER_BALANCE] =
        {"api_feeder_balance",
         "WITH g AS (SELECT date_trunc('hour', ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS ws, "
         "sum(value_kw * interval_s / 3600.0) AS kwh FROM grid_feed_readings "
         "WHERE feeder_id = $1 AND ts >= $2::timestamptz AND ts < $3::timestamptz GROUP BY 1), "
         "mt AS (SELECT r.window_start AS ws, sum(r.energy_kwh) AS kwh, "
         "count(DISTINCT r.meter_id)::bigint AS n FROM meters m JOIN rollup_1h_stats r "
         "ON r.meter_id = m.meter_id AND r.window_start >= $2::timestamptz "
         "AND r.window_start < $3::timestamptz WHERE m.feeder_id = $1 GROUP BY 1), "
         "rg AS (SELECT count(*)::bigint AS n FROM meters WHERE feeder_id = $1 AND active) "
         "SELECT " EPOCH_MS(
             "g.ws") ", g.kwh, coalesce(mt.kwh, 0), coalesce(mt.n, 0), rg.n, "
                     "g.kwh - coalesce(mt.kwh, 0), CASE WHEN g.kwh > 0 THEN 100 * (g.kwh - "
                     "coalesce(mt.kwh, 0)) / g.kwh END FROM g LEFT JOIN mt ON mt.ws = g.ws CROSS "
                     "JOIN rg "
                     "ORDER BY g.ws LIMIT $4::int"},
    /* The registry decides (source-sink stores feeds of registered feeders only). */
    [S_FEEDER_KNOWN] = {"api_feeder_known",
                        "SELECT EXISTS (SELECT 1 FROM feeders WHERE feeder_id = $1)"},
    /* weather_hourly (DESIGN §11.2) for one region, the range inside likewise. */
    [S_WEATHER] = {"api_weather",
                   "SELECT " EPOCH_MS("h") ", avg(temp_c), min(temp_c), max(temp_c) FROM ("
                                           "SELECT date_trunc('hour', o.ts AT TIME ZONE 'UTC') "
                                           "AT TIME ZONE 'UTC' AS h, o.temp_c "
                                           "FROM weather_stations s JOIN weather_observations o "
                                           "ON o.station_id = s.station_id "
                                           "AND o.ts >= $2::timestamptz AND o.ts < $3::timestamptz "
                                           "WHERE s.region = $1) w GROUP BY h ORDER BY h "
                                           "LIMIT $4::int"},
    [S_REGION_KNOWN] = {"api_region_known",
                        "SELECT EXISTS (SELECT 1 FROM weather_stations WHERE region = $1)"},
    /*
     * A vehicle's [from, to) (DESIGN §12): the DC energy into its battery,
     * the AC energy its charger's meter measured (1-hour rollups), the
     * battery's temperature and its state of charge at both ends.
     */
    [S_VEHICLE] =
        {"api_vehicle",
         "SELECT v.meter_id, (SELECT sum(r.energy_kwh) FROM rollup_1h_stats r "
         "WHERE r.meter_id = v.meter_id AND r.window_start >= $2::timestamptz "
         "AND r.window_start < $3::timestamptz), h.dc, h.temp, h.soc_start, h.soc_end, h.n "
         "FROM vehicles v LEFT JOIN LATERAL (SELECT sum(kwh_delivered_dc) AS dc, "
         "avg(battery_temp_c) AS temp, (array_agg(soc_pct ORDER BY ts))[1] AS soc_start, "
         "(array_agg(soc_pct ORDER BY ts DESC))[1] AS soc_end, count(*) AS n "
         "FROM vehicle_telemetry_history t WHERE t.vehicle_id = v.vehicle_id "
         "AND t.ts >= $2::timestamptz AND t.ts < $3::timestamptz) h ON true "
         "WHERE v.vehicle_id = $1"},
};
const size_t api_nstmts = MF_ARRAY_LEN(api_stmts);

void api_error_body(struct api_answer *out, unsigned status, const char *msg, const char *param)
{
    struct mf_buf b = MF_BUF_INIT;
    mf_buf_appends(&b, "{\"error\":");
    mf_json_str(&b, msg, strlen(msg));
    if (param) {
        mf_buf_appends(&b, ",\"parameter\":");
        mf_json_str(&b, param, strlen(param));
    }
    mf_buf_appends(&b, "}\n");
    out->status = status;
    out->body = b.data;
    out->len = b.len;
    out->ttl_s = 0;
}

/* ---------------------------------------------------------------- JSON of a row */

/* How a column is written: PostgreSQL's text form into JSON (NULL: null). */
enum col_type { C_INT, C_DBL, C_BOOL, C_TEXT, C_TIME, C_JSON };
struct col {
    const char *name;
    enum col_type type;
};

static void put_cell(struct mf_buf *b, const PGresult *r, int row, int col, enum col_type t)
{
    if (PQgetisnull(r, row, col)) {
        mf_buf_appends(b, "null");
        return;
    }
    const char *v = PQgetvalue(r, row, col);
    char ts[MF_TIME_STRLEN];
    switch (t) {
    case C_INT: /* PostgreSQL's integers are JSON numbers as they are */
        mf_buf_append(b, v, (size_t)PQgetlength(r, row, col));
        break;
    case C_DBL:
        /* float8 text is the shortest exact form (extra_float_digits = 1,
         * api_pool) and a JSON number, except NaN and +-Infinity: copied,
         * not parsed and printed again (a quarter of the API's CPU). */
        if (v[0] == 'N' || v[0] == 'I' || (v[0] == '-' && v[1] == 'I'))
            mf_buf_appends(b, "null");
        else
            mf_buf_append(b, v, (size_t)PQgetlength(r, row, col));
        break;
    case C_BOOL:
        mf_buf_appends(b, v[0] == 't' ? "true" : "false");
        break;
    case C_TEXT:
        mf_json_str(b, v, strlen(v));
        break;
    case C_JSON: /* jsonb's text is JSON */
        mf_buf_append(b, v, (size_t)PQgetlength(r, row, col));
        break;
    case C_TIME: /* epoch ms (EPOCH_MS) into DESIGN §3's form */
        mf_time_format(strtoll(v, NULL, 10), ts);
        mf_buf_appendf(b, "\"%s\"", ts);
        break;
    }
}

/* ,"name":value for n columns of a row, starting at column first. */
static void put_fields(struct mf_buf *b, const PGresult *r, int row, int first,
                       const struct col *cols, size_t n)
{
    for (size_t c = 0; c < n; c++) {
        mf_buf_appends(b, ",\"");
        mf_buf_appends(b, cols[c].name);
        mf_buf_appends(b, "\":");
        put_cell(b, r, row, first + (int)c, cols[c].type);
    }
}

static void put_key_time(struct mf_buf *b, const char *k, int64_t ms)
{
    char ts[MF_TIME_STRLEN];
    mf_time_format(ms, ts);
    mf_buf_appendc(b, '"');
    mf_buf_appends(b, k);
    mf_buf_appends(b, "\":\"");
    mf_buf_append(b, ts, MF_TIME_STRLEN - 1);
    mf_buf_appendc(b, '"');
}

/* A JSON string, or null for NULL or "". */
static void put_str_or_null(struct mf_buf *b, const char *v)
{
    if (v && *v)
        mf_json_str(b, v, strlen(v));
    else
        mf_buf_appends(b, "null");
}

/* ,"from":...,"to":...,"items":[ of a list answer. */
static void put_range_items(struct mf_buf *b, const struct api_req *req)
{
    mf_buf_appendc(b, ',');
    put_key_time(b, "from", req->from);
    mf_buf_appendc(b, ',');
    put_key_time(b, "to", req->to);
    mf_buf_appends(b, ",\"items\":[");
}

/* ---------------------------------------------------------------- running */

/* Runs a statement; NULL after writing the 503/500 answer. */
static PGresult *run(const struct api_query *q, int stmt, int n, const char *const *params,
                     struct api_answer *out)
{
    char err[512];
    int rc;
    PGresult *r = api_pool_exec(q->env->pool, (size_t)stmt, n, params, &rc, err, sizeof err);
    if (r)
        return r;
    if (rc == MF_ERETRY) {
        MF_LOG_WARN("query", "%s", err);
        api_error_body(out, 503, "the database is unavailable or too slow; retry later", NULL);
    } else {
        MF_LOG_ERROR("query", "%s", err);
        api_error_body(out, 500, "the query failed (logged)", NULL);
    }
    return NULL;
}

static void take(struct api_answer *out, struct mf_buf *b, unsigned status, int ttl_s)
{
    mf_buf_appendc(b, '\n');
    out->status = status;
    out->body = b->data;
    out->len = b->len;
    out->ttl_s = ttl_s;
}

/* Every window of [from, to) closed: to is past, with room for late data's lateness. */
static int closed(const struct api_query *q)
{
    return q->req->to + 10 * 60 * 1000 <= q->now_ms;
}

static void not_found(const struct api_query *q, struct api_answer *out)
{
    char msg[192];
    switch (q->req->route) {
    case API_R_FEEDER:
        snprintf(msg, sizeof msg, "no feeder '%s' in the registry", q->req->id);
        break;
    case API_R_WEATHER:
        snprintf(msg, sizeof msg, "no weather station in region '%s'", q->req->region);
        break;
    case API_R_VEHICLE:
        snprintf(msg, sizeof msg, "no vehicle '%s' in the registry", q->req->id);
        break;
    default:
        snprintf(msg, sizeof msg, "no meter '%s' in the registry or the status table", q->req->id);
        break;
    }
    api_error_body(out, 404, msg, NULL);
    out->ttl_s = q->env->ttl_realtime_s; /* a meter may appear any minute */
}

static void fill_status(const struct api_query *q, struct api_answer *out)
{
    const char *params[] = {q->req->id};
    PGresult *r = run(q, S_STATUS, 1, params, out);
    if (!r)
        return;
    if (PQntuples(r) != 1 || (PQgetvalue(r, 0, 0)[0] != 't' && PQgetisnull(r, 0, 3))) {
        PQclear(r);
        not_found(q, out);
        return;
    }
    static const struct col meter[] = {
        {"registered", C_BOOL}, {"active", C_BOOL}, {"region", C_TEXT}};
    static const struct col last[] = {
        {"value_kw", C_DBL}, {"quality", C_INT}, {"tier", C_TEXT}, {"updated_at", C_TIME}};
    struct mf_buf b = MF_BUF_INIT;
    mf_buf_appends(&b, "{\"meter_id\":");
    mf_json_str(&b, q->req->id, strlen(q->req->id));
    put_fields(&b, r, 0, 0, meter, MF_ARRAY_LEN(meter));
    mf_buf_appends(&b, ",\"last_reading\":");
    if (PQgetisnull(r, 0, 3)) {
        mf_buf_appends(&b, "null");
    } else {
        mf_buf_appends(&b, "{\"ts\":");
        put_cell(&b, r, 0, 3, C_TIME);
        put_fields(&b, r, 0, 4, last, MF_ARRAY_LEN(last));
        mf_buf_appendc(&b, '}');
    }
    mf_buf_appendc(&b, '}');
    PQclear(r);
    take(out, &b, 200, q->env->ttl_realtime_s);
}

/* Common range parameters: from (or the cursor), to, limit + 1 (to see if more follow). */
struct range_params {
    char from[MF_TIME_STRLEN], to[MF_TIME_STRLEN], limit[16];
};

static void range_params(const struct api_req *req, struct range_params *p)
{
    mf_time_format(req->after >= 0 ? req->after : req->from, p->from);
    mf_time_format(req->to, p->to);
    snprintf(p->limit, sizeof p->limit, "%d", req->limit + 1);
}

/* The columns of a list's rows after the first (the window start, epoch ms). */
static const struct col rollup_cols[] = {
    {"count", C_INT},     {"avg_kw", C_DBL},        {"min_kw", C_DBL},       {"max_kw", C_DBL},
    {"stddev_kw", C_DBL}, {"stddev_pop_kw", C_DBL}, {"energy_kwh", C_DBL},   {"quality_avg", C_DBL},
    {"premium", C_INT},   {"standard", C_INT},      {"interpolated", C_INT}, {"closed", C_BOOL},
    {"revision", C_INT},
};
static const struct col day_cols[] = {
    {"day", C_TEXT},        {"tz", C_TEXT},     {"hours", C_DBL},    {"count", C_INT},
    {"avg_kw", C_DBL},      {"min_kw", C_DBL},  {"max_kw", C_DBL},   {"energy_kwh", C_DBL},
    {"quality_avg", C_DBL}, {"premium", C_INT}, {"standard", C_INT}, {"interpolated", C_INT},
    {"exact", C_BOOL},
};
static const struct col balance_cols[] = {{"feeder_kwh", C_DBL},       {"meters_kwh", C_DBL},
                                          {"meters_reporting", C_INT}, {"meters_registered", C_INT},
                                          {"unaccounted_kwh", C_DBL},  {"unaccounted_pct", C_DBL}};
static const struct col weather_cols[] = {
    {"temp_c_avg", C_DBL}, {"temp_c_min", C_DBL}, {"temp_c_max", C_DBL}};
static const struct col load_cols[] = {
    {"energy_kwh", C_DBL}, {"readings", C_INT}, {"meters", C_INT}};
static const struct col quality_cols[] = {
    {"quality_avg", C_DBL}, {"readings", C_INT}, {"meters", C_INT}};

/*
 * A list answer: {"<key>":<value>,"width","from","to","items":[...],
 * "next_cursor"}, one item per row (at most limit; a row past it means
 * another page, whose cursor is that row's window start). value NULL: null.
 * Column 0 is the window start (epoch ms); with ends, column 1 is its end
 * (billing days are 23 to 25 hours), else it is start + the width.
 */
static void list_answer(const struct api_query *q, const char *key, const char *value,
                        const PGresult *r, int ends, const struct col *cols, size_t ncols,
                        int ttl_s, struct api_answer *out)
{
    const struct api_req *req = q->req;
    struct mf_buf b = MF_BUF_INIT;
    mf_buf_appendf(&b, "{\"%s\":", key);
    put_str_or_null(&b, value);
    mf_buf_appendf(&b, ",\"width\":\"%s\"", api_width_name(req->width));
    put_range_items(&b, req);
    int n = r ? PQntuples(r) : 0;
    int shown = n > req->limit ? req->limit : n;
    int64_t wms = api_width_ms(req->width);
    for (int i = 0; i < shown; i++) {
        int64_t ws = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        mf_buf_appends(&b, i ? ",{" : "{");
        put_key_time(&b, "window_start", ws);
        mf_buf_appendc(&b, ',');
        put_key_time(&b, "window_end", ends ? strtoll(PQgetvalue(r, i, 1), NULL, 10) : ws + wms);
        put_fields(&b, r, i, ends ? 2 : 1, cols, ncols);
        mf_buf_appendc(&b, '}');
    }
    mf_buf_appends(&b, "],\"next_cursor\":");
    if (n > req->limit) {
        char cur[API_CURSOR_MAX + 1];
        int64_t next = strtoll(PQgetvalue(r, req->limit, 0), NULL, 10);
        api_cursor_encode(q->env->cursor_key, q->env->cursor_keylen, req->scope, next, cur);
        mf_buf_appendf(&b, "\"%s\"", cur);
    } else {
        mf_buf_appends(&b, "null");
    }
    mf_buf_appendc(&b, '}');
    take(out, &b, 200, ttl_s);
}

/*
 * After an empty list: 1 when key exists (the answer is the empty list),
 * 0 when out already holds the 404, or the 503/500 of the check.
 */
static int known_key(const struct api_query *q, int stmt, const char *key, struct api_answer *out)
{
    const char *p1[] = {key};
    PGresult *r = run(q, stmt, 1, p1, out);
    if (!r)
        return 0;
    int known = PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (!known)
        not_found(q, out);
    return known;
}

static void fill_rollups(const struct api_query *q, struct api_answer *out)
{
    const struct api_req *req = q->req;
    struct range_params rp;
    range_params(req, &rp);
    const char *params[] = {req->id, rp.from, rp.to, rp.limit};
    int stmt = req->width == API_W_1M   ? S_ROLLUPS_1M
               : req->width == API_W_1H ? S_ROLLUPS_1H
                                        : S_ROLLUPS_1D;
    PGresult *r = run(q, stmt, 4, params, out);
    if (!r)
        return;
    if (PQntuples(r) == 0) {
        PQclear(r);
        if (!known_key(q, S_METER_KNOWN, req->id, out))
            return;
        r = NULL;
    }
    int ttl = closed(q) ? q->env->ttl_daily_s
                        : (req->width == API_W_1M ? q->env->ttl_realtime_s : q->env->ttl_hourly_s);
    if (req->width == API_W_1D)
        list_answer(q, "meter_id", req->id, r, 1, day_cols, MF_ARRAY_LEN(day_cols), ttl, out);
    else
        list_answer(q, "meter_id", req->id, r, 0, rollup_cols, MF_ARRAY_LEN(rollup_cols), ttl, out);
    PQclear(r);
}

static void fill_fleet_load(const struct api_query *q, struct api_answer *out)
{
    const struct api_req *req = q->req;
    struct range_params rp;
    range_params(req, &rp);
    const char *params[] = {rp.from, rp.to, rp.limit, req->region};
    int daily = req->width == API_W_1D, region = req->region[0] != '\0';
    int quality = req->route == API_R_QUALITY;
    int stmt = quality ? (region ? S_REGION_QUALITY : S_FLEET_QUALITY)
               : daily ? (region ? S_REGION_1D : S_FLEET_1D)
                       : (region ? S_REGION_1H : S_FLEET_1H);
    PGresult *r = run(q, stmt, region ? 4 : 3, params, out);
    if (!r)
        return;
    int ttl = closed(q) ? q->env->ttl_daily_s : q->env->ttl_hourly_s;
    list_answer(q, "region", region ? req->region : NULL, r, 0, quality ? quality_cols : load_cols,
                quality ? MF_ARRAY_LEN(quality_cols) : MF_ARRAY_LEN(load_cols), ttl, out);
    PQclear(r);
}

/*
 * One feeder's balance or one region's weather per hour: a list like the
 * rollups', 404 when the list is empty and the key is unknown.
 */
static void fill_hourly(const struct api_query *q, struct api_answer *out)
{
    const struct api_req *req = q->req;
    int feeder = req->route == API_R_FEEDER;
    const char *key = feeder ? req->id : req->region;
    struct range_params rp;
    range_params(req, &rp);
    const char *params[] = {key, rp.from, rp.to, rp.limit};
    PGresult *r = run(q, feeder ? S_FEEDER_BALANCE : S_WEATHER, 4, params, out);
    if (!r)
        return;
    if (PQntuples(r) == 0) {
        PQclear(r);
        if (!known_key(q, feeder ? S_FEEDER_KNOWN : S_REGION_KNOWN, key, out))
            return;
        r = NULL;
    }
    int ttl = closed(q) ? q->env->ttl_daily_s : q->env->ttl_hourly_s;
    if (feeder)
        list_answer(q, "feeder_id", key, r, 0, balance_cols, MF_ARRAY_LEN(balance_cols), ttl, out);
    else
        list_answer(q, "region", key, r, 0, weather_cols, MF_ARRAY_LEN(weather_cols), ttl, out);
    PQclear(r);
}

/*
 * {"region","tz","from","to","items":[{"day","rank","hour_start","hour_end",
 * "energy_kwh","excluded","exclusion"}]}: the peak hours of each day in
 * the range, ranked; days not computed yet (the open day) are absent.
 */
static void fill_peaks(const struct api_query *q, struct api_answer *out)
{
    const struct api_req *req = q->req;
    char from[MF_TIME_STRLEN], to[MF_TIME_STRLEN];
    mf_time_format(req->from, from);
    mf_time_format(req->to, to);
    const char *params[] = {from, to, req->region};
    PGresult *r = run(q, S_PEAKS, 3, params, out);
    if (!r)
        return;
    static const struct col first[] = {{"day", C_TEXT}, {"rank", C_INT}};
    static const struct col rest[] = {
        {"energy_kwh", C_DBL}, {"excluded", C_BOOL}, {"exclusion", C_TEXT}};
    struct mf_buf b = MF_BUF_INIT;
    mf_buf_appends(&b, "{\"region\":");
    mf_json_str(&b, req->region, strlen(req->region));
    mf_buf_appends(&b, ",\"tz\":");
    put_str_or_null(&b, PQntuples(r) > 0 ? PQgetvalue(r, 0, 6) : NULL);
    put_range_items(&b, req);
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t hs = strtoll(PQgetvalue(r, i, 2), NULL, 10);
        mf_buf_appends(&b, i ? ",{" : "{");
        put_key_time(&b, "hour_start", hs);
        mf_buf_appendc(&b, ',');
        put_key_time(&b, "hour_end", hs + 3600 * 1000);
        put_fields(&b, r, i, 0, first, MF_ARRAY_LEN(first));
        put_fields(&b, r, i, 3, rest, MF_ARRAY_LEN(rest));
        mf_buf_appendc(&b, '}');
    }
    mf_buf_appends(&b, "]}");
    PQclear(r);
    take(out, &b, 200, closed(q) ? q->env->ttl_daily_s : q->env->ttl_hourly_s);
}

/*
 * {"meter_id","state","from","to","items":[{"id","type","severity","state",
 * "since","raised_at","cleared_at","detail","acked_at","acked_by",
 * "ack_why"}],"next_cursor"}: the cursor is the id of the first alert of
 * the next page. 404 when the list is empty and the id is no meter.
 */
static void fill_alerts(const struct api_query *q, struct api_answer *out)
{
    const struct api_req *req = q->req;
    char from[MF_TIME_STRLEN], to[MF_TIME_STRLEN], limit[16], after[24];
    mf_time_format(req->from, from);
    mf_time_format(req->to, to);
    snprintf(limit, sizeof limit, "%d", req->limit + 1);
    snprintf(after, sizeof after, "%lld", (long long)req->after);
    const char *params[] = {req->id, from, to, limit, req->state, after};
    PGresult *r = run(q, S_ALERTS, 6, params, out);
    if (!r)
        return;
    int n = PQntuples(r);
    if (n == 0 && !known_key(q, S_METER_KNOWN, req->id, out)) {
        PQclear(r);
        return;
    }
    static const struct col cols[] = {
        {"id", C_INT},        {"type", C_TEXT},      {"severity", C_TEXT},   {"state", C_TEXT},
        {"since", C_TIME},    {"raised_at", C_TIME}, {"cleared_at", C_TIME}, {"detail", C_JSON},
        {"acked_at", C_TIME}, {"acked_by", C_TEXT},  {"ack_why", C_TEXT}};
    struct mf_buf b = MF_BUF_INIT;
    mf_buf_appends(&b, "{\"meter_id\":");
    mf_json_str(&b, req->id, strlen(req->id));
    mf_buf_appends(&b, ",\"state\":");
    put_str_or_null(&b, req->state);
    put_range_items(&b, req);
    int shown = n > req->limit ? req->limit : n;
    for (int i = 0; i < shown; i++) {
        /* put_fields writes ",\"id\":..." : the first comma becomes the brace */
        size_t at = b.len;
        put_fields(&b, r, i, 0, cols, MF_ARRAY_LEN(cols));
        b.data[at] = '{';
        mf_buf_appendc(&b, '}');
        if (i + 1 < shown)
            mf_buf_appendc(&b, ',');
    }
    mf_buf_appends(&b, "],\"next_cursor\":");
    if (n > req->limit) {
        char cur[API_CURSOR_MAX + 1];
        api_cursor_encode(q->env->cursor_key, q->env->cursor_keylen, req->scope,
                          strtoll(PQgetvalue(r, req->limit, 0), NULL, 10), cur);
        mf_buf_appendf(&b, "\"%s\"", cur);
    } else {
        mf_buf_appends(&b, "null");
    }
    mf_buf_appendc(&b, '}');
    PQclear(r);
    take(out, &b, 200, q->env->ttl_realtime_s);
}

/* DESIGN §12's thresholds on dc/ac. */
static const char *health(double efficiency, int known)
{
    if (!known)
        return "unknown";
    return efficiency >= 0.85 ? "healthy" : efficiency >= 0.75 ? "degraded" : "critical";
}

static void fill_vehicle(const struct api_query *q, struct api_answer *out)
{
    const struct api_req *req = q->req;
    char from[MF_TIME_STRLEN], to[MF_TIME_STRLEN];
    mf_time_format(req->from, from);
    mf_time_format(req->to, to);
    const char *params[] = {req->id, from, to};
    PGresult *r = run(q, S_VEHICLE, 3, params, out);
    if (!r)
        return;
    if (PQntuples(r) != 1) {
        PQclear(r);
        not_found(q, out);
        return;
    }
    static const struct col cols[] = {
        {"meter_id", C_TEXT}, {"ac_kwh", C_DBL},  {"dc_kwh", C_DBL}, {"avg_battery_temp_c", C_DBL},
        {"soc_start", C_DBL}, {"soc_end", C_DBL}, {"reports", C_INT}};
    double ac = PQgetisnull(r, 0, 1) ? 0 : strtod(PQgetvalue(r, 0, 1), NULL);
    double dc = PQgetisnull(r, 0, 2) ? 0 : strtod(PQgetvalue(r, 0, 2), NULL);
    int known = ac > 0;
    struct mf_buf b = MF_BUF_INIT;
    mf_buf_appends(&b, "{\"vehicle_id\":");
    mf_json_str(&b, req->id, strlen(req->id));
    mf_buf_appendc(&b, ',');
    put_key_time(&b, "from", req->from);
    mf_buf_appendc(&b, ',');
    put_key_time(&b, "to", req->to);
    put_fields(&b, r, 0, 0, cols, MF_ARRAY_LEN(cols));
    mf_buf_appends(&b, ",\"efficiency\":");
    if (known)
        mf_json_double(&b, dc / ac);
    else
        mf_buf_appends(&b, "null");
    mf_buf_appendf(&b, ",\"health\":\"%s\"}", health(known ? dc / ac : 0, known));
    PQclear(r);
    take(out, &b, 200, closed(q) ? q->env->ttl_daily_s : q->env->ttl_realtime_s);
}

void api_query_fill(void *query, struct api_answer *out)
{
    const struct api_query *q = query;
    switch (q->req->route) {
    case API_R_STATUS:
        fill_status(q, out);
        return;
    case API_R_ROLLUPS:
        fill_rollups(q, out);
        return;
    case API_R_FLEET_LOAD:
    case API_R_QUALITY:
        fill_fleet_load(q, out);
        return;
    case API_R_FEEDER:
    case API_R_WEATHER:
        fill_hourly(q, out);
        return;
    case API_R_VEHICLE:
        fill_vehicle(q, out);
        return;
    case API_R_PEAKS:
        fill_peaks(q, out);
        return;
    case API_R_ALERTS:
        fill_alerts(q, out);
        return;
    case API_R_COUNT:
        break;
    }
    api_error_body(out, 500, "no such route", NULL);
}
