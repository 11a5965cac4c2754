/*
 * agg_outbox: the SQL of agg_outbox_keys and agg_outbox_ranges (writing,
 * reading back, clearing) over the agg_pg connection. It keeps no state: the few statements an
 * assignment or an acknowledged batch needs are built when needed.
 */
#include "agg_outbox.h"

#include <stdint.h>

#include "agg_funcs.h"
#include "mf_common.h"

void agg_outbox_append_insert(struct mf_buf *sql, enum agg_width w, const char *from)
{
    mf_buf_appendf(sql,
                   "ob AS (INSERT INTO agg_outbox_keys"
                   " (consumer_group, partition, width, meter_ids, window_starts)"
                   " SELECT $1, part, '%s', array_agg(meter_id), array_agg(window_start)"
                   " FROM %s GROUP BY part)",
                   agg_widths[w].name, from);
}

void agg_outbox_append_range_insert(struct mf_buf *sql, int part, int first, int last)
{
    /* Epoch milliseconds as bigints: no timestamp text to build or parse. */
    mf_buf_appendf(sql,
                   "ob AS (INSERT INTO agg_outbox_ranges"
                   " (consumer_group, partition, first_start, last_start)"
                   " SELECT $1, p, timestamptz 'epoch' + f * interval '1 millisecond',"
                   " timestamptz 'epoch' + l * interval '1 millisecond'"
                   " FROM unnest($%d::int[], $%d::bigint[], $%d::bigint[]) AS x(p, f, l))",
                   part, first, last);
}

/*
 * The windows of width w in the outbox of partitions $2 for group $1, with
 * their rollup rows as agg_copy_read_rows reads them.
 */
static void build_read(struct mf_buf *sql, enum agg_width w)
{
    mf_buf_appendf(sql,
                   "WITH k AS (SELECT k.meter_id, k.window_start FROM agg_outbox_keys o,"
                   " unnest(o.meter_ids, o.window_starts) AS k(meter_id, window_start)"
                   " WHERE o.consumer_group = $1 AND o.partition = ANY($2::int[])"
                   " AND o.width = '%s')"
                   /* A 1-minute row closed by the watermark stores revision 0 (011). */
                   " SELECT r.meter_id, r.window_start, greatest(r.revision, 1), ",
                   agg_widths[w].name);
    agg_funcs_columns(sql, "r.");
    mf_buf_appendf(sql,
                   " FROM k JOIN %s r ON r.meter_id = k.meter_id"
                   /* Every window in the outbox was closed by the batch that wrote it;
                    * a 1-minute one by the watermark (011), its row says nothing. */
                   " AND r.window_start = k.window_start",
                   agg_widths[w].table);
    if (w != AGG_W1M)
        return;
    /*
     * The 1-minute windows the watermark closed (013): the partition's rows
     * in each span, as they are now. The spans' hull as constants (InitPlans)
     * lets the BRIN on window_start and partition pruning find them; joined
     * row by row, the planner scans the whole day.
     */
    mf_buf_appends(sql, " UNION ALL (WITH o AS MATERIALIZED (SELECT partition, first_start,"
                        " last_start FROM agg_outbox_ranges WHERE consumer_group = $1"
                        " AND partition = ANY($2::int[]))"
                        " SELECT r.meter_id, r.window_start, greatest(r.revision, 1), ");
    agg_funcs_columns(sql, "r.");
    mf_buf_appends(sql, " FROM o JOIN rollup_1m r ON r.part = o.partition"
                        " AND r.window_start BETWEEN o.first_start AND o.last_start"
                        " WHERE r.window_start BETWEEN (SELECT min(first_start) FROM o)"
                        " AND (SELECT max(last_start) FROM o))");
}

int agg_outbox_read(struct agg_pg *pg, const int32_t *parts, size_t n, struct agg_rows *out,
                    char *errbuf, size_t errlen)
{
    struct mf_buf arr = MF_BUF_INIT, sql = MF_BUF_INIT;
    const char *v[2] = {agg_pg_group(pg), agg_pg_int_array(&arr, parts, n)};
    int rc = MF_OK;

    for (int w = 0; w < AGG_NWIDTHS && rc == MF_OK; w++) {
        mf_buf_reset(&sql);
        build_read(&sql, (enum agg_width)w);
        PGresult *res = agg_pg_exec(pg, sql.data, 2, v, 1);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            rc = agg_pg_fail(pg, res, "reading agg_outbox_keys", errbuf, errlen);
            break;
        }
        rc = agg_copy_read_rows(res, (enum agg_width)w, AGG_FIRST_NEVER, out, errbuf, errlen);
        PQclear(res);
    }
    mf_buf_release(&sql);
    mf_buf_release(&arr);
    return rc;
}

int agg_outbox_clear(struct agg_pg *pg, const int32_t *parts, size_t n, char *errbuf, size_t errlen)
{
    struct mf_buf arr = MF_BUF_INIT;
    const char *v[2] = {agg_pg_group(pg), agg_pg_int_array(&arr, parts, n)};
    int rc = agg_pg_run(pg,
                        "WITH r AS (DELETE FROM agg_outbox_ranges"
                        " WHERE consumer_group = $1 AND partition = ANY($2::int[]))"
                        " DELETE FROM agg_outbox_keys"
                        " WHERE consumer_group = $1 AND partition = ANY($2::int[])",
                        2, v, "clearing the outbox", errbuf, errlen);
    mf_buf_release(&arr);
    return rc;
}
