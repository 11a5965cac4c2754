/*
 * ctl_maint: maintenance windows. Times are taken as RFC 3339 (any
 * offset) and printed as DESIGN §3's UTC form; the window is [from, to).
 */
#include "ctl_maint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "ctl_db.h"
#include "mf_buf.h"
#include "mf_json.h"
#include "mf_time.h"
#include "mf_common.h"

/* A window as JSON, the same in add's and list's output and the audit rows. */
static void window_json(struct mf_buf *b, const char *id, const char *region, const char *from,
                        const char *to, const char *note)
{
    mf_buf_appendf(b, "{\"id\":%s,\"region\":", id);
    mf_json_str(b, region, strlen(region));
    mf_buf_appendf(b, ",\"from\":\"%s\",\"to\":\"%s\",\"note\":", from, to);
    if (note)
        mf_json_str(b, note, strlen(note));
    else
        mf_buf_appends(b, "null");
    mf_buf_appendc(b, '}');
}

int ctl_maintenance_add(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, const struct ctl_args *a)
{
    const char *region = ctl_opt(cmd, a, "region"), *note = ctl_opt(cmd, a, "note");
    char from[MF_TIME_STRLEN], to[MF_TIME_STRLEN];
    struct ctl_known known = {ctx, {NULL, NULL}, {0, 0}, {0, 0}, 0};
    struct mf_buf detail = MF_BUF_INIT, target = MF_BUF_INIT;
    PGresult *res = NULL;
    int status = CTL_EXIT_FAIL;

    int hf = ctl_time_opt(ctx, cmd, a, "from", from), ht = ctl_time_opt(ctx, cmd, a, "to", to);
    if (hf < 0 || ht < 0)
        return CTL_EXIT_USAGE;
    if (!region || !region[0] || !hf || !ht)
        return ctl_usage(ctx, "--region, --from and --to are required");
    if (strcmp(to, from) <= 0) /* the same fixed-width UTC form sorts as time does */
        return ctl_usage(ctx, "--to %s is not after --from %s", to, from);
    if (!ctl_db(ctx))
        goto out;
    int ok = ctl_known(&known, CTL_REGION, region);
    if (known.failed)
        goto out;
    if (!ok) {
        ctl_fail(ctx, "unknown region '%s' (no meter, feeder or weather station has it)", region);
        goto out;
    }
    if (ctl_db_begin(ctx) != MF_OK)
        goto out;
    const char *p[] = {region, from, to, note};
    if (!(res = ctl_db_run(ctx, "adding the window",
                           "INSERT INTO grid_maintenance (region, from_ts, to_ts, note) "
                           "VALUES ($1, $2, $3, $4) RETURNING id",
                           4, p)))
        goto rollback;
    const char *id = PQgetvalue(res, 0, 0);
    mf_buf_appendf(&target, "grid_maintenance/%s", id);
    window_json(&detail, id, region, from, to, note);
    if (ctl_audit(ctx, "maintenance.add", target.data, detail.data) != MF_OK)
        goto rollback;
    if (ctl_db_commit(ctx) != MF_OK)
        goto rollback;
    if (ctx->json)
        printf("{\"ok\":true,\"window\":%s}\n", detail.data);
    else
        printf("added maintenance window %s: %s %s .. %s\n", id, region, from, to);
    status = CTL_EXIT_OK;
    goto out;
rollback:
    ctl_db_rollback(ctx);
out:
    PQclear(res);
    ctl_known_release(&known);
    mf_buf_release(&detail);
    mf_buf_release(&target);
    return status;
}

int ctl_maintenance_list(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, const struct ctl_args *a)
{
    char from[MF_TIME_STRLEN], to[MF_TIME_STRLEN];
    int hf = ctl_time_opt(ctx, cmd, a, "from", from), ht = ctl_time_opt(ctx, cmd, a, "to", to);
    if (hf < 0 || ht < 0)
        return CTL_EXIT_USAGE;
    const char *p[] = {ctl_opt(cmd, a, "region"), hf ? from : NULL, ht ? to : NULL};
    PGresult *res = ctl_db_run(
        ctx, "listing the windows",
        "SELECT id, region, to_char(from_ts AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
        " to_char(to_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), note"
        "  FROM grid_maintenance"
        " WHERE ($1::text IS NULL OR region = $1)"
        "   AND ($2::timestamptz IS NULL OR to_ts > $2)"
        "   AND ($3::timestamptz IS NULL OR from_ts < $3)"
        " ORDER BY from_ts, id",
        3, p);
    if (!res)
        return CTL_EXIT_FAIL;
    struct mf_buf b = MF_BUF_INIT;
    int n = PQntuples(res);
    if (ctx->json)
        mf_buf_appends(&b, "[");
    else if (n)
        mf_buf_appendf(&b, "%-8s %-16s %-24s %-24s %s\n", "id", "region", "from", "to", "note");
    for (int i = 0; i < n; i++) {
        const char *note = PQgetvalue(res, i, 4);
        if (!ctx->json) {
            mf_buf_appendf(&b, "%-8s %-16s %-24s %-24s %s\n", PQgetvalue(res, i, 0),
                           PQgetvalue(res, i, 1), PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
                           note);
            continue;
        }
        if (i)
            mf_buf_appendc(&b, ',');
        window_json(&b, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
                    PQgetvalue(res, i, 3), PQgetisnull(res, i, 4) ? NULL : note);
    }
    if (ctx->json)
        mf_buf_appends(&b, "]\n");
    else if (!n)
        mf_buf_appends(&b, "no maintenance windows\n");
    fputs(b.data, stdout);
    mf_buf_release(&b);
    PQclear(res);
    return CTL_EXIT_OK;
}

int ctl_maintenance_remove(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, const struct ctl_args *a)
{
    struct mf_buf ids = MF_BUF_INIT, detail = MF_BUF_INIT, target = MF_BUF_INIT;
    PGresult *res = NULL;
    int status = CTL_EXIT_FAIL;
    (void)cmd;

    /* Ids checked before the database: a typo is bad usage, not a failure. */
    if (ctl_parse_ids(ctx, a, "a window id", &ids) != MF_OK) {
        mf_buf_release(&ids);
        return CTL_EXIT_USAGE;
    }
    if (ctl_db_begin(ctx) != MF_OK)
        goto out;
    const char *p[] = {ids.data};
    res = ctl_db_run(
        ctx, "removing the windows",
        "WITH gone AS (DELETE FROM grid_maintenance WHERE id = ANY($1::bigint[])"
        "  RETURNING id, region, from_ts, to_ts, note)"
        " SELECT w.id, g.id IS NOT NULL, g.region,"
        "  to_char(g.from_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
        "  to_char(g.to_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), g.note"
        " FROM (SELECT DISTINCT unnest($1::bigint[]) AS id) w LEFT JOIN gone g USING (id)"
        " ORDER BY w.id",
        1, p);
    if (!res)
        goto rollback;
    for (int i = 0; i < PQntuples(res); i++) {
        if (strcmp(PQgetvalue(res, i, 1), "t") != 0) {
            ctl_fail(ctx, "no maintenance window %s: nothing removed", PQgetvalue(res, i, 0));
            goto rollback;
        }
    }
    /* One audit row per window removed: the log lists each one. */
    for (int i = 0; i < PQntuples(res); i++) {
        const char *id = PQgetvalue(res, i, 0), *region = PQgetvalue(res, i, 2);
        mf_buf_reset(&detail);
        mf_buf_reset(&target);
        mf_buf_appendf(&target, "grid_maintenance/%s", id);
        window_json(&detail, id, region, PQgetvalue(res, i, 3), PQgetvalue(res, i, 4),
                    PQgetisnull(res, i, 5) ? NULL : PQgetvalue(res, i, 5));
        if (ctl_audit(ctx, "maintenance.remove", target.data, detail.data) != MF_OK)
            goto rollback;
    }
    if (ctl_db_commit(ctx) != MF_OK)
        goto rollback;
    if (ctx->json)
        printf("{\"ok\":true,\"removed\":%d}\n", PQntuples(res));
    else
        printf("removed %d maintenance window%s\n", PQntuples(res), PQntuples(res) == 1 ? "" : "s");
    status = CTL_EXIT_OK;
    goto out;
rollback:
    ctl_db_rollback(ctx);
out:
    PQclear(res);
    mf_buf_release(&ids);
    mf_buf_release(&detail);
    mf_buf_release(&target);
    return status;
}
