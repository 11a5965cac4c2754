/*
 * agg_commit: the batch transaction. Its statements (built once, here),
 * its staging tables (once per session), and the steps of one batch in
 * the order DESIGN §5 gives them.
 */
#include "agg_commit.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "mf_buf.h"
#include "mf_contract.h"
#include "mf_json.h"
#include "mf_time.h"
#include "agg_funcs.h"
#include "agg_outbox.h"
#include "agg_record.h"
#include "agg_window.h"
#include "mf_common.h"
#include "mf_crash.h"

/* The batch's COPY streams, built side by side (see agg_commit_write). */
enum { COPY_APPEND, COPY_STAGE, COPY_HOUR_PARTS, COPY_STATUS, COPY_HOURS, COPY_NSTREAMS };

/* The span of window_start the watermark closed in one partition (agg_outbox_ranges, 013). */
struct span {
    int32_t part;
    int64_t first, last;
};

struct agg_commit {
    struct agg_pg *pg; /* borrowed */
    uint64_t session;  /* agg_pg_session the staging tables were made in; 0: none yet */
    /*
     * Open rollup_1m rows from before 011 (no part) existed when last
     * looked: while they do, the 1-minute closes go by their keys (the
     * UPDATE closes those rows), else as spans. Looked at once a session
     * and after each commit while true; no row without part is made since.
     */
    bool legacy;
    size_t staged;              /* rows of the batch's agg_stage */
    size_t merges[AGG_NWIDTHS]; /* of which to merge, per width */
    struct span *spans;
    size_t nspans, spans_cap;
    /* Statements built once from constant fragments (agg_funcs columns). */
    struct mf_buf upsert_sql[AGG_NWIDTHS];
    struct mf_buf close_sql[AGG_NWIDTHS]; /* [AGG_W1H]: writing the closing hours (012) */
    struct mf_buf positions_sql;          /* source positions, watermarks, closed spans */
    struct mf_buf copy[COPY_NSTREAMS];    /* COPY data, reused between batches */
    struct mf_buf arr[9];                 /* array parameters, reused */
};

/* ---------------------------------------------------------------- statements */

/*
 * region_load_1h (009, quality_sum 040): the batch's hours summed per
 * region from the stages (agg_hour_parts, and agg_stage for late data into
 * a closed hour: the batch's part of each hour) and added to the
 * table in one statement, the last before COMMIT: its rows are shared by
 * every aggregator of the group, so they are locked only for the commit
 * (the sums are made before the first row is written), and in key order,
 * so two members' batches wait for each other instead of deadlocking.
 * A meter counts in an hour once, when its first reading there is
 * written: fresh (no reading of that hour before), or, for late data
 * merged into a closed hour, when the merge created the row (its count is
 * the batch's own; a replay behind the watermark has only late hours). Run
 * after the merges; the probe is made for the few merged rows only.
 * The region is the registry's now; a meter without one is 'unknown'.
 */
static int update_region_load(struct agg_commit *cm, char *errbuf, size_t errlen)
{
    char sql[2048];
    snprintf(sql, sizeof sql,
             "INSERT INTO region_load_1h AS g"
             " (region, window_start, energy_kwh, readings, meters, quality_sum)"
             " SELECT coalesce(m.region, 'unknown'), s.window_start,"
             " sum(s.energy_kwh), sum(s.count), count(*) FILTER (WHERE s.fresh OR (s.upsert"
             " AND (SELECT h.count FROM rollup_1h h WHERE h.meter_id = s.meter_id"
             " AND h.window_start = s.window_start) = s.count)), sum(s.quality_sum)"
             " FROM (SELECT meter_id, window_start, count, energy_kwh, quality_sum, fresh,"
             " false AS upsert FROM agg_hour_parts UNION ALL SELECT meter_id, window_start,"
             " count, energy_kwh, quality_sum, fresh, upsert FROM agg_stage WHERE width = %d) s"
             " LEFT JOIN meters m ON m.meter_id = s.meter_id GROUP BY 1, 2 ORDER BY 1, 2"
             " ON CONFLICT (region, window_start) DO UPDATE"
             " SET energy_kwh = g.energy_kwh + EXCLUDED.energy_kwh,"
             " readings = g.readings + EXCLUDED.readings,"
             " meters = g.meters + EXCLUDED.meters,"
             " quality_sum = g.quality_sum + EXCLUDED.quality_sum",
             (int)AGG_W1H);
    return agg_pg_run(cm->pg, sql, 0, NULL, "updating region_load_1h", errbuf, errlen);
}

/*
 * Whether the stored row r was closed before this batch. A 1-minute row
 * is closed when a write closed it (stored closed) or when the stored
 * watermark of its partition passed its end (011: no row is rewritten to
 * close it); the transaction stores the new watermark after the merges, so
 * this sees the one before the batch. A 1-hour row stores its close.
 */
static const char *const was_closed[AGG_NWIDTHS] = {
    "(r.closed OR coalesce(r.window_start + interval '1 minute' <= (SELECT watermark FROM"
    " agg_partition_watermarks WHERE partition = r.part), false))",
    "r.closed",
};

/*
 * Closing 1-minute windows: the keys come as arrays (an unnest is
 * estimated small, so the planner probes the primary key rather than
 * scanning the table). A 1-minute row is closed by the watermark this
 * transaction stores: nothing is written to it, and it is published with
 * revision 1 from the content the state holds (the outbox takes the keys);
 * only a row written before 011 (no part) is still UPDATEd, and NOT
 * r.closed: a window closed already is never closed twice.
 */
static void build_close_1m(struct mf_buf *b)
{
    mf_buf_appends(b, "WITH k AS (SELECT * FROM unnest($2::text[], $3::timestamptz[],"
                      " $4::int[]) AS k(meter_id, window_start, part)),"
                      " c AS (UPDATE rollup_1m AS r SET closed = true,"
                      " revision = r.revision + 1, updated_at = now() FROM k"
                      " WHERE r.meter_id = k.meter_id AND r.window_start = k.window_start"
                      " AND NOT r.closed AND r.part IS NULL RETURNING 1), ");
    agg_outbox_append_insert(b, AGG_W1M, "k");
    mf_buf_appends(b, " SELECT count(*) FROM c");
}

/*
 * Closing 1-hour windows (012): an open hour has no row (rollup_1h_open
 * serves it from the minutes); when the watermark passes its end, the
 * hour is written once, closed, revision 1, from the content the state
 * holds (agg_hour_stage), and published from it. A row there already is
 * taken over only while open (one an aggregator from before 012 wrote
 * during an upgrade); a closed one means another owner closed the hour:
 * the count comes back short and the batch fails (then everything is
 * reloaded, and the hour is no longer open).
 */
static void build_close_1h(struct mf_buf *b)
{
    mf_buf_appends(b, "WITH c AS (INSERT INTO rollup_1h AS r (meter_id, window_start, ");
    agg_funcs_columns(b, "");
    mf_buf_appends(b, ", closed, revision) SELECT meter_id, window_start, ");
    agg_funcs_columns(b, "");
    mf_buf_appends(b, ", true, 1 FROM agg_hour_stage"
                      " ON CONFLICT (meter_id, window_start) DO UPDATE SET ");
    for (size_t i = 0; i < agg_funcs_count; i++)
        mf_buf_appendf(b, "%s = EXCLUDED.%s, ", agg_funcs[i].column, agg_funcs[i].column);
    mf_buf_appends(b, "closed = true, revision = 1, updated_at = now() WHERE NOT r.closed"
                      " RETURNING 1), ");
    agg_outbox_append_insert(b, AGG_W1H, "agg_hour_stage");
    mf_buf_appends(b, " SELECT count(*) FROM c");
}

static void build_sql(struct agg_commit *cm)
{
    for (int w = 0; w < AGG_NWIDTHS; w++) {
        const char *t = agg_widths[w].table;
        const char *part = w == AGG_W1M ? ", part" : ""; /* rollup_1m's partition (011) */
        struct mf_buf *b = &cm->upsert_sql[w];

        /*
         * The merge. A window the watermark already passed (closing) is
         * closed by it too: inserted closed with revision 1, or an open
         * row closed 0 -> 1, one write where a merge and then a close
         * would take two. A row closed before (stored, or for 1m by the
         * watermark, revision 0 stored meaning 1) that late data changes
         * gets the next revision. Both go to the outbox and come back
         * (RETURNING sees the row after the update).
         */
        mf_buf_appendf(b, "WITH up AS (INSERT INTO %s AS r (meter_id, window_start, ", t);
        agg_funcs_columns(b, "");
        mf_buf_appendf(b, ", closed, revision%s) SELECT meter_id, window_start, ", part);
        agg_funcs_columns(b, "");
        mf_buf_appendf(b,
                       ", closing, closing::int%s FROM agg_stage WHERE width = %d AND upsert"
                       " ON CONFLICT (meter_id, window_start) DO UPDATE SET ",
                       part, w);
        agg_funcs_set_list(b);
        mf_buf_appendf(b,
                       ", closed = %s OR EXCLUDED.closed,"
                       " revision = CASE WHEN %s THEN greatest(r.revision, 1) + 1"
                       " ELSE r.revision + EXCLUDED.revision END,"
                       " updated_at = now()"
                       " RETURNING meter_id, window_start, closed, revision, ",
                       was_closed[w], was_closed[w]);
        agg_funcs_columns(b, "");
        /*
         * The outbox: the windows this merge closes are known from the stage
         * alone (closing); only late changes to windows closed before
         * (revision 2 and up, not closing) need the stage's partition by a
         * join, and they are few. Joining every closed row back to the stage
         * cost a hash join and an external sort per batch.
         */
        char from[512];
        snprintf(from, sizeof from,
                 "(SELECT part, meter_id, window_start FROM agg_stage"
                 " WHERE width = %d AND closing AND upsert"
                 " UNION ALL SELECT s.part, up.meter_id, up.window_start"
                 " FROM up JOIN agg_stage s ON s.width = %d AND s.upsert AND NOT s.closing"
                 " AND s.meter_id = up.meter_id AND s.window_start = up.window_start"
                 " WHERE up.closed AND up.revision > 1) o",
                 w, w);
        mf_buf_appends(b, "), ");
        agg_outbox_append_insert(b, (enum agg_width)w, from);
        mf_buf_appends(b, " SELECT meter_id, window_start, revision, ");
        agg_funcs_columns(b, "");
        mf_buf_appends(b, " FROM up WHERE closed");

        if (w == AGG_W1M)
            build_close_1m(&cm->close_sql[w]);
        else
            build_close_1h(&cm->close_sql[w]);
    }

    /*
     * What the batch stores last, in one statement (one round trip): the
     * source positions, the 1-minute spans the watermark closed (013) and
     * the watermarks, each an unnest of parallel arrays (empty: no rows).
     */
    struct mf_buf *b = &cm->positions_sql;
    mf_buf_appends(b, "WITH sp AS (INSERT INTO source_positions"
                      " (consumer_group, partition, src_partition, src_offset, src_index)"
                      " SELECT $1, * FROM unnest($2::int[], $3::int[], $4::bigint[], $5::int[])"
                      " ON CONFLICT (consumer_group, partition, src_partition) DO UPDATE"
                      " SET src_offset = EXCLUDED.src_offset, src_index = EXCLUDED.src_index), ");
    agg_outbox_append_range_insert(b, 8, 9, 10);
    mf_buf_appends(b, " INSERT INTO agg_watermarks (consumer_group, partition, watermark_ms)"
                      " SELECT $1, * FROM unnest($6::int[], $7::bigint[])"
                      " ON CONFLICT (consumer_group, partition) DO UPDATE"
                      " SET watermark_ms = greatest(agg_watermarks.watermark_ms,"
                      " EXCLUDED.watermark_ms), updated_at = now()");
}

struct agg_commit *agg_commit_new(struct agg_pg *pg)
{
    struct agg_commit *cm = mf_xcalloc(1, sizeof *cm);
    cm->pg = pg;
    for (int w = 0; w < AGG_NWIDTHS; w++) {
        mf_buf_init(&cm->upsert_sql[w], SIZE_MAX);
        mf_buf_init(&cm->close_sql[w], SIZE_MAX);
    }
    mf_buf_init(&cm->positions_sql, SIZE_MAX);
    for (size_t i = 0; i < MF_ARRAY_LEN(cm->copy); i++)
        mf_buf_init(&cm->copy[i], SIZE_MAX);
    for (size_t i = 0; i < MF_ARRAY_LEN(cm->arr); i++)
        mf_buf_init(&cm->arr[i], SIZE_MAX);
    build_sql(cm);
    return cm;
}

void agg_commit_destroy(struct agg_commit *cm)
{
    if (!cm)
        return;
    for (int w = 0; w < AGG_NWIDTHS; w++) {
        mf_buf_release(&cm->upsert_sql[w]);
        mf_buf_release(&cm->close_sql[w]);
    }
    mf_buf_release(&cm->positions_sql);
    for (size_t i = 0; i < MF_ARRAY_LEN(cm->copy); i++)
        mf_buf_release(&cm->copy[i]);
    for (size_t i = 0; i < MF_ARRAY_LEN(cm->arr); i++)
        mf_buf_release(&cm->arr[i]);
    free(cm->spans);
    free(cm);
}

/*
 * The staging tables, once per session: they live as long as it does, and
 * ON COMMIT DELETE ROWS empties them at every commit, so a batch never sees
 * the last one's rows, even after an error. Temp tables are not WAL-logged.
 * agg_stage's aggregate columns are agg_funcs' (as bigint / float8).
 */
static const char *const stage_ddl[] = {
    "CREATE TEMP TABLE IF NOT EXISTS agg_stage ("
    " width smallint NOT NULL, part int NOT NULL, meter_id text NOT NULL,"
    " window_start timestamptz NOT NULL, count bigint NOT NULL,"
    " sum_kw float8 NOT NULL, min_kw float8 NOT NULL,"
    " max_kw float8 NOT NULL, m2 float8 NOT NULL,"
    " energy_kwh float8 NOT NULL, quality_sum float8 NOT NULL,"
    " premium bigint NOT NULL, standard bigint NOT NULL,"
    " interpolated bigint NOT NULL, closing bool NOT NULL, upsert bool NOT NULL,"
    " fresh bool NOT NULL) ON COMMIT DELETE ROWS",
    /* The hours to write at close, with their whole content (012). */
    "CREATE TEMP TABLE IF NOT EXISTS agg_hour_stage (LIKE agg_stage) ON COMMIT DELETE ROWS",
    /*
     * The batch's part of each hour that is not merged (open in memory, or
     * new): only what the region load sums. Narrow: 10,000 rows a batch at
     * one reading a meter-minute, ~40 % cheaper to COPY than agg_stage's.
     */
    "CREATE TEMP TABLE IF NOT EXISTS agg_hour_parts ("
    " meter_id text NOT NULL, window_start timestamptz NOT NULL, count bigint NOT NULL,"
    " energy_kwh float8 NOT NULL, quality_sum float8 NOT NULL, fresh bool NOT NULL)"
    " ON COMMIT DELETE ROWS",
    "CREATE TEMP TABLE IF NOT EXISTS agg_status_stage ("
    " meter_id text NOT NULL, ts timestamptz NOT NULL,"
    " value_kw float8 NOT NULL, quality int NOT NULL, tier text NOT NULL)"
    " ON COMMIT DELETE ROWS",
};

/* Whether open rollup_1m rows from before 011 exist (rollup_1m_legacy_open_idx: a probe). */
static int look_for_legacy(struct agg_commit *cm, char *errbuf, size_t errlen)
{
    PGresult *res = agg_pg_exec(
        cm->pg, "SELECT EXISTS (SELECT 1 FROM rollup_1m WHERE NOT closed AND part IS NULL)", 0,
        NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        return agg_pg_fail(cm->pg, res, "looking for open rows from before 011", errbuf, errlen);
    cm->legacy = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return MF_OK;
}

static int prepare_session(struct agg_commit *cm, char *errbuf, size_t errlen)
{
    uint64_t session = agg_pg_session(cm->pg);
    if (cm->session == session)
        return MF_OK;
    for (size_t i = 0; i < MF_ARRAY_LEN(stage_ddl); i++) {
        int rc = agg_pg_run(cm->pg, stage_ddl[i], 0, NULL, "creating the staging tables", errbuf,
                            errlen);
        if (rc != MF_OK)
            return rc;
    }
    int rc = look_for_legacy(cm, errbuf, errlen);
    if (rc != MF_OK)
        return rc;
    cm->session = session;
    return MF_OK;
}

/* ---------------------------------------------------------------- the batch */

#define APPEND_SQL                                                                                 \
    "COPY rollup_1m (meter_id, window_start, count, sum_kw, min_kw, max_kw, m2, energy_kwh,"       \
    " quality_sum, premium, standard, interpolated, closed, revision, part)"                       \
    " FROM STDIN (FORMAT binary)"
#define STAGE_COLUMNS                                                                              \
    "(width, part, meter_id, window_start, count, sum_kw, min_kw, max_kw, m2, energy_kwh,"         \
    " quality_sum, premium, standard, interpolated, closing, upsert, fresh)"
#define STATUS_SQL                                                                                 \
    "COPY agg_status_stage (meter_id, ts, value_kw, quality, tier) FROM STDIN (FORMAT binary)"

/* Starts a COPY ... FROM STDIN of the stream b; copy_result then waits for it. */
static int copy_start(struct agg_commit *cm, const struct mf_buf *b, const char *sql, char *errbuf,
                      size_t errlen)
{
    PGresult *res;
    if (mf_pgcopy_start(agg_pg_conn(cm->pg), sql, b, &res) != MF_OK)
        return agg_pg_fail(cm->pg, res, "COPY", errbuf, errlen);
    return MF_OK;
}

static int copy_result(struct agg_commit *cm, char *errbuf, size_t errlen)
{
    PGresult *res = mf_pgcopy_result(agg_pg_conn(cm->pg));
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return agg_pg_fail(cm->pg, res, "COPY", errbuf, errlen);
    PQclear(res);
    return MF_OK;
}

/* Sends the stream b as the data of a COPY ... FROM STDIN and waits for it. */
static int copy_in(struct agg_commit *cm, const struct mf_buf *b, const char *sql, char *errbuf,
                   size_t errlen)
{
    int rc = copy_start(cm, b, sql, errbuf, errlen);
    return rc == MF_OK ? copy_result(cm, errbuf, errlen) : rc;
}

/* A 1-minute window new to PostgreSQL and still open: appended, not merged (build_appended). */
static bool appended(const struct agg_entry *e)
{
    return agg_key_width(e->key) == AGG_W1M && e->fresh && !e->close;
}

/*
 * The batch's 1-minute windows that no row can exist for yet (agg_entry
 * fresh) and that stay open, as the stream of a binary COPY straight into
 * rollup_1m (APPEND_SQL), which routes each row to its day. No staging, no
 * conflict check, no outbox (an open window is published when it closes).
 * A row that does exist after all (a bug) fails the primary key and so the
 * batch: loud, never counted twice. *n: how many.
 */
static int build_appended(struct agg_commit *cm, const struct agg_batch *b, size_t *n, char *errbuf,
                          size_t errlen)
{
    struct mf_buf *c = &cm->copy[COPY_APPEND];
    *n = 0;
    mf_pgcopy_begin(c);
    for (size_t i = 0; i < b->nentries; i++) {
        const struct agg_entry *e = &b->entries[i];
        if (!appended(e))
            continue;
        mf_pgcopy_put_tuple(c, (int16_t)(5 + agg_funcs_count));
        mf_pgcopy_put_text(c, e->meter_id);
        mf_pgcopy_put_ts(c, agg_key_start(e->key));
        if (agg_copy_put_acc_rollup(c, &e->acc) != MF_OK) {
            snprintf(errbuf, errlen, "window of '%s' has a value COPY cannot carry", e->meter_id);
            return MF_EFATAL;
        }
        mf_pgcopy_put_bool(c, false);
        mf_pgcopy_put_i32(c, 0);
        mf_pgcopy_put_i32(c, e->part);
        (*n)++;
    }
    mf_pgcopy_end(c);
    return MF_OK;
}

/*
 * Whether an entry goes through the merge (upsert_sql): every staged
 * 1-minute one; of the 1-hour ones only late data into a closed hour (its
 * row exists). An open hour is not written (012); one the batch closes is
 * written by close_hours.
 */
static bool upserted(const struct agg_entry *e)
{
    return agg_key_width(e->key) == AGG_W1M || (!e->fresh && !e->known);
}

/* One agg_stage / agg_hour_stage row (their columns are the same) into the stream c. */
static int put_stage_row(struct mf_buf *c, enum agg_width w, int32_t part, const char *meter_id,
                         int64_t key, const struct agg_acc *acc, bool closing, bool upsert,
                         bool fresh, char *errbuf, size_t errlen)
{
    mf_pgcopy_put_tuple(c, (int16_t)(7 + agg_funcs_count));
    mf_pgcopy_put_i16(c, (int16_t)w);
    mf_pgcopy_put_i32(c, part);
    mf_pgcopy_put_text(c, meter_id);
    mf_pgcopy_put_ts(c, agg_key_start(key));
    if (agg_copy_put_acc(c, acc) != MF_OK) {
        snprintf(errbuf, errlen, "window of '%s' has a value COPY cannot carry", meter_id);
        return MF_EFATAL;
    }
    mf_pgcopy_put_bool(c, closing);
    mf_pgcopy_put_bool(c, upsert);
    mf_pgcopy_put_bool(c, fresh);
    return MF_OK;
}

/*
 * Every entry not appended: the ones to merge (1-minute ones, and late
 * data into a closed hour) as the stream of agg_stage, the other hours'
 * partials as that of agg_hour_parts (the region load sums both).
 */
static int build_stage(struct agg_commit *cm, const struct agg_batch *b, char *errbuf,
                       size_t errlen)
{
    struct mf_buf *c = &cm->copy[COPY_STAGE], *h = &cm->copy[COPY_HOUR_PARTS];
    mf_pgcopy_begin(c);
    mf_pgcopy_begin(h);
    cm->staged = 0;
    memset(cm->merges, 0, sizeof cm->merges);
    for (size_t i = 0; i < b->nentries; i++) {
        const struct agg_entry *e = &b->entries[i];
        if (appended(e))
            continue;
        if (!upserted(e)) { /* an hour, open or new: not written (012) */
            mf_pgcopy_put_tuple(h, 6);
            mf_pgcopy_put_text(h, e->meter_id);
            mf_pgcopy_put_ts(h, agg_key_start(e->key));
            mf_pgcopy_put_i64(h, e->acc.count);
            if (mf_pgcopy_put_f64(h, e->acc.energy_kwh) != MF_OK ||
                mf_pgcopy_put_f64(h, e->acc.quality_sum) != MF_OK) {
                snprintf(errbuf, errlen, "window of '%s' has a value COPY cannot carry",
                         e->meter_id);
                return MF_EFATAL;
            }
            mf_pgcopy_put_bool(h, e->fresh);
            continue;
        }
        int rc = put_stage_row(c, agg_key_width(e->key), e->part, e->meter_id, e->key, &e->acc,
                               e->close, true, e->fresh, errbuf, errlen);
        if (rc != MF_OK)
            return rc;
        cm->staged++;
        cm->merges[agg_key_width(e->key)]++;
    }
    mf_pgcopy_end(c);
    mf_pgcopy_end(h);
    return MF_OK;
}

/* The meters' newest readings, as the stream of agg_status_stage (STATUS_SQL). */
static int build_statuses(struct agg_commit *cm, const struct agg_batch *b, char *errbuf,
                          size_t errlen)
{
    struct mf_buf *c = &cm->copy[COPY_STATUS];
    mf_pgcopy_begin(c);
    for (size_t i = 0; i < b->nstatuses; i++) {
        const struct agg_status *s = &b->statuses[i];
        mf_pgcopy_put_tuple(c, 5);
        mf_pgcopy_put_text(c, s->meter_id);
        mf_pgcopy_put_ts(c, s->ts);
        if (mf_pgcopy_put_f64(c, s->value_kw) != MF_OK) {
            snprintf(errbuf, errlen, "reading of '%s' has a value COPY cannot carry", s->meter_id);
            return MF_EFATAL;
        }
        mf_pgcopy_put_i32(c, s->quality);
        mf_pgcopy_put_text(c, mf_tier_name(s->tier));
    }
    mf_pgcopy_end(c);
    return MF_OK;
}

/*
 * A statement's array parameters are built side by side, an element per
 * row in each: arrays_open empties the first n and opens them, the rows
 * append "<sep><value>", arrays_close closes them ("{a,b,...}").
 */
static void arrays_open(struct agg_commit *cm, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        mf_buf_reset(&cm->arr[i]);
        mf_buf_appendc(&cm->arr[i], '{');
    }
}

static void arrays_close(struct agg_commit *cm, size_t n)
{
    for (size_t i = 0; i < n; i++)
        mf_buf_appendc(&cm->arr[i], '}');
}

/*
 * The fence: stores each touched partition's next offset only where the
 * stored one is still what we expect, and takes the rows' locks for the
 * rest of the transaction. Fewer rows back than sent: someone else moved
 * a partition on (a rebalance we have not heard of yet, or our own commit
 * whose answer the connection lost). Then nothing of this batch may be
 * written.
 */
static int fence(struct agg_commit *cm, const struct agg_batch *b, char *errbuf, size_t errlen)
{
    size_t sent = 0;
    arrays_open(cm, 3);
    for (size_t i = 0; i < b->nparts; i++) {
        const struct agg_part_pos *p = &b->parts[i];
        if (p->next < 0)
            continue; /* nothing consumed, nothing stored: nothing to protect */
        const char *sep = sent ? "," : "";
        mf_buf_appendf(&cm->arr[0], "%s%" PRId32, sep, p->part);
        mf_buf_appendf(&cm->arr[1], "%s%" PRId64, sep, p->expect);
        mf_buf_appendf(&cm->arr[2], "%s%" PRId64, sep, p->next);
        sent++;
    }
    arrays_close(cm, 3);
    if (!sent)
        return MF_OK;

    const char *v[5] = {agg_pg_group(cm->pg), agg_pg_topic(cm->pg), cm->arr[0].data,
                        cm->arr[1].data, cm->arr[2].data};
    PGresult *res = agg_pg_exec(
        cm->pg,
        "WITH v AS (SELECT * FROM unnest($3::int[], $4::bigint[], $5::bigint[])"
        " AS v(p, expect, next))"
        " INSERT INTO sink_offsets AS s (consumer_group, topic, partition, next_offset)"
        " SELECT $1, $2, p, next FROM v"
        " ON CONFLICT (consumer_group, topic, partition) DO UPDATE"
        " SET next_offset = EXCLUDED.next_offset"
        " WHERE s.next_offset = (SELECT expect FROM v WHERE v.p = s.partition)"
        " RETURNING partition",
        5, v, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return agg_pg_fail(cm->pg, res, "storing sink_offsets", errbuf, errlen);
    size_t got = (size_t)PQntuples(res);
    PQclear(res);
    if (got != sent) {
        snprintf(errbuf, errlen,
                 "fenced: sink_offsets of %zu partition(s) moved since we loaded them", sent - got);
        return MF_ERETRY;
    }
    return MF_OK;
}

/* Publishes closes[i], a window closed by this batch, from the content the state holds. */
static int push_closed(const struct agg_close *closes, size_t i, struct agg_rows *out, char *errbuf,
                       size_t errlen)
{
    if (closes[i].acc.count <= 0) { /* open windows are loaded or merged with their content */
        snprintf(errbuf, errlen, "window of '%s' to close has no content in memory",
                 closes[i].meter_id);
        return MF_EFATAL;
    }
    agg_row_from_close(agg_rows_push(out), closes, i);
    return MF_OK;
}

/*
 * The 1-minute windows the watermark closes that no merge of the batch
 * closed, by their keys (the statement closes open rows from before 011
 * with an UPDATE): while such rows exist (cm->legacy).
 */
static int close_minutes_by_keys(struct agg_commit *cm, const struct agg_batch *b, char *errbuf,
                                 size_t errlen)
{
    char ts[MF_TIME_STRLEN];
    size_t k = 0;
    arrays_open(cm, 3);
    for (size_t i = 0; i < b->ncloses; i++) {
        const struct agg_close *c = &b->closes[i];
        if (agg_key_width(c->key) != AGG_W1M || !agg_close_from_memory(c))
            continue; /* merged: the merge closed it */
        if (k++) {
            for (int a = 0; a < 3; a++)
                mf_buf_appendc(&cm->arr[a], ',');
        }
        mf_time_format(agg_key_start(c->key), ts);
        /*
         * Meter IDs are [A-Za-z0-9._:-] (checked at parse): quoted, nothing
         * to escape. Plain appends, not printf.
         */
        mf_buf_appendc(&cm->arr[0], '"');
        mf_buf_appends(&cm->arr[0], c->meter_id);
        mf_buf_appendc(&cm->arr[0], '"');
        mf_buf_appends(&cm->arr[1], ts);
        mf_json_int(&cm->arr[2], c->part);
    }
    arrays_close(cm, 3);
    if (!k)
        return MF_OK;
    const char *v[4] = {agg_pg_group(cm->pg), cm->arr[0].data, cm->arr[1].data, cm->arr[2].data};
    PGresult *res = agg_pg_exec(cm->pg, cm->close_sql[AGG_W1M].data, 4, v, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return agg_pg_fail(cm->pg, res, "closing windows", errbuf, errlen);
    PQclear(res);
    return MF_OK;
}

/* Widens partition part's closed span to take window_start start in. */
static void span_add(struct agg_commit *cm, int32_t part, int64_t start)
{
    for (size_t i = cm->nspans; i-- > 0;) {
        struct span *sp = &cm->spans[i];
        if (sp->part != part)
            continue;
        sp->first = start < sp->first ? start : sp->first;
        sp->last = start > sp->last ? start : sp->last;
        return;
    }
    if (cm->nspans == cm->spans_cap) {
        cm->spans_cap = cm->spans_cap ? 2 * cm->spans_cap : 16;
        cm->spans = mf_xrealloc(cm->spans, cm->spans_cap * sizeof *cm->spans);
    }
    cm->spans[cm->nspans++] = (struct span){part, start, start};
}

/*
 * The 1-minute windows the watermark closes that no merge of the batch
 * closed: nothing is written to their rows (011), they are published from
 * the content the state holds, and the outbox takes them as one span of
 * window_start per partition (013; stored with the watermark, in
 * store_positions), or, while rows from before 011 are open, by their keys
 * (close_minutes_by_keys, after the merges). No statement here.
 */
static int close_minutes(struct agg_commit *cm, const struct agg_batch *b, struct agg_rows *out,
                         char *errbuf, size_t errlen)
{
    cm->nspans = 0;
    for (size_t i = 0; i < b->ncloses; i++) {
        const struct agg_close *c = &b->closes[i];
        if (agg_key_width(c->key) != AGG_W1M || !agg_close_from_memory(c))
            continue;
        if (!cm->legacy)
            span_add(cm, c->part, agg_key_start(c->key));
        int rc = push_closed(b->closes, i, out, errbuf, errlen);
        if (rc != MF_OK)
            return rc;
    }
    return MF_OK;
}

/*
 * The 1-hour windows the watermark closes (012): each written once, with
 * its whole content from memory, and published from it. Late data into an
 * hour closed before is the merge's (upserted).
 */
static int close_hours(struct agg_commit *cm, const struct agg_batch *b, struct agg_rows *out,
                       char *errbuf, size_t errlen)
{
    size_t n = 0;
    struct mf_buf *copy = &cm->copy[COPY_HOURS];
    mf_pgcopy_begin(copy);
    for (size_t i = 0; i < b->ncloses; i++) {
        const struct agg_close *c = &b->closes[i];
        if (agg_key_width(c->key) != AGG_W1H || !agg_close_from_memory(c))
            continue;
        int rc = put_stage_row(copy, AGG_W1H, c->part, c->meter_id, c->key, &c->acc, true, false,
                               false, errbuf, errlen);
        if (rc != MF_OK)
            return rc;
        n++;
    }
    mf_pgcopy_end(copy);
    if (!n)
        return MF_OK;
    int rc = copy_in(cm, copy, "COPY agg_hour_stage " STAGE_COLUMNS " FROM STDIN (FORMAT binary)",
                     errbuf, errlen);
    if (rc != MF_OK)
        return rc;
    const char *v[1] = {agg_pg_group(cm->pg)};
    PGresult *res = agg_pg_exec(cm->pg, cm->close_sql[AGG_W1H].data, 1, v, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return agg_pg_fail(cm->pg, res, "writing the closing hours", errbuf, errlen);
    long long wrote = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : -1;
    PQclear(res);
    if (wrote != (long long)n) {
        snprintf(errbuf, errlen, "closing %zu hours: %lld written, the others were closed already",
                 n, wrote);
        return MF_ERETRY;
    }
    for (size_t i = 0; i < b->ncloses; i++) {
        const struct agg_close *c = &b->closes[i];
        if (agg_key_width(c->key) != AGG_W1H || !agg_close_from_memory(c))
            continue;
        if ((rc = push_closed(b->closes, i, out, errbuf, errlen)) != MF_OK)
            return rc;
    }
    return MF_OK;
}

/* Source positions, watermarks and the 1-minute spans closed, in one statement. */
static int store_positions(struct agg_commit *cm, const struct agg_batch *b, char *errbuf,
                           size_t errlen)
{
    arrays_open(cm, MF_ARRAY_LEN(cm->arr));
    for (size_t i = 0; i < b->nsrcs; i++) {
        const struct agg_src_pos *s = &b->srcs[i];
        const char *sep = i ? "," : "";
        mf_buf_appendf(&cm->arr[0], "%s%" PRId32, sep, s->part);
        mf_buf_appendf(&cm->arr[1], "%s%" PRId32, sep, s->src.p);
        mf_buf_appendf(&cm->arr[2], "%s%" PRId64, sep, s->src.o);
        mf_buf_appendf(&cm->arr[3], "%s%" PRId32, sep, s->src.i);
    }
    size_t k = 0;
    for (size_t i = 0; i < b->nparts; i++) {
        if (b->parts[i].wm == AGG_WM_NONE)
            continue;
        const char *sep = k++ ? "," : "";
        mf_buf_appendf(&cm->arr[4], "%s%" PRId32, sep, b->parts[i].part);
        mf_buf_appendf(&cm->arr[5], "%s%" PRId64, sep, b->parts[i].wm);
    }
    for (size_t i = 0; i < cm->nspans; i++) {
        const char *sep = i ? "," : "";
        mf_buf_appendf(&cm->arr[6], "%s%" PRId32, sep, cm->spans[i].part);
        mf_buf_appendf(&cm->arr[7], "%s%" PRId64, sep, cm->spans[i].first);
        mf_buf_appendf(&cm->arr[8], "%s%" PRId64, sep, cm->spans[i].last);
    }
    arrays_close(cm, MF_ARRAY_LEN(cm->arr));
    if (!b->nsrcs && !k && !cm->nspans)
        return MF_OK;
    const char *v[10] = {agg_pg_group(cm->pg)};
    for (size_t i = 0; i < MF_ARRAY_LEN(cm->arr); i++)
        v[1 + i] = cm->arr[i].data;
    return agg_pg_run(cm->pg, cm->positions_sql.data, 10, v,
                      "storing source_positions, agg_watermarks, agg_outbox_ranges", errbuf,
                      errlen);
}

/*
 * meter_current_status from the staged newest readings. Late readings must
 * not replace a newer status (005). Nearly every meter of a batch has its
 * row already: a plain UPDATE ... FROM the stage costs about half an
 * INSERT ... ON CONFLICT (10,000 rows: 20-29 ms against 51-55 in
 * alternating runs), and only the meters without a row are inserted (an
 * anti-join probe each; ON CONFLICT stays as the guard). When the UPDATE
 * wrote every staged meter (one row each: the stage holds a meter once),
 * none is left to insert and that statement is not sent (~4 ms a batch).
 */
static int store_statuses(struct agg_commit *cm, size_t staged, char *errbuf, size_t errlen)
{
    PGresult *res = agg_pg_exec(
        cm->pg,
        "UPDATE meter_current_status AS c SET ts = s.ts, value_kw = s.value_kw,"
        " quality = s.quality, tier = s.tier, updated_at = now()"
        " FROM agg_status_stage s WHERE c.meter_id = s.meter_id AND c.ts <= s.ts",
        0, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return agg_pg_fail(cm->pg, res, "updating meter_current_status", errbuf, errlen);
    unsigned long long updated = strtoull(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    if (updated == staged)
        return MF_OK;
    return agg_pg_run(
        cm->pg,
        "INSERT INTO meter_current_status AS c (meter_id, ts, value_kw, quality, tier)"
        " SELECT meter_id, ts, value_kw, quality, tier FROM agg_status_stage s"
        " WHERE NOT EXISTS (SELECT 1 FROM meter_current_status o WHERE o.meter_id = s.meter_id)"
        " ON CONFLICT (meter_id) DO UPDATE SET ts = EXCLUDED.ts,"
        " value_kw = EXCLUDED.value_kw, quality = EXCLUDED.quality,"
        " tier = EXCLUDED.tier, updated_at = now() WHERE c.ts <= EXCLUDED.ts",
        0, NULL, "inserting meter_current_status", errbuf, errlen);
}

int agg_commit_write(struct agg_commit *cm, const struct agg_batch *b, bool clear_owned,
                     const int32_t *owned, size_t nowned, struct agg_rows *out, char *errbuf,
                     size_t errlen)
{
    const char *gv[1] = {agg_pg_group(cm->pg)};
    size_t out_n0 = out->n;
    int rc;

    if (!agg_pg_connected(cm->pg)) {
        snprintf(errbuf, errlen, "not connected to PostgreSQL");
        return MF_ERETRY;
    }
    if ((rc = prepare_session(cm, errbuf, errlen)) != MF_OK)
        return rc;
    if ((rc = agg_pg_run(cm->pg, "BEGIN", 0, NULL, "begin", errbuf, errlen)) != MF_OK)
        goto fail;
    if ((rc = fence(cm, b, errbuf, errlen)) != MF_OK)
        goto fail;
    if (clear_owned && nowned) {
        if ((rc = agg_outbox_clear(cm->pg, owned, nowned, errbuf, errlen)) != MF_OK)
            goto fail;
    }
    /*
     * The new 1-minute windows go first, and while PostgreSQL writes them
     * (the larger part of the commit) the other streams are built and the
     * windows closed from memory are listed: work of this thread that
     * otherwise waits between statements.
     */
    size_t nappend = 0;
    if (b->nentries && (rc = build_appended(cm, b, &nappend, errbuf, errlen)) != MF_OK)
        goto fail;
    if (nappend && (rc = copy_start(cm, &cm->copy[COPY_APPEND], APPEND_SQL, errbuf, errlen)))
        goto fail;
    int built = b->nentries ? build_stage(cm, b, errbuf, errlen) : MF_OK;
    if (built == MF_OK && b->nstatuses)
        built = build_statuses(cm, b, errbuf, errlen);
    if (built == MF_OK)
        built = close_minutes(cm, b, out, errbuf, errlen);
    if (nappend && (rc = copy_result(cm, errbuf, errlen)) != MF_OK)
        goto fail;
    if ((rc = built) != MF_OK)
        goto fail;

    if (b->nentries) {
        rc = copy_in(cm, &cm->copy[COPY_HOUR_PARTS],
                     "COPY agg_hour_parts (meter_id, window_start, count, energy_kwh, quality_sum,"
                     " fresh) FROM STDIN (FORMAT binary)",
                     errbuf, errlen);
        if (rc == MF_OK && cm->staged)
            rc = copy_in(cm, &cm->copy[COPY_STAGE],
                         "COPY agg_stage " STAGE_COLUMNS " FROM STDIN (FORMAT binary)", errbuf,
                         errlen);
        if (rc != MF_OK)
            goto fail;
        for (int w = 0; w < AGG_NWIDTHS; w++) {
            /* At one reading a meter-minute every window is new (appended): nothing to merge,
             * and the statement, which costs ~2 ms with no row, is not sent. */
            if (!cm->merges[w])
                continue;
            PGresult *res = agg_pg_exec(cm->pg, cm->upsert_sql[w].data, 1, gv, 1);
            if (PQresultStatus(res) != PGRES_TUPLES_OK) {
                rc = agg_pg_fail(cm->pg, res, "merging windows", errbuf, errlen);
                goto fail;
            }
            rc = agg_copy_read_rows(res, (enum agg_width)w, AGG_FIRST_REV1, out, errbuf, errlen);
            PQclear(res);
            if (rc != MF_OK)
                goto fail;
        }
    }
    if (cm->legacy && (rc = close_minutes_by_keys(cm, b, errbuf, errlen)) != MF_OK)
        goto fail;
    if ((rc = close_hours(cm, b, out, errbuf, errlen)) != MF_OK)
        goto fail;
    if (b->nstatuses) {
        if ((rc = copy_in(cm, &cm->copy[COPY_STATUS], STATUS_SQL, errbuf, errlen)) != MF_OK)
            goto fail;
        if ((rc = store_statuses(cm, b->nstatuses, errbuf, errlen)) != MF_OK)
            goto fail;
    }
    if ((rc = store_positions(cm, b, errbuf, errlen)) != MF_OK)
        goto fail;
    if (b->nentries && (rc = update_region_load(cm, errbuf, errlen)) != MF_OK)
        goto fail;
    MF_CRASH_POINT("aggregator.batch.staged"); /* everything written, not committed */
    if ((rc = agg_pg_run(cm->pg, "COMMIT", 0, NULL, "commit", errbuf, errlen)) != MF_OK)
        goto fail;
    /*
     * Rows from before 011 are closed by these batches; once none is open,
     * spans. The batch is committed whatever this says: a failure leaves
     * legacy set (keys work either way) and the next statement reports it.
     */
    if (cm->legacy) {
        char ignored[256];
        (void)look_for_legacy(cm, ignored, sizeof ignored);
    }
    return MF_OK;

fail:
    out->n = out_n0;
    agg_pg_rollback(cm->pg);
    return rc;
}
