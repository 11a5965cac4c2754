/*
 * ctl_db: statements and the audit row. Every failure is reported once,
 * here, with what was being done; callers only unwind.
 */
#include "ctl_db.h"

#include <stdlib.h>
#include <string.h>

#include "mf_alloc.h"
#include "mf_pg.h"
#include "mf_common.h"

/* The server's notices (IF NOT EXISTS skips of the migrations) are no operator's business. */
static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

PGconn *ctl_db(struct ctl_ctx *ctx)
{
    char err[512];
    if (ctx->conn)
        return ctx->conn;
    PGconn *c = mf_pg_connect(ctx->cfg->pg_dsn, "meterctl", err, sizeof err);
    if (!c) {
        ctl_fail(ctx, "%s", err);
        return NULL;
    }
    PQsetNoticeProcessor(c, quiet, NULL);
    /* Our tables may be newer than the fleet's pods: apply what is pending, as they do. */
    if (mf_pg_migrate(c, err, sizeof err) < 0) {
        PQfinish(c);
        ctl_fail(ctx, "%s", err);
        return NULL;
    }
    ctx->conn = c;
    return c;
}

PGresult *ctl_db_run(struct ctl_ctx *ctx, const char *what, const char *sql, int nparams,
                     const char *const *params)
{
    PGconn *c = ctl_db(ctx);
    if (!c)
        return NULL;
    PGresult *res = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_COPY_IN)
        return res;
    const char *msg = PQresultErrorMessage(res);
    if (!msg || !msg[0])
        msg = PQerrorMessage(c);
    ctl_fail(ctx, "%s: %.*s", what, (int)strcspn(msg, "\n"), msg);
    PQclear(res);
    return NULL;
}

static int exec_simple(struct ctl_ctx *ctx, const char *what, const char *sql)
{
    PGresult *res = ctl_db_run(ctx, what, sql, 0, NULL);
    if (!res)
        return MF_EFATAL;
    PQclear(res);
    return MF_OK;
}

int ctl_db_begin(struct ctl_ctx *ctx)
{
    return exec_simple(ctx, "begin", "BEGIN");
}

int ctl_db_commit(struct ctl_ctx *ctx)
{
    return exec_simple(ctx, "commit", "COMMIT");
}

void ctl_db_rollback(struct ctl_ctx *ctx)
{
    if (ctx->conn)
        PQclear(PQexec(ctx->conn, "ROLLBACK"));
}

int ctl_audit(struct ctl_ctx *ctx, const char *action, const char *target, const char *detail)
{
    const char *p[] = {ctx->actor, action, target, ctx->why, detail};
    PGresult *res = ctl_db_run(ctx, "audit log",
                               "INSERT INTO audit_log (actor, action, target, why, detail) "
                               "VALUES ($1, $2, $3, $4, $5::jsonb)",
                               5, p);
    if (!res)
        return MF_EFATAL;
    PQclear(res);
    return MF_OK;
}

/* ---------------------------------------------------------------- known names */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *const known_sql[2] = {
    "SELECT name FROM pg_timezone_names",
    "SELECT region FROM meters WHERE region IS NOT NULL "
    "UNION SELECT region FROM feeders WHERE region IS NOT NULL "
    "UNION SELECT region FROM weather_stations WHERE region IS NOT NULL",
};

int ctl_known(void *kp, enum ctl_coltype type, const char *s)
{
    struct ctl_known *k = kp;
    int w = type == CTL_TZ ? 0 : 1;
    if (!k->loaded[w]) {
        k->loaded[w] = 1;
        PGresult *res = ctl_db_run(k->ctx, w ? "reading the regions" : "reading the time zones",
                                   known_sql[w], 0, NULL);
        if (!res) {
            k->failed = 1;
        } else {
            k->n[w] = (size_t)PQntuples(res);
            k->names[w] = mf_xcalloc(k->n[w] ? k->n[w] : 1, sizeof(char *));
            for (size_t i = 0; i < k->n[w]; i++)
                k->names[w][i] = mf_xstrdup(PQgetvalue(res, (int)i, 0));
            qsort(k->names[w], k->n[w], sizeof(char *), cmp_str);
            PQclear(res);
        }
    }
    return k->n[w] && bsearch(&s, k->names[w], k->n[w], sizeof(char *), cmp_str) != NULL;
}

void ctl_known_release(struct ctl_known *k)
{
    for (int w = 0; w < 2; w++) {
        for (size_t i = 0; i < k->n[w]; i++)
            free(k->names[w][i]);
        free(k->names[w]);
    }
    memset(k, 0, sizeof *k);
}
