/*
 * api_pool: a fixed pool of PostgreSQL connections for the analytics API,
 * each with the API's statements prepared and a statement_timeout set, so
 * no request waits on PostgreSQL longer than that (DESIGN §12: never a
 * hang). The pool's own I/O never blocks in libpq: connecting, preparing
 * and the statement share one deadline (the statement timeout and a
 * little), so a server that is frozen or cut off, which sends not even
 * its timeout error, costs a request that long; the connection it left
 * without an answer is closed, and for the next second every request is
 * answered MF_ERETRY at once. A request borrows a connection for one
 * statement; when none is free within the wait it gets MF_ERETRY (503).
 * A connection that broke is
 * reconnected by the next borrower, at most once a second per slot, so a
 * PostgreSQL that is down costs each request one quick refusal, not a
 * connect timeout. The API only reads: the pool connects to PG_DSN_READ
 * (a replica) when set. Thread: any.
 */
#ifndef API_POOL_H
#define API_POOL_H

#include <stddef.h>

#include <libpq-fe.h>

/* A statement, prepared on each connection at its first use there. */
struct api_stmt {
    const char *name;
    const char *sql;
};

struct api_pool_opts {
    const char *dsn;
    const char *app; /* application_name */
    int size;
    int statement_timeout_ms;
    int wait_ms;                  /* longest wait for a free connection */
    const struct api_stmt *stmts; /* stmts[0] is the readiness probe ("SELECT 1") */
    size_t nstmts;
};

struct api_pool;

/* Never fails: connections are made on first use. */
struct api_pool *api_pool_new(const struct api_pool_opts *o);
void api_pool_destroy(struct api_pool *p);

/*
 * Runs statement stmts[stmt] with n text parameters. Returns the
 * result (PGRES_TUPLES_OK; the caller PQclears it), or NULL with *rc
 * MF_ERETRY (PostgreSQL down, busy or too slow: 503) or MF_EFATAL (the
 * statement failed: 500) and errbuf set.
 */
PGresult *api_pool_exec(struct api_pool *p, size_t stmt, int n, const char *const *params, int *rc,
                        char *errbuf, size_t errlen);

/* 1 when a statement can run now (for /readyz); 0 with why. */
int api_pool_ready(struct api_pool *p, char *why, size_t whylen);

#endif
