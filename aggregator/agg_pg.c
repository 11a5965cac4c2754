/*
 * agg_pg: the batch transaction, state loading, the outbox and the
 * partition upkeep, over libpq.
 */
#include "agg_pg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "mf_buf.h"
#include "mf_kafka.h"
#include "mf_log.h"
#include "mf_pg.h"
#include "mf_time.h"
#include "agg_copy.h"
#include "mf_common.h"

#define MS_PER_DAY 86400000LL

/* "(extract(epoch ...) * 1000)::bigint": exact, extract returns numeric since PG 14. */
#define EPOCH_MS(col) "(extract(epoch FROM " col ") * 1000)::bigint"

struct agg_pg {
    char *dsn, *group, *topic;
    PGconn *conn;
    /* Statements built once from constant fragments (agg_funcs columns). */
    struct mf_buf upsert_sql[AGG_NWIDTHS];
    struct mf_buf close_sql[AGG_NWIDTHS];
    struct mf_buf outbox_sql[AGG_NWIDTHS];
    struct mf_buf copy; /* COPY data, reused between batches */
    struct mf_buf a1, a2, a3, a4, a5; /* array parameters, reused */
    /* Partitions known to exist: key = width << 40 | day or month number. */
    int64_t *known;
    size_t nknown, capknown;
};

/* ---------------------------------------------------------------- helpers */

/* Fills errbuf from a failed result, frees it, and classifies the failure. */
static int fail(struct agg_pg *pg, PGresult *res, const char *what, char *errbuf, size_t errlen)
{
    const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(pg->conn);
    snprintf(errbuf, errlen, "%s: %.*s", what, (int)strcspn(msg, "\n"), msg);
    int rc = mf_pg_classify(pg->conn, res);
    PQclear(res);
    if (rc == MF_ERETRY && PQstatus(pg->conn) != CONNECTION_OK)
        agg_pg_disconnect(pg);
    return rc;
}

static PGresult *exec_params(struct agg_pg *pg, const char *sql, int n, const char *const *v)
{
    return PQexecParams(pg->conn, sql, n, NULL, v, NULL, NULL, 0);
}

/* The same with binary results, for agg_copy_read_rows. */
static PGresult *exec_bin(struct agg_pg *pg, const char *sql, int n, const char *const *v)
{
    return PQexecParams(pg->conn, sql, n, NULL, v, NULL, NULL, 1);
}

/* Runs a statement expecting command-ok or tuples; the result is freed. */
static int run(struct agg_pg *pg, const char *sql, int n, const char *const *v, const char *what,
               char *errbuf, size_t errlen)
{
    PGresult *res = exec_params(pg, sql, n, v);
    ExecStatusType s = PQresultStatus(res);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        return fail(pg, res, what, errbuf, errlen);
    PQclear(res);
    return MF_OK;
}

/* "{1,2,3}" of partition numbers (integers only: safe as array text). */
static const char *int_array(struct mf_buf *b, const int32_t *v, size_t n)
{
    mf_buf_reset(b);
    mf_buf_appendc(b, '{');
    for (size_t i = 0; i < n; i++)
        mf_buf_appendf(b, "%s%" PRId32, i ? "," : "", v[i]);
    mf_buf_appendc(b, '}');
    return b->data;
}

static int parse_i64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno)
        return MF_EDATA;
    *out = v;
    return MF_OK;
}

/* ---------------------------------------------------------------- statements */

static void build_sql(struct agg_pg *pg)
{
    for (int w = 0; w < AGG_NWIDTHS; w++) {
        const char *t = agg_widths[w].table, *name = agg_widths[w].name;
        struct mf_buf *b = &pg->upsert_sql[w];

        /*
         * The merge. A window the watermark already passed (closing) is
         * closed by it too: inserted closed with revision 1, or an open
         * row closed 0 -> 1, one write where a merge and then an UPDATE
         * would take two. A row already closed that late data changes
         * gets the next revision. Both go to the outbox and come back
         * (RETURNING sees the row after the update).
         */
        mf_buf_appendf(b, "WITH up AS (INSERT INTO %s AS r (meter_id, window_start, ", t);
        agg_funcs_columns(b, "");
        mf_buf_appends(b, ", closed, revision) SELECT meter_id, window_start, ");
        agg_funcs_columns(b, "");
        mf_buf_appendf(b, ", closing, closing::int FROM agg_stage WHERE width = %d"
                          " ON CONFLICT (meter_id, window_start) DO UPDATE SET ", w);
        agg_funcs_set_list(b);
        mf_buf_appends(b, ", closed = r.closed OR EXCLUDED.closed,"
                          " revision = r.revision + CASE WHEN r.closed THEN 1"
                          " ELSE EXCLUDED.revision END,"
                          " updated_at = now()"
                          " RETURNING meter_id, window_start, closed, revision, ");
        agg_funcs_columns(b, "");
        /*
         * The outbox: the windows this merge closes are known from the stage
         * alone (closing); only late changes to windows closed before
         * (revision 2 and up, not closing) need the stage's partition by a
         * join, and they are few. Joining every closed row back to the stage
         * cost a hash join and an external sort per batch.
         */
        mf_buf_appendf(b, "), ob AS (INSERT INTO agg_outbox_keys"
                          " (consumer_group, partition, width, meter_ids, window_starts)"
                          " SELECT $1, part, '%s', array_agg(meter_id), array_agg(window_start)"
                          " FROM (SELECT part, meter_id, window_start FROM agg_stage"
                          " WHERE width = %d AND closing"
                          " UNION ALL SELECT s.part, up.meter_id, up.window_start"
                          " FROM up JOIN agg_stage s ON s.width = %d AND NOT s.closing"
                          " AND s.meter_id = up.meter_id AND s.window_start = up.window_start"
                          " WHERE up.closed AND up.revision > 1) o GROUP BY part)"
                          " SELECT meter_id, window_start, revision, ",
                       name, w, w);
        agg_funcs_columns(b, "");
        mf_buf_appends(b, " FROM up WHERE closed");

        /*
         * Closing: the keys come as arrays (an unnest is estimated small, so
         * the planner probes the primary key rather than scanning the table).
         * NOT r.closed: a window closed already (late data on it, or another
         * owner during a rebalance) is never closed twice.
         */
        b = &pg->close_sql[w];
        mf_buf_appendf(b, "WITH c AS (UPDATE %s AS r SET closed = true,"
                          " revision = r.revision + 1, updated_at = now()"
                          " FROM unnest($2::text[], $3::timestamptz[], $4::int[])"
                          " AS k(meter_id, window_start, part)"
                          " WHERE r.meter_id = k.meter_id AND r.window_start = k.window_start"
                          " AND NOT r.closed"
                          " RETURNING k.part, r.meter_id, r.window_start, r.revision, ",
                       t);
        agg_funcs_columns(b, "r.");
        mf_buf_appendf(b, "), ob AS (INSERT INTO agg_outbox_keys"
                          " (consumer_group, partition, width, meter_ids, window_starts)"
                          " SELECT $1, part, '%s', array_agg(meter_id), array_agg(window_start)"
                          " FROM c GROUP BY part)"
                          " SELECT meter_id, window_start, revision, ",
                       name);
        agg_funcs_columns(b, "");
        mf_buf_appends(b, " FROM c");

        /*
         * The outbox's keys: agg_outbox_keys (008) and, for rows an older
         * version left behind, agg_outbox (007). A window in both is
         * published twice, which the topics allow (same revision, same row).
         */
        b = &pg->outbox_sql[w];
        mf_buf_appendf(b, "WITH k AS (SELECT k.meter_id, k.window_start FROM agg_outbox_keys o,"
                          " unnest(o.meter_ids, o.window_starts) AS k(meter_id, window_start)"
                          " WHERE o.consumer_group = $1 AND o.partition = ANY($2::int[])"
                          " AND o.width = '%s'"
                          " UNION ALL SELECT meter_id, window_start FROM agg_outbox"
                          " WHERE consumer_group = $1 AND partition = ANY($2::int[])"
                          " AND width = '%s')"
                          " SELECT r.meter_id, r.window_start, r.revision, ",
                       name, name);
        agg_funcs_columns(b, "r.");
        mf_buf_appendf(b, " FROM k JOIN %s r ON r.meter_id = k.meter_id"
                          " AND r.window_start = k.window_start WHERE r.closed",
                       t);
    }
}

struct agg_pg *agg_pg_new(const char *dsn, const char *group, const char *topic)
{
    struct agg_pg *pg = mf_xcalloc(1, sizeof *pg);
    pg->dsn = mf_xstrdup(dsn);
    pg->group = mf_xstrdup(group);
    pg->topic = mf_xstrdup(topic);
    for (int w = 0; w < AGG_NWIDTHS; w++) {
        mf_buf_init(&pg->upsert_sql[w], SIZE_MAX);
        mf_buf_init(&pg->close_sql[w], SIZE_MAX);
        mf_buf_init(&pg->outbox_sql[w], SIZE_MAX);
    }
    mf_buf_init(&pg->copy, SIZE_MAX);
    mf_buf_init(&pg->a1, SIZE_MAX);
    mf_buf_init(&pg->a2, SIZE_MAX);
    mf_buf_init(&pg->a3, SIZE_MAX);
    mf_buf_init(&pg->a4, SIZE_MAX);
    mf_buf_init(&pg->a5, SIZE_MAX);
    build_sql(pg);
    return pg;
}

void agg_pg_destroy(struct agg_pg *pg)
{
    if (!pg)
        return;
    agg_pg_disconnect(pg);
    for (int w = 0; w < AGG_NWIDTHS; w++) {
        mf_buf_release(&pg->upsert_sql[w]);
        mf_buf_release(&pg->close_sql[w]);
        mf_buf_release(&pg->outbox_sql[w]);
    }
    mf_buf_release(&pg->copy);
    mf_buf_release(&pg->a1);
    mf_buf_release(&pg->a2);
    mf_buf_release(&pg->a3);
    mf_buf_release(&pg->a4);
    mf_buf_release(&pg->a5);
    free(pg->known);
    free(pg->dsn);
    free(pg->group);
    free(pg->topic);
    free(pg);
}

/* ---------------------------------------------------------------- connection */

bool agg_pg_connected(const struct agg_pg *pg)
{
    return pg->conn && PQstatus(pg->conn) == CONNECTION_OK;
}

void agg_pg_disconnect(struct agg_pg *pg)
{
    if (pg->conn)
        PQfinish(pg->conn);
    pg->conn = NULL;
}

/* Server notices ("relation already exists, skipping") as debug log lines, not raw stderr. */
static void notice_cb(void *arg, const char *msg)
{
    (void)arg;
    MF_LOG_DEBUG("pg", "%.*s", (int)strcspn(msg, "\n"), msg);
}

int agg_pg_connect(struct agg_pg *pg, char *errbuf, size_t errlen)
{
    if (agg_pg_connected(pg))
        return MF_OK;
    agg_pg_disconnect(pg);
    pg->conn = mf_pg_connect(pg->dsn, "aggregator", errbuf, errlen);
    if (!pg->conn)
        return MF_ERETRY;
    PQsetNoticeProcessor(pg->conn, notice_cb, NULL);
    /*
     * The staging tables live as long as the session; ON COMMIT DELETE ROWS
     * empties them at every commit, so a batch never sees the last one's
     * rows, even after an error. Temp tables are not WAL-logged.
     * synchronous_commit is forced on for this session: the offsets in the
     * batch transaction are the exactly-once record, and we tell Kafka and
     * the rollup topics about a commit as soon as it returns. A server
     * default of off could lose an acknowledged commit in a crash; the
     * rollups would stay consistent with their offsets, but a partition
     * whose first commit was lost would fall back to Kafka's committed
     * offset, which had already moved past it (records skipped), and a
     * published revision could be published again with other content.
     */
    struct mf_buf sql = MF_BUF_INIT;
    mf_buf_appends(&sql, "CREATE TEMP TABLE IF NOT EXISTS agg_stage ("
                         " width smallint NOT NULL, part int NOT NULL, meter_id text NOT NULL,"
                         " window_start timestamptz NOT NULL, count bigint NOT NULL,"
                         " sum_kw float8 NOT NULL, min_kw float8 NOT NULL,"
                         " max_kw float8 NOT NULL, m2 float8 NOT NULL,"
                         " energy_kwh float8 NOT NULL, quality_sum float8 NOT NULL,"
                         " premium bigint NOT NULL, standard bigint NOT NULL,"
                         " interpolated bigint NOT NULL, closing bool NOT NULL)"
                         " ON COMMIT DELETE ROWS;"
                         "CREATE TEMP TABLE IF NOT EXISTS agg_status_stage ("
                         " meter_id text NOT NULL, ts timestamptz NOT NULL,"
                         " value_kw float8 NOT NULL, quality int NOT NULL, tier text NOT NULL)"
                         " ON COMMIT DELETE ROWS;"
                         "SET TimeZone = 'UTC';"
                         "SET synchronous_commit = on");
    int rc = mf_pg_exec(pg->conn, sql.data, errbuf, errlen);
    mf_buf_release(&sql);
    if (rc != MF_OK)
        agg_pg_disconnect(pg);
    return rc;
}

int agg_pg_ping(struct agg_pg *pg, char *errbuf, size_t errlen)
{
    if (!agg_pg_connected(pg)) {
        snprintf(errbuf, errlen, "not connected to PostgreSQL");
        return MF_ERETRY;
    }
    return run(pg, "SELECT 1", 0, NULL, "ping", errbuf, errlen);
}

int agg_pg_migrate(struct agg_pg *pg, char *errbuf, size_t errlen)
{
    int rc = agg_pg_connect(pg, errbuf, errlen);
    if (rc != MF_OK)
        return rc;
    rc = mf_pg_migrate(pg->conn, errbuf, errlen);
    if (rc == MF_ERETRY)
        agg_pg_disconnect(pg);
    return rc;
}

/* ---------------------------------------------------------------- loading */

/*
 * Runs a query whose rows are (partition, bigint) and stores each value at
 * the index of its partition in parts[0..n); partitions without a row keep
 * what out held. MF_OK, or the failure's class with errbuf set.
 */
static int load_per_partition(struct agg_pg *pg, const char *sql, int nparams,
                              const char *const *params, const int32_t *parts, size_t n,
                              int64_t *out, const char *what, char *errbuf, size_t errlen)
{
    PGresult *res = exec_params(pg, sql, nparams, params);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return fail(pg, res, what, errbuf, errlen);
    for (int r = 0; r < PQntuples(res); r++) {
        int64_t p, v;
        if (parse_i64(PQgetvalue(res, r, 0), &p) || parse_i64(PQgetvalue(res, r, 1), &v))
            continue;
        for (size_t i = 0; i < n; i++)
            if (parts[i] == p)
                out[i] = v;
    }
    PQclear(res);
    return MF_OK;
}

int agg_pg_load(struct agg_pg *pg, struct agg_state *st, const int32_t *parts, size_t n,
                int32_t topic_partitions, int64_t now_mono, char *errbuf, size_t errlen)
{
    const char *pv[3] = {pg->group, pg->topic, int_array(&pg->a1, parts, n)};
    const char *qv[2] = {pg->group, pg->a1.data};
    int64_t *offs = mf_xmalloc(n * sizeof *offs), *wms = mf_xmalloc(n * sizeof *wms);
    PGresult *res = NULL;
    int rc = MF_OK;

    for (size_t i = 0; i < n; i++) {
        offs[i] = -1;
        wms[i] = AGG_WM_NONE;
    }

    /* One snapshot for the whole load. */
    if ((rc = run(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL, "begin", errbuf,
                  errlen)) != MF_OK)
        goto out;

    if ((rc = load_per_partition(pg,
                                 "SELECT partition, next_offset FROM sink_offsets"
                                 " WHERE consumer_group = $1 AND topic = $2"
                                 " AND partition = ANY($3::int[])",
                                 3, pv, parts, n, offs, "reading sink_offsets", errbuf,
                                 errlen)) != MF_OK ||
        (rc = load_per_partition(pg,
                                 "SELECT partition, watermark_ms FROM agg_watermarks"
                                 " WHERE consumer_group = $1 AND partition = ANY($2::int[])",
                                 2, qv, parts, n, wms, "reading agg_watermarks", errbuf,
                                 errlen)) != MF_OK)
        goto out;
    for (size_t i = 0; i < n; i++)
        agg_state_assign(st, parts[i], offs[i], wms[i], now_mono);

    res = exec_params(pg,
                      "SELECT partition, src_partition, src_offset, src_index FROM source_positions"
                      " WHERE consumer_group = $1 AND partition = ANY($2::int[])",
                      2, qv);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = fail(pg, res, "reading source_positions", errbuf, errlen);
        res = NULL;
        goto out;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        int64_t p, sp, o, idx;
        if (parse_i64(PQgetvalue(res, r, 0), &p) || parse_i64(PQgetvalue(res, r, 1), &sp) ||
            parse_i64(PQgetvalue(res, r, 2), &o) || parse_i64(PQgetvalue(res, r, 3), &idx))
            continue;
        agg_state_load_src(st, (int32_t)p, (int32_t)sp, o, (int32_t)idx);
    }
    PQclear(res);

    /*
     * Open windows of the fleet (partial index *_open_idx), kept for the
     * meters our partitions own. The fleet holds a few per meter.
     */
    for (int w = 0; w < AGG_NWIDTHS; w++) {
        char sql[160];
        snprintf(sql, sizeof sql,
                 "SELECT meter_id, " EPOCH_MS("window_start") " FROM %s WHERE NOT closed",
                 agg_widths[w].table);
        res = exec_params(pg, sql, 0, NULL);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            rc = fail(pg, res, "reading open windows", errbuf, errlen);
            res = NULL;
            goto out;
        }
        for (int r = 0; r < PQntuples(res); r++) {
            const char *id = PQgetvalue(res, r, 0);
            int64_t start;
            if (parse_i64(PQgetvalue(res, r, 1), &start))
                continue;
            int32_t p = mf_kafka_partition_of(id, strlen(id), topic_partitions);
            if (agg_state_assigned(st, p))
                agg_state_load_open(st, id, p, agg_window_key((enum agg_width)w, start));
        }
        PQclear(res);
    }
    res = NULL;
    rc = run(pg, "COMMIT", 0, NULL, "commit", errbuf, errlen);
out:
    if (rc != MF_OK && agg_pg_connected(pg))
        PQclear(PQexec(pg->conn, "ROLLBACK"));
    PQclear(res);
    free(offs);
    free(wms);
    return rc;
}

/* ---------------------------------------------------------------- outbox */

int agg_pg_outbox_read(struct agg_pg *pg, const int32_t *parts, size_t n, struct agg_rows *out,
                       char *errbuf, size_t errlen)
{
    const char *v[2] = {pg->group, int_array(&pg->a1, parts, n)};
    for (int w = 0; w < AGG_NWIDTHS; w++) {
        PGresult *res = exec_bin(pg, pg->outbox_sql[w].data, 2, v);
        if (PQresultStatus(res) != PGRES_TUPLES_OK)
            return fail(pg, res, "reading agg_outbox", errbuf, errlen);
        int rc = agg_copy_read_rows(res, (enum agg_width)w, AGG_FIRST_NEVER, out, errbuf, errlen);
        PQclear(res);
        if (rc != MF_OK)
            return rc;
    }
    return MF_OK;
}

static const char clear_sql[] =
    "WITH old AS (DELETE FROM agg_outbox WHERE consumer_group = $1 AND partition = ANY($2::int[]))"
    " DELETE FROM agg_outbox_keys WHERE consumer_group = $1 AND partition = ANY($2::int[])";

int agg_pg_outbox_clear(struct agg_pg *pg, const int32_t *parts, size_t n, char *errbuf,
                        size_t errlen)
{
    const char *v[2] = {pg->group, int_array(&pg->a1, parts, n)};
    return run(pg, clear_sql, 2, v, "clearing agg_outbox", errbuf, errlen);
}

/* ---------------------------------------------------------------- the batch */

/* Sends pg->copy as the data of a COPY ... FROM STDIN. */
static int copy_in(struct agg_pg *pg, const char *sql, char *errbuf, size_t errlen)
{
    PGresult *res = PQexec(pg->conn, sql);
    if (PQresultStatus(res) != PGRES_COPY_IN)
        return fail(pg, res, "COPY", errbuf, errlen);
    PQclear(res);
    if (PQputCopyData(pg->conn, pg->copy.data, (int)pg->copy.len) != 1 ||
        PQputCopyEnd(pg->conn, NULL) != 1)
        return fail(pg, NULL, "COPY data", errbuf, errlen);
    res = PQgetResult(pg->conn);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return fail(pg, res, "COPY", errbuf, errlen);
    PQclear(res);
    while ((res = PQgetResult(pg->conn)))
        PQclear(res);
    return MF_OK;
}

static int stage_entries(struct agg_pg *pg, const struct agg_batch *b, char *errbuf,
                         size_t errlen)
{
    agg_copy_begin(&pg->copy);
    for (size_t i = 0; i < b->nentries; i++) {
        const struct agg_entry *e = &b->entries[i];
        agg_copy_put_tuple(&pg->copy, (int16_t)(5 + agg_funcs_count));
        agg_copy_put_i16(&pg->copy, (int16_t)agg_key_width(e->key));
        agg_copy_put_i32(&pg->copy, e->part);
        agg_copy_put_text(&pg->copy, e->meter_id);
        agg_copy_put_ts(&pg->copy, agg_key_start(e->key));
        if (agg_copy_put_acc(&pg->copy, &e->acc) != MF_OK) {
            snprintf(errbuf, errlen, "window of '%s' has a value COPY cannot carry", e->meter_id);
            return MF_EFATAL;
        }
        agg_copy_put_bool(&pg->copy, e->close);
    }
    agg_copy_end(&pg->copy);
    return copy_in(pg,
                   "COPY agg_stage (width, part, meter_id, window_start, count, sum_kw, min_kw,"
                   " max_kw, m2, energy_kwh, quality_sum, premium, standard, interpolated, closing)"
                   " FROM STDIN (FORMAT binary)",
                   errbuf, errlen);
}

static int stage_statuses(struct agg_pg *pg, const struct agg_batch *b, char *errbuf,
                          size_t errlen)
{
    agg_copy_begin(&pg->copy);
    for (size_t i = 0; i < b->nstatuses; i++) {
        const struct agg_status *s = &b->statuses[i];
        agg_copy_put_tuple(&pg->copy, 5);
        agg_copy_put_text(&pg->copy, s->meter_id);
        agg_copy_put_ts(&pg->copy, s->ts);
        if (agg_copy_put_f64(&pg->copy, s->value_kw) != MF_OK) {
            snprintf(errbuf, errlen, "reading of '%s' has a value COPY cannot carry", s->meter_id);
            return MF_EFATAL;
        }
        agg_copy_put_i32(&pg->copy, s->quality);
        agg_copy_put_text(&pg->copy, agg_tier_name(s->tier));
    }
    agg_copy_end(&pg->copy);
    return copy_in(pg,
                   "COPY agg_status_stage (meter_id, ts, value_kw, quality, tier)"
                   " FROM STDIN (FORMAT binary)",
                   errbuf, errlen);
}

/*
 * The fence: stores each touched partition's next offset only where the
 * stored one is still what we expect, and takes the rows' locks for the
 * rest of the transaction. Fewer rows back than sent: someone else moved
 * a partition on (a rebalance we have not heard of yet, or our own commit
 * whose answer the connection lost). Then nothing of this batch may be
 * written.
 */
static int fence(struct agg_pg *pg, const struct agg_batch *b, char *errbuf, size_t errlen)
{
    size_t sent = 0;
    mf_buf_reset(&pg->a2);
    mf_buf_reset(&pg->a3);
    mf_buf_reset(&pg->a4);
    mf_buf_appendc(&pg->a2, '{');
    mf_buf_appendc(&pg->a3, '{');
    mf_buf_appendc(&pg->a4, '{');
    for (size_t i = 0; i < b->nparts; i++) {
        const struct agg_part_pos *p = &b->parts[i];
        if (p->next < 0)
            continue; /* nothing consumed, nothing stored: nothing to protect */
        const char *sep = sent ? "," : "";
        mf_buf_appendf(&pg->a2, "%s%" PRId32, sep, p->part);
        mf_buf_appendf(&pg->a3, "%s%" PRId64, sep, p->expect);
        mf_buf_appendf(&pg->a4, "%s%" PRId64, sep, p->next);
        sent++;
    }
    mf_buf_appendc(&pg->a2, '}');
    mf_buf_appendc(&pg->a3, '}');
    mf_buf_appendc(&pg->a4, '}');
    if (!sent)
        return MF_OK;

    const char *v[5] = {pg->group, pg->topic, pg->a2.data, pg->a3.data, pg->a4.data};
    PGresult *res = exec_params(
        pg,
        "WITH v AS (SELECT * FROM unnest($3::int[], $4::bigint[], $5::bigint[])"
        " AS v(p, expect, next))"
        " INSERT INTO sink_offsets AS s (consumer_group, topic, partition, next_offset)"
        " SELECT $1, $2, p, next FROM v"
        " ON CONFLICT (consumer_group, topic, partition) DO UPDATE"
        " SET next_offset = EXCLUDED.next_offset"
        " WHERE s.next_offset = (SELECT expect FROM v WHERE v.p = s.partition)"
        " RETURNING partition",
        5, v);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return fail(pg, res, "storing sink_offsets", errbuf, errlen);
    size_t got = (size_t)PQntuples(res);
    PQclear(res);
    if (got != sent) {
        snprintf(errbuf, errlen,
                 "fenced: sink_offsets of %zu partition(s) moved since we loaded them", sent - got);
        return MF_ERETRY;
    }
    return MF_OK;
}

static int close_windows(struct agg_pg *pg, const struct agg_batch *b, enum agg_width w,
                         struct agg_rows *out, char *errbuf, size_t errlen)
{
    char ts[MF_TIME_STRLEN];
    size_t k = 0;
    mf_buf_reset(&pg->a2);
    mf_buf_reset(&pg->a3);
    mf_buf_reset(&pg->a4);
    mf_buf_appendc(&pg->a2, '{');
    mf_buf_appendc(&pg->a3, '{');
    mf_buf_appendc(&pg->a4, '{');
    for (size_t i = 0; i < b->ncloses; i++) {
        const struct agg_close *c = &b->closes[i];
        if (agg_key_width(c->key) != w || c->merged)
            continue; /* merged: the merge closed it */
        const char *sep = k++ ? "," : "";
        mf_time_format(agg_key_start(c->key), ts);
        /* Meter IDs are [A-Za-z0-9._:-] (checked at parse): quoted, nothing to escape. */
        mf_buf_appendf(&pg->a2, "%s\"%s\"", sep, c->meter_id);
        mf_buf_appendf(&pg->a3, "%s%s", sep, ts);
        mf_buf_appendf(&pg->a4, "%s%" PRId32, sep, c->part);
    }
    mf_buf_appendc(&pg->a2, '}');
    mf_buf_appendc(&pg->a3, '}');
    mf_buf_appendc(&pg->a4, '}');
    if (!k)
        return MF_OK;
    const char *v[4] = {pg->group, pg->a2.data, pg->a3.data, pg->a4.data};
    PGresult *res = exec_bin(pg, pg->close_sql[w].data, 4, v);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return fail(pg, res, "closing windows", errbuf, errlen);
    int rc = agg_copy_read_rows(res, w, AGG_FIRST_ALWAYS, out, errbuf, errlen);
    PQclear(res);
    return rc;
}

static int store_positions(struct agg_pg *pg, const struct agg_batch *b, char *errbuf,
                           size_t errlen)
{
    if (b->nsrcs) {
        mf_buf_reset(&pg->a2);
        mf_buf_reset(&pg->a3);
        mf_buf_reset(&pg->a4);
        mf_buf_reset(&pg->a5);
        for (size_t i = 0; i < b->nsrcs; i++) {
            const struct agg_src_pos *s = &b->srcs[i];
            const char *sep = i ? "," : "{";
            mf_buf_appendf(&pg->a2, "%s%" PRId32, sep, s->part);
            mf_buf_appendf(&pg->a3, "%s%" PRId32, sep, s->src_p);
            mf_buf_appendf(&pg->a4, "%s%" PRId64, sep, s->o);
            mf_buf_appendf(&pg->a5, "%s%" PRId32, sep, s->i);
        }
        mf_buf_appendc(&pg->a2, '}');
        mf_buf_appendc(&pg->a3, '}');
        mf_buf_appendc(&pg->a4, '}');
        mf_buf_appendc(&pg->a5, '}');
        const char *v[5] = {pg->group, pg->a2.data, pg->a3.data, pg->a4.data, pg->a5.data};
        int rc = run(pg,
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
    mf_buf_reset(&pg->a2);
    mf_buf_reset(&pg->a3);
    for (size_t i = 0; i < b->nparts; i++) {
        if (b->parts[i].wm == AGG_WM_NONE)
            continue;
        const char *sep = k++ ? "," : "{";
        mf_buf_appendf(&pg->a2, "%s%" PRId32, sep, b->parts[i].part);
        mf_buf_appendf(&pg->a3, "%s%" PRId64, sep, b->parts[i].wm);
    }
    if (!k)
        return MF_OK;
    mf_buf_appendc(&pg->a2, '}');
    mf_buf_appendc(&pg->a3, '}');
    const char *v[3] = {pg->group, pg->a2.data, pg->a3.data};
    return run(pg,
               "INSERT INTO agg_watermarks (consumer_group, partition, watermark_ms)"
               " SELECT $1, * FROM unnest($2::int[], $3::bigint[])"
               " ON CONFLICT (consumer_group, partition) DO UPDATE"
               " SET watermark_ms = greatest(agg_watermarks.watermark_ms, EXCLUDED.watermark_ms),"
               " updated_at = now()",
               3, v, "storing agg_watermarks", errbuf, errlen);
}

int agg_pg_commit(struct agg_pg *pg, const struct agg_batch *b, bool clear_owned,
                  const int32_t *owned, size_t nowned, struct agg_rows *out, char *errbuf,
                  size_t errlen)
{
    const char *gv[1] = {pg->group};
    size_t out_n0 = out->n;
    int rc;

    if (!agg_pg_connected(pg)) {
        snprintf(errbuf, errlen, "not connected to PostgreSQL");
        return MF_ERETRY;
    }
    if ((rc = run(pg, "BEGIN", 0, NULL, "begin", errbuf, errlen)) != MF_OK)
        goto fail;
    if ((rc = fence(pg, b, errbuf, errlen)) != MF_OK)
        goto fail;
    if (clear_owned && nowned) {
        const char *v[2] = {pg->group, int_array(&pg->a1, owned, nowned)};
        if ((rc = run(pg, clear_sql, 2, v, "clearing agg_outbox", errbuf, errlen)) != MF_OK)
            goto fail;
    }
    if (b->nentries) {
        if ((rc = stage_entries(pg, b, errbuf, errlen)) != MF_OK)
            goto fail;
        for (int w = 0; w < AGG_NWIDTHS; w++) {
            PGresult *res = exec_bin(pg, pg->upsert_sql[w].data, 1, gv);
            if (PQresultStatus(res) != PGRES_TUPLES_OK) {
                rc = fail(pg, res, "merging windows", errbuf, errlen);
                goto fail;
            }
            rc = agg_copy_read_rows(res, (enum agg_width)w, AGG_FIRST_REV1, out, errbuf, errlen);
            PQclear(res);
            if (rc != MF_OK)
                goto fail;
        }
    }
    for (int w = 0; w < AGG_NWIDTHS; w++)
        if ((rc = close_windows(pg, b, (enum agg_width)w, out, errbuf, errlen)) != MF_OK)
            goto fail;
    if (b->nstatuses) {
        if ((rc = stage_statuses(pg, b, errbuf, errlen)) != MF_OK)
            goto fail;
        /* Late readings must not replace a newer status (005). */
        rc = run(pg,
                 "INSERT INTO meter_current_status AS c (meter_id, ts, value_kw, quality, tier)"
                 " SELECT meter_id, ts, value_kw, quality, tier FROM agg_status_stage"
                 " ON CONFLICT (meter_id) DO UPDATE SET ts = EXCLUDED.ts,"
                 " value_kw = EXCLUDED.value_kw, quality = EXCLUDED.quality,"
                 " tier = EXCLUDED.tier, updated_at = now() WHERE c.ts <= EXCLUDED.ts",
                 0, NULL, "upserting meter_current_status", errbuf, errlen);
        if (rc != MF_OK)
            goto fail;
    }
    if ((rc = store_positions(pg, b, errbuf, errlen)) != MF_OK)
        goto fail;
    if ((rc = run(pg, "COMMIT", 0, NULL, "commit", errbuf, errlen)) != MF_OK)
        goto fail;
    return MF_OK;

fail:
    out->n = out_n0;
    if (agg_pg_connected(pg))
        PQclear(PQexec(pg->conn, "ROLLBACK"));
    return rc;
}

/* ---------------------------------------------------------------- partitions */

static bool known_has(const struct agg_pg *pg, int64_t k)
{
    for (size_t i = 0; i < pg->nknown; i++)
        if (pg->known[i] == k)
            return true;
    return false;
}

static void known_add(struct agg_pg *pg, int64_t k)
{
    if (pg->nknown == pg->capknown) {
        pg->capknown = pg->capknown ? pg->capknown * 2 : 64;
        pg->known = mf_xrealloc(pg->known, pg->capknown * sizeof *pg->known);
    }
    pg->known[pg->nknown++] = k;
}

/* The partition a window start falls in: its day (1m) or month (1h), as a number and its start. */
static int64_t part_of(enum agg_width w, int64_t start, int64_t *from_ms)
{
    int64_t day = start / MS_PER_DAY;
    if (w == AGG_W1M) {
        *from_ms = day * MS_PER_DAY;
        return day;
    }
    int64_t y;
    unsigned m, d;
    mf_civil_from_days(day, &y, &m, &d);
    *from_ms = mf_days_from_civil(y, m, 1) * MS_PER_DAY;
    return y * 12 + (int64_t)m - 1;
}

static int ensure_one(struct agg_pg *pg, enum agg_width w, int64_t start, char *errbuf,
                      size_t errlen)
{
    int64_t from;
    int64_t id = part_of(w, start, &from);
    int64_t k = (int64_t)w << 40 | id;
    if (known_has(pg, k))
        return MF_OK;
    char ts[MF_TIME_STRLEN];
    mf_time_format(from, ts);
    const char *v[3] = {agg_widths[w].table, ts, ts};
    PGresult *res = exec_params(pg, "SELECT meterflow_ensure_partitions($1, $2, $3)", 3, v);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return fail(pg, res, "creating partitions", errbuf, errlen);
    if (strcmp(PQgetvalue(res, 0, 0), "0") != 0)
        MF_LOG_INFO("pg", "created partition of %s for %s", agg_widths[w].table, ts);
    PQclear(res);
    known_add(pg, k);
    return MF_OK;
}

int agg_pg_ensure_for_batch(struct agg_pg *pg, const struct agg_batch *b, char *errbuf,
                            size_t errlen)
{
    /* Consecutive entries mostly share a partition: skip repeats cheaply. */
    int64_t last[AGG_NWIDTHS] = {-1, -1};
    for (size_t i = 0; i < b->nentries; i++) {
        enum agg_width w = agg_key_width(b->entries[i].key);
        int64_t start = agg_key_start(b->entries[i].key);
        int64_t from, id = part_of(w, start, &from);
        if (id == last[w])
            continue;
        int rc = ensure_one(pg, w, start, errbuf, errlen);
        if (rc != MF_OK)
            return rc;
        last[w] = id;
    }
    return MF_OK;
}

int agg_pg_ensure_ahead(struct agg_pg *pg, int64_t now_ms, int64_t days_ahead, char *errbuf,
                        size_t errlen)
{
    for (int64_t d = 0; d <= days_ahead; d++)
        for (int w = 0; w < AGG_NWIDTHS; w++) {
            int rc = ensure_one(pg, (enum agg_width)w, now_ms + d * MS_PER_DAY, errbuf, errlen);
            if (rc != MF_OK)
                return rc;
        }
    return MF_OK;
}

int agg_pg_drop_before(struct agg_pg *pg, enum agg_width w, int64_t cutoff_ms, char *errbuf,
                       size_t errlen)
{
    char ts[MF_TIME_STRLEN];
    mf_time_format(cutoff_ms, ts);
    const char *v[2] = {agg_widths[w].table, ts};
    int dropped = 0, rc;
    /*
     * Its own transaction with a lock timeout: DROP wants ACCESS EXCLUSIVE
     * on the parent, and waiting behind an analyst's long query would stall
     * our own writes queued behind us. We try again next round.
     */
    if ((rc = run(pg, "BEGIN", 0, NULL, "begin", errbuf, errlen)) != MF_OK)
        return rc;
    if ((rc = run(pg, "SET LOCAL lock_timeout = '5s'", 0, NULL, "lock_timeout", errbuf,
                  errlen)) != MF_OK)
        goto fail;
    PGresult *res = exec_params(pg, "SELECT meterflow_drop_partitions_before($1, $2)", 2, v);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = fail(pg, res, "dropping partitions", errbuf, errlen);
        goto fail;
    }
    dropped = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    if ((rc = run(pg, "COMMIT", 0, NULL, "commit", errbuf, errlen)) != MF_OK)
        goto fail;
    if (dropped > 0)
        pg->nknown = 0; /* some known partitions are gone */
    return dropped;
fail:
    if (agg_pg_connected(pg))
        PQclear(PQexec(pg->conn, "ROLLBACK"));
    return rc;
}
