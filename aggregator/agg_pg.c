/*
 * agg_pg: the connection (and its session), migrations, the load of an
 * assignment's state, and the libpq helpers the storage modules share.
 * The jobs over the connection are agg_commit, agg_outbox, agg_partitions.
 */
#include "agg_pg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_kafka.h"
#include "mf_log.h"
#include "mf_pg.h"
#include "mf_time.h"
#include "agg_copy.h"
#include "agg_funcs.h"
#include "agg_window.h"
#include "mf_common.h"

/* "(extract(epoch ...) * 1000)::bigint": exact, extract returns numeric since PG 14. */
#define EPOCH_MS(col) "(extract(epoch FROM " col ") * 1000)::bigint"

struct agg_pg {
    char *dsn, *group, *topic;
    PGconn *conn;
    uint64_t session;    /* counts connections made */
    struct mf_buf parts; /* partition array parameter, reused */
};

/* ---------------------------------------------------------------- helpers */

const char *agg_pg_group(const struct agg_pg *pg)
{
    return pg->group;
}

const char *agg_pg_topic(const struct agg_pg *pg)
{
    return pg->topic;
}

PGconn *agg_pg_conn(struct agg_pg *pg)
{
    return pg->conn;
}

uint64_t agg_pg_session(const struct agg_pg *pg)
{
    return pg->session;
}

int agg_pg_fail(struct agg_pg *pg, PGresult *res, const char *what, char *errbuf, size_t errlen)
{
    const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(pg->conn);
    snprintf(errbuf, errlen, "%s: %.*s", what, (int)strcspn(msg, "\n"), msg);
    int rc = mf_pg_classify(pg->conn, res);
    PQclear(res);
    if (rc == MF_ERETRY && PQstatus(pg->conn) != CONNECTION_OK)
        agg_pg_disconnect(pg);
    return rc;
}

PGresult *agg_pg_exec(struct agg_pg *pg, const char *sql, int n, const char *const *v,
                      int result_format)
{
    return PQexecParams(pg->conn, sql, n, NULL, v, NULL, NULL, result_format);
}

int agg_pg_run(struct agg_pg *pg, const char *sql, int n, const char *const *v, const char *what,
               char *errbuf, size_t errlen)
{
    PGresult *res = agg_pg_exec(pg, sql, n, v, 0);
    ExecStatusType s = PQresultStatus(res);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        return agg_pg_fail(pg, res, what, errbuf, errlen);
    PQclear(res);
    return MF_OK;
}

void agg_pg_rollback(struct agg_pg *pg)
{
    if (agg_pg_connected(pg))
        PQclear(PQexec(pg->conn, "ROLLBACK"));
}

/* Integers only: safe as array text. */
const char *agg_pg_int_array(struct mf_buf *b, const int32_t *v, size_t n)
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

/* ---------------------------------------------------------------- the handle */

struct agg_pg *agg_pg_new(const char *dsn, const char *group, const char *topic)
{
    struct agg_pg *pg = mf_xcalloc(1, sizeof *pg);
    pg->dsn = mf_xstrdup(dsn);
    pg->group = mf_xstrdup(group);
    pg->topic = mf_xstrdup(topic);
    mf_buf_init(&pg->parts, SIZE_MAX);
    return pg;
}

void agg_pg_destroy(struct agg_pg *pg)
{
    if (!pg)
        return;
    agg_pg_disconnect(pg);
    mf_buf_release(&pg->parts);
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
    pg->session++;
    /*
     * synchronous_commit is forced on for this session: the offsets in the
     * batch transaction are the exactly-once record, and we tell Kafka and
     * the rollup topics about a commit as soon as it returns. A server
     * default of off could lose an acknowledged commit in a crash; the
     * rollups would stay consistent with their offsets, but a partition
     * whose first commit was lost would fall back to Kafka's committed
     * offset, which had already moved past it (records skipped), and a
     * published revision could be published again with other content.
     */
    int rc = mf_pg_exec(pg->conn, "SET TimeZone = 'UTC';SET synchronous_commit = on", errbuf,
                        errlen);
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
    return agg_pg_run(pg, "SELECT 1", 0, NULL, "ping", errbuf, errlen);
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
    PGresult *res = agg_pg_exec(pg, sql, nparams, params, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return agg_pg_fail(pg, res, what, errbuf, errlen);
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
    const char *pv[3] = {pg->group, pg->topic, agg_pg_int_array(&pg->parts, parts, n)};
    const char *qv[2] = {pg->group, pg->parts.data};
    int64_t *offs = mf_xmalloc(n * sizeof *offs), *wms = mf_xmalloc(n * sizeof *wms);
    PGresult *res = NULL;
    int rc = MF_OK;

    for (size_t i = 0; i < n; i++) {
        offs[i] = -1;
        wms[i] = AGG_WM_NONE;
    }

    /* One snapshot for the whole load. */
    if ((rc = agg_pg_run(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL, "begin",
                         errbuf, errlen)) != MF_OK)
        goto out;

    if ((rc = load_per_partition(pg,
                                 "SELECT partition, next_offset FROM sink_offsets"
                                 " WHERE consumer_group = $1 AND topic = $2"
                                 " AND partition = ANY($3::int[])",
                                 3, pv, parts, n, offs, "reading sink_offsets", errbuf, errlen)) !=
            MF_OK ||
        (rc = load_per_partition(pg,
                                 "SELECT partition, watermark_ms FROM agg_watermarks"
                                 " WHERE consumer_group = $1 AND partition = ANY($2::int[])",
                                 2, qv, parts, n, wms, "reading agg_watermarks", errbuf, errlen)) !=
            MF_OK)
        goto out;
    for (size_t i = 0; i < n; i++)
        agg_state_assign(st, parts[i], offs[i], wms[i], now_mono);

    res = agg_pg_exec(pg,
                      "SELECT partition, src_partition, src_offset, src_index FROM source_positions"
                      " WHERE consumer_group = $1 AND partition = ANY($2::int[])",
                      2, qv, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = agg_pg_fail(pg, res, "reading source_positions", errbuf, errlen);
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
     * Open windows of the fleet, kept for the meters our partitions own.
     * The fleet holds a few per meter. 1h (012): the open hours are not
     * stored; the view sums them from the minutes (rollup_1h_open).
     * 1m (011): a row is open while its partition's watermark has not
     * passed its end, so only rows starting after the lowest assigned
     * watermark less a minute can be (window_start range), and rows from
     * before 011 (no part) keep their stored state
     * (rollup_1m_legacy_open_idx); the watermark test is below.
     */
    int64_t low = INT64_MAX;
    for (size_t i = 0; i < n; i++)
        if (wms[i] != AGG_WM_NONE && wms[i] - agg_widths[AGG_W1M].ms < low)
            low = wms[i] - agg_widths[AGG_W1M].ms;
    char lowts[MF_TIME_STRLEN] = "-infinity";
    if (low != INT64_MAX)
        mf_time_format(low, lowts);
    const char *lv[1] = {lowts};
    for (int w = 0; w < AGG_NWIDTHS; w++) {
        /* Binary: the content is kept to publish the window when it closes, exactly. */
        struct mf_buf sql = MF_BUF_INIT;
        mf_buf_appends(&sql, "SELECT meter_id, " EPOCH_MS("window_start") ", ");
        if (w == AGG_W1M)
            mf_buf_appends(&sql, "part IS NULL, ");
        else
            mf_buf_appends(&sql, "true, ");
        agg_funcs_columns(&sql, "");
        if (w == AGG_W1M)
            mf_buf_appends(&sql, " FROM rollup_1m WHERE NOT closed");
        else
            mf_buf_appends(&sql, " FROM rollup_1h_open");
        if (w == AGG_W1M)
            mf_buf_appends(&sql, " AND (part IS NULL OR window_start > $1::timestamptz)");
        res = agg_pg_exec(pg, sql.data, w == AGG_W1M ? 1 : 0, w == AGG_W1M ? lv : NULL, 1);
        mf_buf_release(&sql);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            rc = agg_pg_fail(pg, res, "reading open windows", errbuf, errlen);
            res = NULL;
            goto out;
        }
        if (PQnfields(res) != 3 + (int)agg_funcs_count) {
            snprintf(errbuf, errlen, "reading open windows: %d columns", PQnfields(res));
            rc = MF_EFATAL;
            goto out;
        }
        for (int r = 0; r < PQntuples(res); r++) {
            const char *id = PQgetvalue(res, r, 0);
            const char *vals[16];
            int lens[16];
            MF_ASSERT(agg_funcs_count <= MF_ARRAY_LEN(vals));
            int64_t start;
            struct agg_acc acc;
            for (size_t f = 0; f < agg_funcs_count; f++) {
                vals[f] = PQgetvalue(res, r, 3 + (int)f);
                lens[f] = PQgetlength(res, r, 3 + (int)f);
            }
            if (mf_pgcopy_get_int(PQgetvalue(res, r, 1), PQgetlength(res, r, 1), &start) != MF_OK ||
                PQgetlength(res, r, 2) != 1 || agg_copy_get_acc(&acc, vals, lens) != MF_OK) {
                snprintf(errbuf, errlen, "reading open windows: a bad value in %s",
                         agg_widths[w].table);
                rc = MF_EFATAL;
                goto out;
            }
            int32_t p = mf_kafka_partition_of(id, strlen(id), topic_partitions);
            if (!agg_state_assigned(st, p))
                continue;
            bool stored = PQgetvalue(res, r, 2)[0] != 0;
            int64_t wm = AGG_WM_NONE;
            for (size_t i = 0; i < n; i++)
                if (parts[i] == p)
                    wm = wms[i];
            /* The view's test: closed once the watermark reached its end. */
            if (stored || wm == AGG_WM_NONE || start + agg_widths[w].ms > wm)
                agg_state_load_open(st, id, p, agg_window_key((enum agg_width)w, start), &acc);
        }
        PQclear(res);
    }
    res = NULL;
    rc = agg_pg_run(pg, "COMMIT", 0, NULL, "commit", errbuf, errlen);
out:
    if (rc != MF_OK)
        agg_pg_rollback(pg);
    PQclear(res);
    free(offs);
    free(wms);
    return rc;
}
