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

struct agg_commit {
    struct agg_pg *pg; /* borrowed */
    uint64_t session;  /* agg_pg_session the staging tables were made in; 0: none yet */
    /* Statements built once from constant fragments (agg_funcs columns). */
    struct mf_buf upsert_sql[AGG_NWIDTHS];
    struct mf_buf close_sql[AGG_NWIDTHS]; /* [AGG_W1H]: writing the closing hours (012) */
    struct mf_buf copy;                   /* COPY data, reused between batches */
    struct mf_buf arr[4];                 /* array parameters, reused */
};

/* ---------------------------------------------------------------- statements */

/*
 * region_load_1h (009, quality_sum 040), first half: the batch's hours
 * summed per region into agg_region_stage, from the stage (the batch's
 * part of each hour). A meter counts in an hour once, when its first
 * reading there is written: fresh (no reading of that hour before), or,
 * for late data merged into a closed hour, when the merge created the row
 * (its count is the batch's own; a replay behind the watermark has only
 * late hours). Run after the merges; the probe is made for the few merged
 * rows only.
 * The region is the registry's now; a meter without one is 'unknown'. The
 * stage is written to region_load_1h at the end of the transaction
 * (update_region_load), so the rows every aggregator shares stay locked
 * only for the commit.
 */
static int stage_region_load(struct agg_commit *cm, char *errbuf, size_t errlen)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO agg_region_stage"
             " SELECT coalesce(m.region, 'unknown'), s.window_start,"
             " sum(s.energy_kwh), sum(s.count), count(*) FILTER (WHERE s.fresh OR (s.upsert"
             " AND (SELECT h.count FROM rollup_1h h WHERE h.meter_id = s.meter_id"
             " AND h.window_start = s.window_start) = s.count)), sum(s.quality_sum)"
             " FROM agg_stage s LEFT JOIN meters m ON m.meter_id = s.meter_id"
             " WHERE s.width = %d GROUP BY 1, 2",
             (int)AGG_W1H);
    return agg_pg_run(cm->pg, sql, 0, NULL, "summing the region load", errbuf, errlen);
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
}

struct agg_commit *agg_commit_new(struct agg_pg *pg)
{
    struct agg_commit *cm = mf_xcalloc(1, sizeof *cm);
    cm->pg = pg;
    for (int w = 0; w < AGG_NWIDTHS; w++) {
        mf_buf_init(&cm->upsert_sql[w], SIZE_MAX);
        mf_buf_init(&cm->close_sql[w], SIZE_MAX);
    }
    mf_buf_init(&cm->copy, SIZE_MAX);
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
    mf_buf_release(&cm->copy);
    for (size_t i = 0; i < MF_ARRAY_LEN(cm->arr); i++)
        mf_buf_release(&cm->arr[i]);
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
    "CREATE TEMP TABLE IF NOT EXISTS agg_region_stage ("
    " region text NOT NULL, window_start timestamptz NOT NULL,"
    " energy_kwh float8 NOT NULL, readings bigint NOT NULL, meters int NOT NULL,"
    " quality_sum float8 NOT NULL)"
    " ON COMMIT DELETE ROWS",
    "CREATE TEMP TABLE IF NOT EXISTS agg_status_stage ("
    " meter_id text NOT NULL, ts timestamptz NOT NULL,"
    " value_kw float8 NOT NULL, quality int NOT NULL, tier text NOT NULL)"
    " ON COMMIT DELETE ROWS",
};

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
    cm->session = session;
    return MF_OK;
}

/* ---------------------------------------------------------------- the batch */

/* Sends cm->copy as the data of a COPY ... FROM STDIN. */
static int copy_in(struct agg_commit *cm, const char *sql, char *errbuf, size_t errlen)
{
    PGresult *res = mf_pgcopy_send(agg_pg_conn(cm->pg), sql, &cm->copy);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return agg_pg_fail(cm->pg, res, "COPY", errbuf, errlen);
    PQclear(res);
    return MF_OK;
}

/* A 1-minute window new to PostgreSQL and still open: appended, not merged (append_new). */
static bool appended(const struct agg_entry *e)
{
    return agg_key_width(e->key) == AGG_W1M && e->fresh && !e->close;
}

/*
 * The batch's 1-minute windows that no row can exist for yet (agg_entry
 * fresh) and that stay open: a binary COPY straight into rollup_1m, which
 * routes each row to its day. No staging, no conflict check, no outbox
 * (an open window is published when it closes). A row that does exist
 * after all (a bug) fails the primary key and so the batch: loud, never
 * counted twice.
 */
static int append_new(struct agg_commit *cm, const struct agg_batch *b, char *errbuf, size_t errlen)
{
    size_t n = 0;
    mf_pgcopy_begin(&cm->copy);
    for (size_t i = 0; i < b->nentries; i++) {
        const struct agg_entry *e = &b->entries[i];
        if (!appended(e))
            continue;
        mf_pgcopy_put_tuple(&cm->copy, (int16_t)(5 + agg_funcs_count));
        mf_pgcopy_put_text(&cm->copy, e->meter_id);
        mf_pgcopy_put_ts(&cm->copy, agg_key_start(e->key));
        if (agg_copy_put_acc_rollup(&cm->copy, &e->acc) != MF_OK) {
            snprintf(errbuf, errlen, "window of '%s' has a value COPY cannot carry", e->meter_id);
            return MF_EFATAL;
        }
        mf_pgcopy_put_bool(&cm->copy, false);
        mf_pgcopy_put_i32(&cm->copy, 0);
        mf_pgcopy_put_i32(&cm->copy, e->part);
        n++;
    }
    mf_pgcopy_end(&cm->copy);
    if (!n)
        return MF_OK;
    return copy_in(cm,
                   "COPY rollup_1m (meter_id, window_start, count, sum_kw, min_kw, max_kw, m2,"
                   " energy_kwh, quality_sum, premium, standard, interpolated, closed, revision,"
                   " part) FROM STDIN (FORMAT binary)",
                   errbuf, errlen);
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

/* One agg_stage / agg_hour_stage row (their columns are the same). */
static int put_stage_row(struct agg_commit *cm, enum agg_width w, int32_t part,
                         const char *meter_id, int64_t key, const struct agg_acc *acc, bool closing,
                         bool upsert, bool fresh, char *errbuf, size_t errlen)
{
    mf_pgcopy_put_tuple(&cm->copy, (int16_t)(7 + agg_funcs_count));
    mf_pgcopy_put_i16(&cm->copy, (int16_t)w);
    mf_pgcopy_put_i32(&cm->copy, part);
    mf_pgcopy_put_text(&cm->copy, meter_id);
    mf_pgcopy_put_ts(&cm->copy, agg_key_start(key));
    if (agg_copy_put_acc(&cm->copy, acc) != MF_OK) {
        snprintf(errbuf, errlen, "window of '%s' has a value COPY cannot carry", meter_id);
        return MF_EFATAL;
    }
    mf_pgcopy_put_bool(&cm->copy, closing);
    mf_pgcopy_put_bool(&cm->copy, upsert);
    mf_pgcopy_put_bool(&cm->copy, fresh);
    return MF_OK;
}

#define STAGE_COLUMNS                                                                              \
    "(width, part, meter_id, window_start, count, sum_kw, min_kw, max_kw, m2, energy_kwh,"         \
    " quality_sum, premium, standard, interpolated, closing, upsert, fresh)"

/*
 * Every entry not appended: the 1-minute ones to merge, and every 1-hour
 * partial (the region load sums them; only late ones are merged).
 */
static int stage_entries(struct agg_commit *cm, const struct agg_batch *b, char *errbuf,
                         size_t errlen)
{
    mf_pgcopy_begin(&cm->copy);
    for (size_t i = 0; i < b->nentries; i++) {
        const struct agg_entry *e = &b->entries[i];
        if (appended(e))
            continue;
        int rc = put_stage_row(cm, agg_key_width(e->key), e->part, e->meter_id, e->key, &e->acc,
                               e->close, upserted(e), e->fresh, errbuf, errlen);
        if (rc != MF_OK)
            return rc;
    }
    mf_pgcopy_end(&cm->copy);
    return copy_in(cm, "COPY agg_stage " STAGE_COLUMNS " FROM STDIN (FORMAT binary)", errbuf,
                   errlen);
}

static int stage_statuses(struct agg_commit *cm, const struct agg_batch *b, char *errbuf,
                          size_t errlen)
{
    mf_pgcopy_begin(&cm->copy);
    for (size_t i = 0; i < b->nstatuses; i++) {
        const struct agg_status *s = &b->statuses[i];
        mf_pgcopy_put_tuple(&cm->copy, 5);
        mf_pgcopy_put_text(&cm->copy, s->meter_id);
        mf_pgcopy_put_ts(&cm->copy, s->ts);
        if (mf_pgcopy_put_f64(&cm->copy, s->value_kw) != MF_OK) {
            snprintf(errbuf, errlen, "reading of '%s' has a value COPY cannot carry", s->meter_id);
            return MF_EFATAL;
        }
        mf_pgcopy_put_i32(&cm->copy, s->quality);
        mf_pgcopy_put_text(&cm->copy, mf_tier_name(s->tier));
    }
    mf_pgcopy_end(&cm->copy);
    return copy_in(cm,
                   "COPY agg_status_stage (meter_id, ts, value_kw, quality, tier)"
                   " FROM STDIN (FORMAT binary)",
                   errbuf, errlen);
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

/* Publishes a window closed by this batch from the content the state holds. */
static int push_closed(const struct agg_close *c, enum agg_width w, struct agg_rows *out,
                       char *errbuf, size_t errlen)
{
    if (c->acc.count <= 0) { /* open windows are loaded or merged with their content */
        snprintf(errbuf, errlen, "window of '%s' to close has no content in memory", c->meter_id);
        return MF_EFATAL;
    }
    struct agg_row *row = agg_rows_push(out);
    snprintf(row->meter_id, sizeof row->meter_id, "%s", c->meter_id);
    row->width = w;
    row->start = agg_key_start(c->key);
    row->revision = 1;
    row->first_close = true;
    row->acc = c->acc;
    return MF_OK;
}

/* The 1-minute windows the watermark closes that no merge of the batch closed. */
static int close_minutes(struct agg_commit *cm, const struct agg_batch *b, struct agg_rows *out,
                         char *errbuf, size_t errlen)
{
    char ts[MF_TIME_STRLEN];
    size_t k = 0;
    arrays_open(cm, 3);
    for (size_t i = 0; i < b->ncloses; i++) {
        const struct agg_close *c = &b->closes[i];
        if (agg_key_width(c->key) != AGG_W1M || c->merged)
            continue; /* merged: the merge closed it */
        if (k++) {
            for (int a = 0; a < 3; a++)
                mf_buf_appendc(&cm->arr[a], ',');
        }
        mf_time_format(agg_key_start(c->key), ts);
        /*
         * Meter IDs are [A-Za-z0-9._:-] (checked at parse): quoted, nothing
         * to escape. Plain appends, not printf: ~20,000 keys a batch, on
         * the commit's own time.
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
    for (size_t i = 0; i < b->ncloses; i++) {
        const struct agg_close *c = &b->closes[i];
        if (agg_key_width(c->key) != AGG_W1M || c->merged)
            continue;
        int rc = push_closed(c, AGG_W1M, out, errbuf, errlen);
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
    mf_pgcopy_begin(&cm->copy);
    for (size_t i = 0; i < b->ncloses; i++) {
        const struct agg_close *c = &b->closes[i];
        if (agg_key_width(c->key) != AGG_W1H || c->late)
            continue;
        int rc = put_stage_row(cm, AGG_W1H, c->part, c->meter_id, c->key, &c->acc, true, false,
                               false, errbuf, errlen);
        if (rc != MF_OK)
            return rc;
        n++;
    }
    mf_pgcopy_end(&cm->copy);
    if (!n)
        return MF_OK;
    int rc = copy_in(cm, "COPY agg_hour_stage " STAGE_COLUMNS " FROM STDIN (FORMAT binary)", errbuf,
                     errlen);
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
        if (agg_key_width(c->key) != AGG_W1H || c->late)
            continue;
        if ((rc = push_closed(c, AGG_W1H, out, errbuf, errlen)) != MF_OK)
            return rc;
    }
    return MF_OK;
}

static int store_positions(struct agg_commit *cm, const struct agg_batch *b, char *errbuf,
                           size_t errlen)
{
    if (b->nsrcs) {
        arrays_open(cm, 4);
        for (size_t i = 0; i < b->nsrcs; i++) {
            const struct agg_src_pos *s = &b->srcs[i];
            const char *sep = i ? "," : "";
            mf_buf_appendf(&cm->arr[0], "%s%" PRId32, sep, s->part);
            mf_buf_appendf(&cm->arr[1], "%s%" PRId32, sep, s->src.p);
            mf_buf_appendf(&cm->arr[2], "%s%" PRId64, sep, s->src.o);
            mf_buf_appendf(&cm->arr[3], "%s%" PRId32, sep, s->src.i);
        }
        arrays_close(cm, 4);
        const char *v[5] = {agg_pg_group(cm->pg), cm->arr[0].data, cm->arr[1].data, cm->arr[2].data,
                            cm->arr[3].data};
        int rc = agg_pg_run(
            cm->pg,
            "INSERT INTO source_positions"
            " (consumer_group, partition, src_partition, src_offset, src_index)"
            " SELECT $1, * FROM unnest($2::int[], $3::int[], $4::bigint[], $5::int[])"
            " ON CONFLICT (consumer_group, partition, src_partition) DO UPDATE"
            " SET src_offset = EXCLUDED.src_offset, src_index = EXCLUDED.src_index",
            5, v, "storing source_positions", errbuf, errlen);
        if (rc != MF_OK)
            return rc;
    }

    size_t k = 0;
    arrays_open(cm, 2);
    for (size_t i = 0; i < b->nparts; i++) {
        if (b->parts[i].wm == AGG_WM_NONE)
            continue;
        const char *sep = k++ ? "," : "";
        mf_buf_appendf(&cm->arr[0], "%s%" PRId32, sep, b->parts[i].part);
        mf_buf_appendf(&cm->arr[1], "%s%" PRId64, sep, b->parts[i].wm);
    }
    if (!k)
        return MF_OK;
    arrays_close(cm, 2);
    const char *v[3] = {agg_pg_group(cm->pg), cm->arr[0].data, cm->arr[1].data};
    return agg_pg_run(cm->pg,
                      "INSERT INTO agg_watermarks (consumer_group, partition, watermark_ms)"
                      " SELECT $1, * FROM unnest($2::int[], $3::bigint[])"
                      " ON CONFLICT (consumer_group, partition) DO UPDATE"
                      " SET watermark_ms = greatest(agg_watermarks.watermark_ms,"
                      " EXCLUDED.watermark_ms), updated_at = now()",
                      3, v, "storing agg_watermarks", errbuf, errlen);
}

/*
 * region_load_1h, second half, the last statement before COMMIT: its rows
 * are shared by every aggregator of the group, so they are locked as
 * briefly as possible, and in key order, so two members' batches wait for
 * each other instead of deadlocking.
 */
static int update_region_load(struct agg_commit *cm, char *errbuf, size_t errlen)
{
    return agg_pg_run(cm->pg,
                      "INSERT INTO region_load_1h AS g"
                      " (region, window_start, energy_kwh, readings, meters, quality_sum)"
                      " SELECT * FROM agg_region_stage ORDER BY region, window_start"
                      " ON CONFLICT (region, window_start) DO UPDATE"
                      " SET energy_kwh = g.energy_kwh + EXCLUDED.energy_kwh,"
                      " readings = g.readings + EXCLUDED.readings,"
                      " meters = g.meters + EXCLUDED.meters,"
                      " quality_sum = g.quality_sum + EXCLUDED.quality_sum",
                      0, NULL, "updating region_load_1h", errbuf, errlen);
}

/*
 * meter_current_status from the staged newest readings. Late readings must
 * not replace a newer status (005). Nearly every meter of a batch has its
 * row already: a plain UPDATE ... FROM the stage costs about half an
 * INSERT ... ON CONFLICT (10,000 rows: 20-29 ms against 51-55 in
 * alternating runs), and only the meters without a row are inserted (an
 * anti-join probe each; ON CONFLICT stays as the guard).
 */
static int store_statuses(struct agg_commit *cm, char *errbuf, size_t errlen)
{
    int rc = agg_pg_run(cm->pg,
                        "UPDATE meter_current_status AS c SET ts = s.ts, value_kw = s.value_kw,"
                        " quality = s.quality, tier = s.tier, updated_at = now()"
                        " FROM agg_status_stage s WHERE c.meter_id = s.meter_id AND c.ts <= s.ts",
                        0, NULL, "updating meter_current_status", errbuf, errlen);
    if (rc != MF_OK)
        return rc;
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
    if (b->nentries) {
        if ((rc = append_new(cm, b, errbuf, errlen)) != MF_OK)
            goto fail;
        if ((rc = stage_entries(cm, b, errbuf, errlen)) != MF_OK)
            goto fail;
        for (int w = 0; w < AGG_NWIDTHS; w++) {
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
    if ((rc = close_minutes(cm, b, out, errbuf, errlen)) != MF_OK)
        goto fail;
    if ((rc = close_hours(cm, b, out, errbuf, errlen)) != MF_OK)
        goto fail;
    if (b->nstatuses) {
        if ((rc = stage_statuses(cm, b, errbuf, errlen)) != MF_OK)
            goto fail;
        if ((rc = store_statuses(cm, errbuf, errlen)) != MF_OK)
            goto fail;
    }
    if ((rc = store_positions(cm, b, errbuf, errlen)) != MF_OK)
        goto fail;
    if (b->nentries && (rc = stage_region_load(cm, errbuf, errlen)) != MF_OK)
        goto fail;
    if (b->nentries && (rc = update_region_load(cm, errbuf, errlen)) != MF_OK)
        goto fail;
    MF_CRASH_POINT("aggregator.batch.staged"); /* everything written, not committed */
    if ((rc = agg_pg_run(cm->pg, "COMMIT", 0, NULL, "commit", errbuf, errlen)) != MF_OK)
        goto fail;
    return MF_OK;

fail:
    out->n = out_n0;
    agg_pg_rollback(cm->pg);
    return rc;
}
