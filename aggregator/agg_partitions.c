/*
 * agg_partitions: when to call 003's partition functions, and the cache of
 * partitions known to exist.
 */
#include "agg_partitions.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "mf_log.h"
#include "mf_time.h"
#include "mf_common.h"

#define MS_PER_DAY 86400000LL

struct agg_partitions {
    struct agg_pg *pg; /* borrowed */
    /* Partitions known to exist: key = width << 40 | day or month number. */
    int64_t *known;
    size_t nknown, capknown;
};

struct agg_partitions *agg_partitions_new(struct agg_pg *pg)
{
    struct agg_partitions *p = mf_xcalloc(1, sizeof *p);
    p->pg = pg;
    return p;
}

void agg_partitions_destroy(struct agg_partitions *p)
{
    if (!p)
        return;
    free(p->known);
    free(p);
}

static bool known_has(const struct agg_partitions *p, int64_t k)
{
    for (size_t i = 0; i < p->nknown; i++)
        if (p->known[i] == k)
            return true;
    return false;
}

static void known_add(struct agg_partitions *p, int64_t k)
{
    if (p->nknown == p->capknown) {
        p->capknown = p->capknown ? p->capknown * 2 : 64;
        p->known = mf_xrealloc(p->known, p->capknown * sizeof *p->known);
    }
    p->known[p->nknown++] = k;
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

static int ensure_one(struct agg_partitions *p, enum agg_width w, int64_t start, char *errbuf,
                      size_t errlen)
{
    int64_t from;
    int64_t id = part_of(w, start, &from);
    int64_t k = (int64_t)w << 40 | id;
    if (known_has(p, k))
        return MF_OK;
    char ts[MF_TIME_STRLEN];
    mf_time_format(from, ts);
    const char *v[3] = {agg_widths[w].table, ts, ts};
    PGresult *res = agg_pg_exec(p->pg, "SELECT meterflow_ensure_partitions($1, $2, $3)", 3, v, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return agg_pg_fail(p->pg, res, "creating partitions", errbuf, errlen);
    if (strcmp(PQgetvalue(res, 0, 0), "0") != 0)
        MF_LOG_INFO("pg", "created partition of %s for %s", agg_widths[w].table, ts);
    PQclear(res);
    known_add(p, k);
    return MF_OK;
}

int agg_partitions_ensure_for_batch(struct agg_partitions *p, const struct agg_batch *b,
                                    char *errbuf, size_t errlen)
{
    /* Consecutive entries mostly share a partition: skip repeats cheaply. */
    int64_t last[AGG_NWIDTHS] = {-1, -1};
    for (size_t i = 0; i < b->nentries; i++) {
        enum agg_width w = agg_key_width(b->entries[i].key);
        int64_t start = agg_key_start(b->entries[i].key);
        int64_t from, id = part_of(w, start, &from);
        if (id == last[w])
            continue;
        int rc = ensure_one(p, w, start, errbuf, errlen);
        if (rc != MF_OK)
            return rc;
        last[w] = id;
    }
    return MF_OK;
}

int agg_partitions_ensure_ahead(struct agg_partitions *p, int64_t now_ms, int64_t days_ahead,
                                char *errbuf, size_t errlen)
{
    for (int64_t d = 0; d <= days_ahead; d++)
        for (int w = 0; w < AGG_NWIDTHS; w++) {
            int rc = ensure_one(p, (enum agg_width)w, now_ms + d * MS_PER_DAY, errbuf, errlen);
            if (rc != MF_OK)
                return rc;
        }
    return MF_OK;
}

int agg_partitions_drop_before(struct agg_partitions *p, enum agg_width w, int64_t cutoff_ms,
                               char *errbuf, size_t errlen)
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
    if ((rc = agg_pg_run(p->pg, "BEGIN", 0, NULL, "begin", errbuf, errlen)) != MF_OK)
        return rc;
    if ((rc = agg_pg_run(p->pg, "SET LOCAL lock_timeout = '5s'", 0, NULL, "lock_timeout", errbuf,
                         errlen)) != MF_OK)
        goto fail;
    PGresult *res = agg_pg_exec(p->pg, "SELECT meterflow_drop_partitions_before($1, $2)", 2, v, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = agg_pg_fail(p->pg, res, "dropping partitions", errbuf, errlen);
        goto fail;
    }
    dropped = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    /*
     * region_load_1h (009) goes with rollup_1h: a month partition is
     * dropped when its end is at or before the cut-off, so exactly the
     * hours before the cut-off's month are gone.
     */
    if (w == AGG_W1H &&
        (rc = agg_pg_run(p->pg,
                         "DELETE FROM region_load_1h WHERE window_start <"
                         " date_trunc('month', $1::timestamptz AT TIME ZONE 'UTC')"
                         " AT TIME ZONE 'UTC'",
                         1, &v[1], "retention of region_load_1h", errbuf, errlen)) != MF_OK)
        goto fail;
    if ((rc = agg_pg_run(p->pg, "COMMIT", 0, NULL, "commit", errbuf, errlen)) != MF_OK)
        goto fail;
    if (dropped > 0)
        p->nknown = 0; /* some known partitions are gone */
    return dropped;
fail:
    agg_pg_rollback(p->pg);
    return rc;
}
