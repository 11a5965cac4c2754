/*
 * mf_pg: PostgreSQL connections and the schema migrations.
 *
 * The migrations are the numbered files of schemas/sql/, compiled into
 * every binary (a pod needs no files on disk). mf_pg_migrate applies the
 * ones not yet in schema_migrations, in order, each in its own transaction
 * under one advisory lock, so several pods starting at once apply each file
 * exactly once. The DSN is never logged. Thread: one connection per thread.
 */
#ifndef MF_PG_H
#define MF_PG_H

#include <stddef.h>

#include <libpq-fe.h>

struct mf_migration {
    int version;
    const char *name;
    const char *sql;
};

/* The compiled-in migrations, in version order (generated at build time). */
extern const struct mf_migration mf_migrations[];
extern const size_t mf_migrations_count;

/*
 * Connects with a 5 s connect timeout and application_name = app.
 * NULL with errbuf set (without the DSN) on failure.
 */
PGconn *mf_pg_connect(const char *dsn, const char *app, char *errbuf, size_t errlen);

/*
 * Applies the pending migrations. Returns the number applied (>= 0), or
 * MF_ERETRY (connection trouble) / MF_EFATAL (a migration failed) with
 * errbuf set.
 */
int mf_pg_migrate(PGconn *conn, char *errbuf, size_t errlen);

/* Runs one statement without results; MF_OK, MF_ERETRY or MF_EFATAL with errbuf. */
int mf_pg_exec(PGconn *conn, const char *sql, char *errbuf, size_t errlen);

/* MF_ERETRY when the connection is gone (reconnect and retry), else MF_EFATAL. */
int mf_pg_classify(PGconn *conn, const PGresult *res);

#endif
