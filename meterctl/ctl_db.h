/*
 * ctl_db: meterctl's PostgreSQL: the connection (opened once, migrations
 * applied, as every program does at start), statements that report their
 * own failure through ctl_fail, the known time zones and regions the CSV
 * checks ask about, and the audit row every change carries in its own
 * transaction (DESIGN §14). Thread: main.
 */
#ifndef CTL_DB_H
#define CTL_DB_H

#include <stddef.h>

#include <libpq-fe.h>

#include "ctl_cli.h"
#include "ctl_rows.h"

/* The connection, opened and migrated on the first call; NULL after ctl_fail. */
PGconn *ctl_db(struct ctl_ctx *ctx);

/*
 * Runs sql with text params (NULL = null); returns the result (PQclear it)
 * or NULL after ctl_fail naming `what` and the server's first line.
 */
PGresult *ctl_db_run(struct ctl_ctx *ctx, const char *what, const char *sql, int nparams,
                     const char *const *params);

/* BEGIN and COMMIT: MF_OK, or MF_EFATAL after ctl_fail (a failed COMMIT changed nothing). */
int ctl_db_begin(struct ctl_ctx *ctx);
int ctl_db_commit(struct ctl_ctx *ctx);

/* ROLLBACK, quietly: the transaction is abandoned after a failure or a dry run. */
void ctl_db_rollback(struct ctl_ctx *ctx);

/*
 * Appends one audit_log row (actor and why from ctx) in the caller's
 * transaction. detail is a JSON object's text. MF_OK, or MF_EFATAL after ctl_fail.
 */
int ctl_audit(struct ctl_ctx *ctx, const char *action, const char *target, const char *detail);

/* The time zones PostgreSQL knows and the regions of the registries, loaded on first use. */
struct ctl_known {
    struct ctl_ctx *ctx;
    char **names[2]; /* [0] time zones, [1] regions; sorted */
    size_t n[2];
    int loaded[2];
    int failed; /* a lookup could not be loaded (ctl_fail reported it) */
};

/* A ctl_known_fn over k (a struct ctl_known *). */
int ctl_known(void *k, enum ctl_coltype type, const char *s);
void ctl_known_release(struct ctl_known *k);

#endif
