/*
 * ss_pg: the batch transaction. Each table gets one statement per batch,
 * so a batch of 20,000 records is a handful of round trips: the vehicle
 * reports (the bulk) as binary COPY streams (ss_copy), the rest over
 * arrays (unnest). The statements make repeats harmless on their own too
 * (ON CONFLICT), though the offsets in the same transaction are what
 * keeps a crash from repeating anything.
 */
#include "ss_pg.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "mf_buf.h"
#include "mf_json.h"
#include "mf_log.h"
#include "mf_pg.h"
#include "mf_pgcopy.h"
#include "mf_time.h"
#include "mf_common.h"
#include "mf_crash.h"
#include "ss_copy.h"

#define MS_PER_DAY 86400000LL
#define DAYS_KNOWN 64 /* history partitions known to exist, remembered */

/* A ring of day numbers whose partitions exist. */
struct days_known {
    int64_t days[DAYS_KNOWN];
    size_t n;
};

struct ss_pg {
    char *dsn, *group;
    PGconn *conn;
    bool staged;                       /* this connection has the staging tables */
    struct days_known history, review; /* vehicle history's; the review stores' */
    struct ss_copy copy;               /* the vehicle streams, reused between batches */
};

struct ss_pg *ss_pg_new(const char *dsn, const char *group)
{
    struct ss_pg *p = mf_xcalloc(1, sizeof *p);
    p->dsn = mf_xstrdup(dsn);
    p->group = mf_xstrdup(group);
    ss_copy_init(&p->copy);
    return p;
}

void ss_pg_destroy(struct ss_pg *p)
{
    if (!p)
        return;
    PQfinish(p->conn);
    free(p->dsn);
    free(p->group);
    ss_copy_release(&p->copy);
    free(p);
}

static int connect_pg(struct ss_pg *p, char *errbuf, size_t errlen)
{
    if (p->conn && PQstatus(p->conn) == CONNECTION_OK)
        return MF_OK;
    PQfinish(p->conn);
    p->staged = false;
    p->conn = mf_pg_connect(p->dsn, "source-sink", errbuf, errlen);
    return p->conn ? MF_OK : MF_ERETRY;
}

/* An error of res (or the connection): its first line in errbuf; drops a broken connection. */
static int fail(struct ss_pg *p, PGresult *res, const char *what, char *errbuf, size_t errlen)
{
    const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(p->conn);
    size_t n = strcspn(msg, "\n");
    snprintf(errbuf, errlen, "%s: %.*s", what, (int)n, msg);
    PQclear(res);
    if (PQstatus(p->conn) != CONNECTION_OK) {
        PQfinish(p->conn);
        p->conn = NULL;
    }
    /* Whatever PostgreSQL refused, the batch is retried from the stored offsets. */
    return MF_ERETRY;
}

int ss_pg_migrate(struct ss_pg *p, char *errbuf, size_t errlen)
{
    if (connect_pg(p, errbuf, errlen) != MF_OK)
        return MF_ERETRY;
    return mf_pg_migrate(p->conn, errbuf, errlen);
}

/* ---------------------------------------------------------------- reads */

int ss_pg_load_registry(struct ss_pg *p, struct ss_registry *r, char *errbuf, size_t errlen)
{
    static const char *const sql[MF_SRC_COUNT] = {
        "SELECT feeder_id, interval_s FROM feeders",
        "SELECT station_id, 0 FROM weather_stations",
        "SELECT vehicle_id, 0 FROM vehicles",
    };
    if (connect_pg(p, errbuf, errlen) != MF_OK)
        return MF_ERETRY;
    for (int k = 0; k < MF_SRC_COUNT; k++) {
        PGresult *res = PQexec(p->conn, sql[k]);
        if (PQresultStatus(res) != PGRES_TUPLES_OK)
            return fail(p, res, "reading the registries", errbuf, errlen);
        ss_registry_clear(r, (enum mf_source_kind)k);
        for (int i = 0; i < PQntuples(res); i++)
            ss_registry_add(r, (enum mf_source_kind)k, PQgetvalue(res, i, 0),
                            (int)strtol(PQgetvalue(res, i, 1), NULL, 10));
        ss_registry_sort(r, (enum mf_source_kind)k);
        PQclear(res);
    }
    return MF_OK;
}

int ss_pg_offsets(struct ss_pg *p, const char *topic, const int32_t *parts, size_t n, int64_t *out,
                  char *errbuf, size_t errlen)
{
    if (connect_pg(p, errbuf, errlen) != MF_OK)
        return MF_ERETRY;
    const char *params[] = {p->group, topic};
    PGresult *res = PQexecParams(p->conn,
                                 "SELECT partition, next_offset FROM sink_offsets "
                                 "WHERE consumer_group = $1 AND topic = $2",
                                 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return fail(p, res, "reading sink_offsets", errbuf, errlen);
    for (size_t i = 0; i < n; i++) {
        out[i] = -1;
        for (int r = 0; r < PQntuples(res); r++)
            if (strtol(PQgetvalue(res, r, 0), NULL, 10) == parts[i])
                out[i] = strtoll(PQgetvalue(res, r, 1), NULL, 10);
    }
    PQclear(res);
    return MF_OK;
}

/* ---------------------------------------------------------------- array literals */

/*
 * PostgreSQL array literals, built column by column: {"a","b"}, {1.5,NULL}.
 * Ids are of the meter-id alphabet and times are ours, so nothing needs
 * escaping inside the quotes.
 */
struct col {
    struct mf_buf b;
};

static void col_start(struct col *c)
{
    mf_buf_reset(&c->b);
    mf_buf_appendc(&c->b, '{');
}

static void col_sep(struct col *c)
{
    if (c->b.len > 1)
        mf_buf_appendc(&c->b, ',');
}

static void col_text(struct col *c, const char *s)
{
    col_sep(c);
    mf_buf_appendc(&c->b, '"');
    mf_buf_appends(&c->b, s);
    mf_buf_appendc(&c->b, '"');
}

static void col_ts(struct col *c, int64_t ms)
{
    char ts[MF_TIME_STRLEN];
    mf_time_format(ms, ts);
    col_text(c, ts);
}

static void col_num(struct col *c, double v, unsigned present)
{
    char num[MF_JSON_NUM_MAX];
    col_sep(c);
    if (!present) {
        mf_buf_appends(&c->b, "NULL");
        return;
    }
    mf_buf_append(&c->b, num, mf_json_fmt_double(num, v));
}

static void col_int(struct col *c, int64_t v)
{
    char num[MF_JSON_NUM_MAX];
    col_sep(c);
    mf_buf_append(&c->b, num, mf_json_fmt_int(num, v));
}

static const char *col_end(struct col *c)
{
    mf_buf_appendc(&c->b, '}');
    mf_buf_appendc(&c->b, '\0');
    return c->b.data;
}

#define NCOLS 6

/* Runs sql with the columns as its $1..$n parameters. */
static int exec_cols(struct ss_pg *p, const char *sql, struct col *cols, int n, const char *what,
                     char *errbuf, size_t errlen)
{
    const char *params[NCOLS + 1];
    for (int i = 0; i < n; i++)
        params[i] = cols[i].b.data;
    PGresult *res = PQexecParams(p->conn, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return fail(p, res, what, errbuf, errlen);
    PQclear(res);
    return MF_OK;
}

static int exec(struct ss_pg *p, const char *sql, char *errbuf, size_t errlen)
{
    PGresult *res = PQexec(p->conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        return fail(p, res, sql, errbuf, errlen);
    PQclear(res);
    return MF_OK;
}

/* ---------------------------------------------------------------- the batch */

/*
 * A resent reading (same feeder or station, same ts) replaces the stored
 * one; within a batch the last one consumed wins (DISTINCT ON by ordinal).
 */
static const char grid_sql[] =
    "INSERT INTO grid_feed_readings (feeder_id, ts, value_kw, voltage_v, frequency_hz, interval_s) "
    "SELECT DISTINCT ON (f, t) f, t, v, vv, fq, i FROM unnest($1::text[], $2::timestamptz[], "
    "$3::float8[], $4::float8[], $5::float8[], $6::int[]) WITH ORDINALITY AS u(f, t, v, vv, fq, i, "
    "n) "
    "ORDER BY f, t, n DESC "
    "ON CONFLICT (feeder_id, ts) DO UPDATE SET value_kw = excluded.value_kw, "
    "voltage_v = excluded.voltage_v, frequency_hz = excluded.frequency_hz, "
    "interval_s = excluded.interval_s";

static const char weather_sql[] =
    "INSERT INTO weather_observations (station_id, ts, temp_c, humidity_pct, wind_ms, ghi_wm2) "
    "SELECT DISTINCT ON (s, t) s, t, tc, h, w, g FROM unnest($1::text[], $2::timestamptz[], "
    "$3::float8[], $4::float8[], $5::float8[], $6::float8[]) WITH ORDINALITY AS u(s, t, tc, h, w, "
    "g, n) "
    "ORDER BY s, t, n DESC "
    "ON CONFLICT (station_id, ts) DO UPDATE SET temp_c = excluded.temp_c, "
    "humidity_pct = excluded.humidity_pct, wind_ms = excluded.wind_ms, ghi_wm2 = excluded.ghi_wm2";

/*
 * The vehicle reports' staging tables (per session; emptied at every
 * commit or rollback): the history's is only used when its COPY meets a
 * row stored before (write_history).
 */
static const char *const stage_ddl[] = {
    "CREATE TEMP TABLE IF NOT EXISTS ss_history_stage (vehicle_id text, ts timestamptz, "
    "soc_pct float8, kwh_delivered_dc float8, battery_temp_c float8) ON COMMIT DELETE ROWS",
    "CREATE TEMP TABLE IF NOT EXISTS ss_status_stage (vehicle_id text, ts timestamptz, "
    "soc_pct float8, battery_temp_c float8) ON COMMIT DELETE ROWS",
};

#define HISTORY_COLUMNS "(vehicle_id, ts, soc_pct, kwh_delivered_dc, battery_temp_c)"

/* The cold path: insert-only, a repeat (vehicle, ts) stored once. */
static const char history_copy_sql[] = "COPY vehicle_telemetry_history " HISTORY_COLUMNS
                                       " FROM STDIN (FORMAT binary)";
static const char history_stage_sql[] = "COPY ss_history_stage " HISTORY_COLUMNS
                                        " FROM STDIN (FORMAT binary)";
static const char history_merge_sql[] = "INSERT INTO vehicle_telemetry_history " HISTORY_COLUMNS
                                        " SELECT * FROM ss_history_stage "
                                        "ON CONFLICT DO NOTHING";

/* The hot path: the newest report by event time (one per vehicle, ss_copy); an older or equal
 * one changes nothing. */
static const char status_stage_sql[] = "COPY ss_status_stage (vehicle_id, ts, soc_pct, "
                                       "battery_temp_c) FROM STDIN (FORMAT binary)";
static const char status_sql[] =
    "INSERT INTO vehicle_current_status (vehicle_id, ts, soc_pct, battery_temp_c) "
    "SELECT vehicle_id, ts, soc_pct, battery_temp_c FROM ss_status_stage "
    "ON CONFLICT (vehicle_id) DO UPDATE SET ts = excluded.ts, soc_pct = excluded.soc_pct, "
    "battery_temp_c = excluded.battery_temp_c, updated_at = now() "
    "WHERE vehicle_current_status.ts < excluded.ts";

static const char offsets_sql[] =
    "INSERT INTO sink_offsets (consumer_group, topic, partition, next_offset) "
    "SELECT $1, t, p, o FROM unnest($2::text[], $3::int[], $4::bigint[]) AS u(t, p, o) "
    "ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET next_offset = "
    "excluded.next_offset";

static int known_day(const struct days_known *k, int64_t day)
{
    for (size_t i = 0; i < k->n && i < DAYS_KNOWN; i++)
        if (k->days[i] == day)
            return 1;
    return 0;
}

/*
 * The day partitions of days[0..n) not known to exist, made by fn (a
 * function taking date[]) in a transaction of their own.
 */
static int ensure_days(struct ss_pg *p, struct days_known *k, const int64_t *days, size_t n,
                       const char *fn_sql, struct col *c, char *errbuf, size_t errlen)
{
    int64_t fresh[DAYS_KNOWN];
    size_t nfresh = 0;

    col_start(c);
    for (size_t i = 0; i < n; i++) {
        int seen = known_day(k, days[i]);
        for (size_t j = 0; j < nfresh && !seen; j++)
            seen = fresh[j] == days[i];
        if (seen)
            continue;
        if (nfresh == DAYS_KNOWN)
            break; /* the rest on the next call: the write fails and is retried */
        fresh[nfresh++] = days[i];
        char ts[MF_TIME_STRLEN];
        mf_time_format(days[i] * MS_PER_DAY, ts);
        ts[10] = '\0'; /* YYYY-MM-DD */
        col_text(c, ts);
    }
    if (!nfresh)
        return MF_OK;
    col_end(c);
    const char *params[] = {c->b.data};
    PGresult *res = PQexecParams(p->conn, fn_sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return fail(p, res, "creating day partitions", errbuf, errlen);
    PQclear(res);
    for (size_t j = 0; j < nfresh; j++)
        k->days[k->n++ % DAYS_KNOWN] = fresh[j];
    return MF_OK;
}

/* The vehicle history's and the review stores' day partitions this batch needs. */
static int ensure_all_days(struct ss_pg *p, const struct ss_batch *b, struct col *c, char *errbuf,
                           size_t errlen)
{
    int64_t days[DAYS_KNOWN];
    size_t n = 0;
    for (size_t i = 0; i < b->nrows[MF_SRC_VEHICLE] && n < DAYS_KNOWN; i++) {
        int64_t ms = b->rows[MF_SRC_VEHICLE][i].rec.ts_ms;
        int64_t day = (ms >= 0 ? ms : ms - MS_PER_DAY + 1) / MS_PER_DAY;
        int seen = known_day(&p->history, day);
        for (size_t j = 0; j < n && !seen; j++)
            seen = days[j] == day;
        if (!seen)
            days[n++] = day;
    }
    if (ensure_days(p, &p->history, days, n, "SELECT meterflow_vehicle_history_days($1::date[])", c,
                    errbuf, errlen) != MF_OK)
        return MF_ERETRY;
    return ensure_days(p, &p->review, b->days, b->ndays, "SELECT meterflow_review_days($1::date[])",
                       c, errbuf, errlen);
}

static int write_grid(struct ss_pg *p, const struct ss_batch *b, struct col *c, char *errbuf,
                      size_t errlen)
{
    size_t n = b->nrows[MF_SRC_GRID];
    if (!n)
        return MF_OK;
    for (int k = 0; k < 6; k++)
        col_start(&c[k]);
    for (size_t i = 0; i < n; i++) {
        const struct ss_row *r = &b->rows[MF_SRC_GRID][i];
        col_text(&c[0], r->rec.id);
        col_ts(&c[1], r->rec.ts_ms);
        col_num(&c[2], r->value_kw, 1);
        col_num(&c[3], r->rec.num[MF_GRID_VOLTAGE], r->rec.has & (1u << MF_GRID_VOLTAGE));
        col_num(&c[4], r->rec.num[MF_GRID_FREQUENCY], r->rec.has & (1u << MF_GRID_FREQUENCY));
        col_int(&c[5], r->interval_s);
    }
    for (int k = 0; k < 6; k++)
        col_end(&c[k]);
    return exec_cols(p, grid_sql, c, 6, "writing grid_feed_readings", errbuf, errlen);
}

static int write_weather(struct ss_pg *p, const struct ss_batch *b, struct col *c, char *errbuf,
                         size_t errlen)
{
    size_t n = b->nrows[MF_SRC_WEATHER];
    if (!n)
        return MF_OK;
    for (int k = 0; k < 6; k++)
        col_start(&c[k]);
    for (size_t i = 0; i < n; i++) {
        const struct ss_row *r = &b->rows[MF_SRC_WEATHER][i];
        col_text(&c[0], r->rec.id);
        col_ts(&c[1], r->rec.ts_ms);
        for (int f = MF_WX_TEMP; f <= MF_WX_GHI; f++)
            col_num(&c[2 + f], r->rec.num[f], r->rec.has & (1u << f));
    }
    for (int k = 0; k < 6; k++)
        col_end(&c[k]);
    return exec_cols(p, weather_sql, c, 6, "writing weather_observations", errbuf, errlen);
}

/* The staging tables, once per connection, outside the batch's transaction (a rollback would take
 * them away again). */
static int ensure_stages(struct ss_pg *p, char *errbuf, size_t errlen)
{
    if (p->staged)
        return MF_OK;
    for (size_t i = 0; i < MF_ARRAY_LEN(stage_ddl); i++)
        if (exec(p, stage_ddl[i], errbuf, errlen) != MF_OK)
            return MF_ERETRY;
    p->staged = true;
    return MF_OK;
}

/* Sends a COPY stream; MF_OK or fail()'s. */
static int copy_in(struct ss_pg *p, const char *sql, const struct mf_buf *data, const char *what,
                   char *errbuf, size_t errlen)
{
    PGresult *res = mf_pgcopy_send(p->conn, sql, data);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return fail(p, res, what, errbuf, errlen);
    PQclear(res);
    return MF_OK;
}

/*
 * The history: COPYed straight into its table under a savepoint, which is
 * all it takes unless a report was stored by an earlier batch (a producer
 * that sent it twice; repeats within the batch are gone already). Then the
 * unique index refuses the COPY, and the same stream goes through the
 * staging table and ON CONFLICT DO NOTHING: stored once either way.
 */
static int write_history(struct ss_pg *p, char *errbuf, size_t errlen)
{
    if (exec(p, "SAVEPOINT ss_history", errbuf, errlen) != MF_OK)
        return MF_ERETRY;
    PGresult *res = mf_pgcopy_send(p->conn, history_copy_sql, &p->copy.history);
    if (PQresultStatus(res) == PGRES_COMMAND_OK) {
        PQclear(res);
        return exec(p, "RELEASE SAVEPOINT ss_history", errbuf, errlen);
    }
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (!state || strcmp(state, "23505") != 0) /* not unique_violation */
        return fail(p, res, "writing vehicle_telemetry_history", errbuf, errlen);
    PQclear(res);
    MF_CRASH_POINT("source-sink.history.repeat"); /* the COPY refused, the batch not written */
    if (exec(p, "ROLLBACK TO SAVEPOINT ss_history", errbuf, errlen) != MF_OK ||
        copy_in(p, history_stage_sql, &p->copy.history, "staging vehicle_telemetry_history", errbuf,
                errlen) != MF_OK)
        return MF_ERETRY;
    return exec(p, history_merge_sql, errbuf, errlen);
}

static int write_vehicles(struct ss_pg *p, const struct ss_batch *b, char *errbuf, size_t errlen)
{
    if (!b->nrows[MF_SRC_VEHICLE])
        return MF_OK;
    if (ss_copy_vehicles(&p->copy, b) != MF_OK) {
        snprintf(errbuf, errlen, "a vehicle report holds a number COPY cannot carry");
        return MF_ERETRY;
    }
    if (write_history(p, errbuf, errlen) != MF_OK ||
        copy_in(p, status_stage_sql, &p->copy.status, "staging vehicle_current_status", errbuf,
                errlen) != MF_OK)
        return MF_ERETRY;
    return exec(p, status_sql, errbuf, errlen);
}

/*
 * The review stores (DESIGN §14), from the batch's JSON rows (ss_review).
 * A worker's repeat (same src) or a producer's DLQ repeat (same
 * source.topic/partition/offset) is a new topic record of a record already
 * stored: stored once, here and within the batch.
 */
static const char quarantine_sql[] =
    "WITH e AS (SELECT x.value AS e, x.n FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY "
    "AS x(value, n)), "
    "f AS (SELECT e, n, row_number() OVER (PARTITION BY e->'meter_id', e->'sp', e->'so', "
    "e->'si' ORDER BY n) AS k FROM e) "
    "INSERT INTO quarantine_readings (received_at, topic_partition, topic_offset, meter_id, ts, "
    "value_kw, source_value, source_unit, interval_s, quality, reasons, flags, src_partition, "
    "src_offset, src_index, record) "
    "SELECT (e->>'received_at')::timestamptz, (e->>'p')::int, (e->>'o')::bigint, e->>'meter_id', "
    "(e->>'ts')::timestamptz, (e->>'value_kw')::float8, (e->>'source_value')::float8, "
    "e->>'source_unit', (e->>'interval_s')::int, (e->>'quality')::int, "
    "ARRAY(SELECT jsonb_array_elements_text(e->'reasons')), "
    "ARRAY(SELECT jsonb_array_elements_text(e->'flags')), (e->>'sp')::int, (e->>'so')::bigint, "
    "(e->>'si')::int, e->'record' FROM f "
    "WHERE (e->>'so' IS NULL OR (k = 1 AND NOT EXISTS (SELECT 1 FROM quarantine_readings q "
    "WHERE q.src_partition = (e->>'sp')::int AND q.src_offset = (e->>'so')::bigint "
    "AND q.src_index = (e->>'si')::int AND q.meter_id = e->>'meter_id'))) "
    "ORDER BY n ON CONFLICT DO NOTHING";

static const char dlq_sql[] =
    "WITH e AS (SELECT x.value AS e, x.n FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY "
    "AS x(value, n)), "
    "f AS (SELECT e, n, row_number() OVER (PARTITION BY e->'source_topic', "
    "e->'source_partition', e->'source_offset' ORDER BY n) AS k FROM e) "
    "INSERT INTO dlq_records (received_at, topic_partition, topic_offset, key, key_encoding, "
    "value, value_encoding, headers, error_code, source_topic, source_partition, source_offset) "
    "SELECT (e->>'received_at')::timestamptz, (e->>'p')::int, (e->>'o')::bigint, e->>'key', "
    "e->>'key_encoding', e->>'value', e->>'value_encoding', e->'headers', e->>'error_code', "
    "e->>'source_topic', (e->>'source_partition')::int, (e->>'source_offset')::bigint FROM f "
    "WHERE (e->>'source_topic' IS NULL OR e->>'source_partition' IS NULL "
    "OR e->>'source_offset' IS NULL OR (k = 1 AND NOT EXISTS (SELECT 1 FROM dlq_records d "
    "WHERE d.source_topic = e->>'source_topic' "
    "AND d.source_partition = (e->>'source_partition')::int "
    "AND d.source_offset = (e->>'source_offset')::bigint))) "
    "ORDER BY n ON CONFLICT DO NOTHING";

static int write_review(struct ss_pg *p, const struct ss_batch *b, struct col *c, char *errbuf,
                        size_t errlen)
{
    static const char *const sql[SS_REV_COUNT] = {quarantine_sql, dlq_sql,
                                                  "SELECT meterflow_alerts_apply($1::jsonb)"};
    static const char *const what[SS_REV_COUNT] = {"writing quarantine_readings",
                                                   "writing dlq_records", "writing alerts"};
    for (int k = 0; k < SS_REV_COUNT; k++) {
        if (!b->nreview[k])
            continue;
        mf_buf_reset(&c[0].b);
        mf_buf_appendc(&c[0].b, '[');
        mf_buf_append(&c[0].b, b->review[k].data, b->review[k].len);
        mf_buf_appends(&c[0].b, "]");
        mf_buf_appendc(&c[0].b, '\0');
        const char *params[] = {c[0].b.data};
        PGresult *res = PQexecParams(p->conn, sql[k], 1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
            return fail(p, res, what[k], errbuf, errlen);
        PQclear(res);
    }
    return MF_OK;
}

static int write_offsets(struct ss_pg *p, const struct ss_batch *b, const char *const *topics,
                         struct col *c, char *errbuf, size_t errlen)
{
    col_start(&c[1]);
    col_start(&c[2]);
    col_start(&c[3]);
    for (size_t i = 0; i < b->npos; i++) {
        col_text(&c[1], topics[b->pos[i].kind]);
        col_int(&c[2], b->pos[i].partition);
        col_int(&c[3], b->pos[i].next_offset);
    }
    col_end(&c[1]);
    col_end(&c[2]);
    col_end(&c[3]);
    mf_buf_reset(&c[0].b);
    mf_buf_appends(&c[0].b, p->group);
    mf_buf_appendc(&c[0].b, '\0');
    return exec_cols(p, offsets_sql, c, 4, "writing sink_offsets", errbuf, errlen);
}

int ss_pg_write(struct ss_pg *p, const struct ss_batch *b, const char *const *topics, char *errbuf,
                size_t errlen)
{
    struct col c[NCOLS];
    int rc = MF_ERETRY;

    if (!b->npos)
        return MF_OK;
    for (int k = 0; k < NCOLS; k++)
        mf_buf_init(&c[k].b, SIZE_MAX);
    if (connect_pg(p, errbuf, errlen) != MF_OK || ensure_all_days(p, b, &c[0], errbuf, errlen) ||
        ensure_stages(p, errbuf, errlen) != MF_OK || exec(p, "BEGIN", errbuf, errlen) != MF_OK)
        goto out;
    int failed = write_grid(p, b, c, errbuf, errlen) || write_weather(p, b, c, errbuf, errlen) ||
                 write_vehicles(p, b, errbuf, errlen) || write_review(p, b, c, errbuf, errlen) ||
                 write_offsets(p, b, topics, c, errbuf, errlen);
    if (!failed) {
        MF_CRASH_POINT("source-sink.batch.staged"); /* rows and offsets written, not committed */
        failed = exec(p, "COMMIT", errbuf, errlen) != MF_OK;
    }
    if (failed) {
        /* A day another replica dropped past retention fails the COPY: made again next time. */
        p->history.n = p->review.n = 0;
        if (p->conn) {
            PGresult *res = PQexec(p->conn, "ROLLBACK");
            PQclear(res);
        }
        goto out;
    }
    rc = MF_OK;
out:
    for (int k = 0; k < NCOLS; k++)
        mf_buf_release(&c[k].b);
    return rc;
}

int ss_pg_review_upkeep(struct ss_pg *p, int keep_days, int keep_vehicle_days,
                        double oldest_s[SS_REV_ALERTS], int *dropped, char *errbuf, size_t errlen)
{
    char keep[16], keep_vehicle[16];
    snprintf(keep, sizeof keep, "%d", keep_days);
    snprintf(keep_vehicle, sizeof keep_vehicle, "%d", keep_vehicle_days);
    const char *params[] = {keep, keep_vehicle};
    if (connect_pg(p, errbuf, errlen) != MF_OK)
        return MF_ERETRY;
    /*
     * The drops in a statement of their own: one that also reads the stores
     * holds their partitions open, and PostgreSQL refuses to drop a table
     * its own session is using ("being used by active queries").
     */
    PGresult *res = PQexecParams(
        p->conn,
        "SELECT meterflow_review_retention($1::int) + CASE WHEN $2::int > 0 "
        "THEN meterflow_drop_partitions_before('vehicle_telemetry_history', "
        "date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - "
        "$2::int * interval '1 day') ELSE 0 END",
        2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return fail(p, res, "dropping days past retention", errbuf, errlen);
    *dropped = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    if (*dropped) /* known to exist no more: a late record's day is made again, not failed on */
        p->history.n = p->review.n = 0;
    res = PQexec(p->conn, "SELECT (SELECT extract(epoch FROM now() - min(received_at)) "
                          "FROM quarantine_readings WHERE status = 'pending'), "
                          "(SELECT extract(epoch FROM now() - min(received_at)) FROM dlq_records "
                          "WHERE status = 'pending')");
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return fail(p, res, "review stores upkeep", errbuf, errlen);
    for (int k = 0; k < SS_REV_ALERTS; k++)
        oldest_s[k] = PQgetisnull(res, 0, k) ? 0 : strtod(PQgetvalue(res, 0, k), NULL);
    PQclear(res);
    return MF_OK;
}
