/*
 * mf_pg: connect, classify errors, run migrations.
 */
#include "mf_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_log.h"
#include "mf_common.h"

/* An arbitrary constant that names "meterflow migrations" among advisory locks. */
#define MIGRATION_LOCK_KEY 0x6d66736368656d61LL

PGconn *mf_pg_connect(const char *dsn, const char *app, char *errbuf, size_t errlen)
{
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {dsn, "5", app, NULL};
    /* expand_dbname=1: the first value is parsed as a DSN or URI. */
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(c) != CONNECTION_OK) {
        const char *msg = PQerrorMessage(c);
        size_t n = strcspn(msg, "\n");
        snprintf(errbuf, errlen, "cannot connect to PostgreSQL: %.*s", (int)n, msg);
        PQfinish(c);
        return NULL;
    }
    return c;
}

int mf_pg_classify(PGconn *conn, const PGresult *res)
{
    if (PQstatus(conn) != CONNECTION_OK)
        return MF_ERETRY;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    /* Class 08: connection exception; 57P: operator intervention (shutdown);
     * 40001/40P01: serialization failure and deadlock, retried by design. */
    if (state && (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
                  strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0))
        return MF_ERETRY;
    return MF_EFATAL;
}

static int fail_with(PGconn *conn, PGresult *res, const char *what, char *errbuf, size_t errlen)
{
    const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(conn);
    size_t n = strcspn(msg, "\n");
    snprintf(errbuf, errlen, "%s: %.*s", what, (int)n, msg);
    int rc = mf_pg_classify(conn, res);
    PQclear(res);
    return rc;
}

int mf_pg_exec(PGconn *conn, const char *sql, char *errbuf, size_t errlen)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        return fail_with(conn, res, "query failed", errbuf, errlen);
    PQclear(res);
    return MF_OK;
}

/* Applies one migration inside its own transaction; 1 applied, 0 already there. */
static int apply_one(PGconn *conn, const struct mf_migration *m, char *errbuf, size_t errlen)
{
    char lock[128], ver[16];
    const char *params[2];
    int rc;

    if ((rc = mf_pg_exec(conn, "BEGIN", errbuf, errlen)) != MF_OK)
        return rc;
    snprintf(lock, sizeof lock, "SELECT pg_advisory_xact_lock(%lld)", MIGRATION_LOCK_KEY);
    if ((rc = mf_pg_exec(conn, lock, errbuf, errlen)) != MF_OK)
        goto rollback;
    if ((rc = mf_pg_exec(conn,
                         "CREATE TABLE IF NOT EXISTS schema_migrations ("
                         " version int PRIMARY KEY, name text NOT NULL,"
                         " applied_at timestamptz NOT NULL DEFAULT now())",
                         errbuf, errlen)) != MF_OK)
        goto rollback;

    snprintf(ver, sizeof ver, "%d", m->version);
    params[0] = ver;
    params[1] = m->name;
    PGresult *res = PQexecParams(conn, "SELECT 1 FROM schema_migrations WHERE version = $1::int", 1,
                                 NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = fail_with(conn, res, "reading schema_migrations", errbuf, errlen);
        goto rollback;
    }
    int done = PQntuples(res) > 0;
    PQclear(res);
    if (done) {
        mf_pg_exec(conn, "COMMIT", errbuf, errlen);
        return 0;
    }

    res = PQexec(conn, m->sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        char what[160];
        snprintf(what, sizeof what, "migration %03d_%s failed", m->version, m->name);
        rc = fail_with(conn, res, what, errbuf, errlen);
        goto rollback;
    }
    PQclear(res);
    res = PQexecParams(conn, "INSERT INTO schema_migrations (version, name) VALUES ($1::int, $2)",
                       2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = fail_with(conn, res, "recording a migration", errbuf, errlen);
        goto rollback;
    }
    PQclear(res);
    if ((rc = mf_pg_exec(conn, "COMMIT", errbuf, errlen)) != MF_OK)
        return rc;
    MF_LOG_INFO("pg", "applied migration %03d_%s", m->version, m->name);
    return 1;

rollback:
    PQclear(PQexec(conn, "ROLLBACK"));
    return rc;
}

/*
 * Whether every migration is recorded, read without DDL or locks: a
 * program logged in as its least-privilege role (060) may read
 * schema_migrations but not create it. 1 all applied, 0 some pending.
 */
static int all_applied(PGconn *conn, char *errbuf, size_t errlen)
{
    PGresult *res = PQexec(conn, "SELECT to_regclass('schema_migrations') IS NOT NULL");
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return fail_with(conn, res, "looking for schema_migrations", errbuf, errlen);
    int exists = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (!exists)
        return 0;
    res = PQexec(conn, "SELECT version FROM schema_migrations");
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return fail_with(conn, res, "reading schema_migrations", errbuf, errlen);
    size_t found = 0;
    for (size_t i = 0; i < mf_migrations_count; i++)
        for (int r = 0; r < PQntuples(res); r++)
            if (strtol(PQgetvalue(res, r, 0), NULL, 10) == mf_migrations[i].version) {
                found++;
                break;
            }
    PQclear(res);
    return found == mf_migrations_count;
}

int mf_pg_migrate(PGconn *conn, char *errbuf, size_t errlen)
{
    int applied = 0;
    int rc = all_applied(conn, errbuf, errlen);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    for (size_t i = 0; i < mf_migrations_count; i++) {
        rc = apply_one(conn, &mf_migrations[i], errbuf, errlen);
        if (rc < 0) {
            /* A program's own role may not change the schema: say who must. */
            if (strstr(errbuf, "permission denied") || strstr(errbuf, "must be owner")) {
                size_t len = strlen(errbuf);
                snprintf(errbuf + len, errlen > len ? errlen - len : 0,
                         "; migrations are applied by the schema's owner: run '<program> "
                         "migrate' with the owner's PG_DSN first");
            }
            return rc;
        }
        applied += rc;
    }
    return applied;
}
