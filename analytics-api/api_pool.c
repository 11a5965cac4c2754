/* api_pool: PostgreSQL connections with prepared statements and a timeout. */
#include "api_pool.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mf_log.h"
#include "mf_pg.h"
#include "mf_time.h"
#include "mf_common.h"

#define RECONNECT_MS 1000
/*
 * How long past statement_timeout the pool waits for PostgreSQL's own
 * answer (its 57014 when a statement runs too long) before it gives the
 * connection up: a server that is frozen or cut off by the network sends
 * nothing, not even that error, and libpq's blocking calls would wait for
 * ever (measured: 5-15 s and longer per request with API_STATEMENT_TIMEOUT_MS
 * 1000 and the server stopped by SIGSTOP).
 */
#define ANSWER_SLACK_MS 500

struct slot {
    PGconn *conn;
    unsigned char *prepared; /* per statement: prepared on this connection */
    int busy;
    int64_t next_try; /* mono ms before which a broken slot is not retried */
};

struct api_pool {
    struct api_pool_opts o;
    char *dsn;
    /*
     * Mono ms until which no request waits on PostgreSQL: set for
     * RECONNECT_MS when one got no answer by its deadline. A frozen server
     * then costs the requests already waiting on it, not every request
     * after them (each would wait its whole deadline, one after another on
     * libmicrohttpd's threads: 1.5-9 s for 8 at once before).
     */
    int64_t quiet_until;
    pthread_mutex_t lock;
    pthread_cond_t freed;
    struct slot *slots;
};

struct api_pool *api_pool_new(const struct api_pool_opts *o)
{
    struct api_pool *p = mf_xcalloc(1, sizeof *p);
    p->o = *o;
    p->dsn = mf_xstrdup(o->dsn);
    p->o.dsn = p->dsn;
    p->slots = mf_xcalloc((size_t)o->size, sizeof *p->slots);
    for (int i = 0; i < o->size; i++)
        p->slots[i].prepared = mf_xcalloc(o->nstmts ? o->nstmts : 1, 1);
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->freed, &ca);
    pthread_condattr_destroy(&ca);
    return p;
}

void api_pool_destroy(struct api_pool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->o.size; i++) {
        if (p->slots[i].conn)
            PQfinish(p->slots[i].conn);
        free(p->slots[i].prepared);
    }
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->freed);
    free(p->slots);
    free(p->dsn);
    free(p);
}

/* Waits until c's socket is ready for events or deadline (mono ms) passes; 0 when late. */
static int wait_sock(PGconn *c, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - mf_mono_ms();
        if (left <= 0)
            return 0;
        struct pollfd pf = {PQsocket(c), events, 0};
        if (pf.fd < 0)
            return 1; /* no socket: libpq's next call says why */
        int n = poll(&pf, 1, (int)left);
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return 1; /* libpq's next call reports the broken socket */
    }
}

/*
 * The answer to what was sent on c, by deadline: the first error result,
 * else the last one. NULL with *late set when PostgreSQL did not answer
 * in time (c is then mid-protocol: the caller closes it), NULL without
 * when the connection broke.
 */
static PGresult *answer_by(PGconn *c, int64_t deadline, int *late)
{
    PGresult *keep = NULL;
    int f;
    *late = 0;
    while ((f = PQflush(c)) == 1) {
        if (!wait_sock(c, POLLIN | POLLOUT, deadline))
            goto late;
        if (!PQconsumeInput(c))
            return NULL;
    }
    if (f < 0)
        return NULL;
    for (;;) {
        while (PQisBusy(c)) {
            if (!wait_sock(c, POLLIN, deadline))
                goto late;
            if (!PQconsumeInput(c)) {
                PQclear(keep); /* broken: the caller sees it in PQstatus */
                return NULL;
            }
        }
        PGresult *r = PQgetResult(c);
        if (!r)
            return keep;
        ExecStatusType st = keep ? PQresultStatus(keep) : PGRES_COMMAND_OK;
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
            PQclear(keep);
            keep = r;
        } else {
            PQclear(r);
        }
    }
late:
    PQclear(keep);
    *late = 1;
    return NULL;
}

/* Connects without blocking past deadline; NULL with errbuf. */
static PGconn *connect_by(struct api_pool *p, int64_t deadline, char *errbuf, size_t errlen)
{
    const char *keys[] = {"dbname", "application_name", NULL};
    const char *vals[] = {p->o.dsn, p->o.app, NULL};
    /* expand_dbname=1: the first value is parsed as a DSN or URI. */
    PGconn *c = PQconnectStartParams(keys, vals, 1);
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (c && PQstatus(c) != CONNECTION_BAD && st != PGRES_POLLING_OK &&
           st != PGRES_POLLING_FAILED) {
        if (!wait_sock(c, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline)) {
            snprintf(errbuf, errlen, "cannot connect to PostgreSQL: no answer within %d ms",
                     p->o.statement_timeout_ms + ANSWER_SLACK_MS);
            PQfinish(c);
            return NULL;
        }
        st = PQconnectPoll(c);
    }
    if (!c || PQstatus(c) != CONNECTION_OK) {
        const char *msg = c ? PQerrorMessage(c) : "out of memory";
        snprintf(errbuf, errlen, "cannot connect to PostgreSQL: %.*s", (int)strcspn(msg, "\n"),
                 msg);
        PQfinish(c);
        return NULL;
    }
    return c;
}

/*
 * The answer by deadline to a command whose sending returned sent (libpq's
 * 1 or 0): MF_OK, or MF_ERETRY with errbuf (and *late when PostgreSQL did
 * not answer in time).
 */
static int command_by(PGconn *c, int sent, const char *what, int64_t deadline, int *late,
                      char *errbuf, size_t errlen)
{
    *late = 0;
    PGresult *r = sent == 1 ? answer_by(c, deadline, late) : NULL;
    if (PQresultStatus(r) == PGRES_COMMAND_OK) {
        PQclear(r);
        return MF_OK;
    }
    const char *msg = *late ? "no answer within the statement timeout"
                      : r   ? PQresultErrorMessage(r)
                            : PQerrorMessage(c);
    snprintf(errbuf, errlen, "%s: %.*s", what, (int)strcspn(msg, "\n"), msg);
    int rc = r && !*late ? mf_pg_classify(c, r) : MF_ERETRY;
    PQclear(r);
    return rc;
}

/* Connects a slot by deadline, with its session settings in one round trip. */
static PGconn *open_conn(struct api_pool *p, int64_t deadline, char *errbuf, size_t errlen)
{
    PGconn *c = connect_by(p, deadline, errbuf, errlen);
    if (!c)
        return NULL;
    char sql[256];
    int late;
    snprintf(sql, sizeof sql,
             "SET statement_timeout = %d; SET TimeZone = 'UTC'; "
             /* float8 as its shortest exact text: api_query copies it into JSON */
             "SET extra_float_digits = 1; SET default_transaction_read_only = on",
             p->o.statement_timeout_ms);
    if (command_by(c, PQsendQuery(c, sql), "session settings", deadline, &late, errbuf, errlen) !=
        MF_OK) {
        PQfinish(c);
        return NULL;
    }
    return c;
}

/*
 * Prepares statement i on the slot's connection the first time it is used
 * there: a table that is missing (its program not deployed yet) then fails
 * only the endpoints that read it, not every connection.
 */
static int prepare(struct api_pool *p, struct slot *s, size_t i, int64_t deadline, int *late,
                   char *errbuf, size_t errlen)
{
    *late = 0;
    if (s->prepared[i])
        return MF_OK;
    char what[96];
    snprintf(what, sizeof what, "preparing %s", p->o.stmts[i].name);
    int rc = command_by(s->conn,
                        PQsendPrepare(s->conn, p->o.stmts[i].name, p->o.stmts[i].sql, 0, NULL),
                        what, deadline, late, errbuf, errlen);
    if (rc == MF_OK)
        s->prepared[i] = 1;
    return rc;
}

/* Borrows a slot: one with a live connection first. -1 after wait_ms. */
static int borrow(struct api_pool *p)
{
    struct timespec dl = mf_clock_after(CLOCK_MONOTONIC, p->o.wait_ms);
    pthread_mutex_lock(&p->lock);
    for (;;) {
        int pick = -1;
        for (int i = 0; i < p->o.size; i++) {
            if (p->slots[i].busy)
                continue;
            if (p->slots[i].conn) {
                pick = i;
                break;
            }
            if (pick < 0)
                pick = i;
        }
        if (pick >= 0) {
            p->slots[pick].busy = 1;
            pthread_mutex_unlock(&p->lock);
            return pick;
        }
        if (pthread_cond_timedwait(&p->freed, &p->lock, &dl) == ETIMEDOUT) {
            pthread_mutex_unlock(&p->lock);
            return -1;
        }
    }
}

static void give_back(struct api_pool *p, int i)
{
    pthread_mutex_lock(&p->lock);
    p->slots[i].busy = 0;
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->lock);
}

/* Closes the slot's connection: the next borrower connects again. */
static void drop_conn(struct api_pool *p, struct slot *s)
{
    PQfinish(s->conn);
    s->conn = NULL;
    memset(s->prepared, 0, p->o.nstmts);
}

/* The slot's connection, (re)connecting by deadline if allowed now; NULL with errbuf. */
static PGconn *slot_conn(struct api_pool *p, struct slot *s, int64_t deadline, char *errbuf,
                         size_t errlen)
{
    if (s->conn && PQstatus(s->conn) == CONNECTION_OK)
        return s->conn;
    if (s->conn)
        drop_conn(p, s);
    int64_t now = mf_mono_ms();
    if (now < s->next_try) {
        snprintf(errbuf, errlen, "PostgreSQL unavailable (retrying)");
        return NULL;
    }
    s->conn = open_conn(p, deadline, errbuf, errlen);
    if (!s->conn) {
        s->next_try = now + RECONNECT_MS;
        MF_LOG_WARN("pool", "%s", errbuf);
    }
    return s->conn;
}

PGresult *api_pool_exec(struct api_pool *p, size_t stmt, int n, const char *const *params, int *rc,
                        char *errbuf, size_t errlen)
{
    MF_ASSERT(stmt < p->o.nstmts);
    const char *name = p->o.stmts[stmt].name;
    pthread_mutex_lock(&p->lock);
    int quiet = mf_mono_ms() < p->quiet_until;
    pthread_mutex_unlock(&p->lock);
    if (quiet) {
        snprintf(errbuf, errlen, "PostgreSQL is not answering (trying again within %d ms)",
                 RECONNECT_MS);
        *rc = MF_ERETRY;
        return NULL;
    }
    int i = borrow(p);
    if (i < 0) {
        snprintf(errbuf, errlen, "every PostgreSQL connection busy for %d ms", p->o.wait_ms);
        *rc = MF_ERETRY;
        return NULL;
    }
    /* Connecting, preparing and the statement itself, all by one deadline. */
    int64_t deadline = mf_mono_ms() + p->o.statement_timeout_ms + ANSWER_SLACK_MS;
    struct slot *s = &p->slots[i];
    PGresult *r = NULL;
    int late = 0;
    PGconn *c = slot_conn(p, s, deadline, errbuf, errlen);
    if (!c) {
        *rc = MF_ERETRY;
        goto out;
    }
    if ((*rc = prepare(p, s, stmt, deadline, &late, errbuf, errlen)) != MF_OK)
        goto broken;
    r = PQsendQueryPrepared(c, name, n, params, NULL, NULL, 0) == 1 ? answer_by(c, deadline, &late)
                                                                    : NULL;
    if (PQresultStatus(r) == PGRES_TUPLES_OK)
        goto out;
    const char *msg = late ? "no answer within the statement timeout"
                      : r  ? PQresultErrorMessage(r)
                           : PQerrorMessage(c);
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    snprintf(errbuf, errlen, "%s: %.*s", name, (int)strcspn(msg, "\n"), msg);
    *rc = r ? mf_pg_classify(c, r) : MF_ERETRY;
    /* 57014: statement_timeout fired: the database is too slow right now. */
    if (state && strcmp(state, "57014") == 0)
        *rc = MF_ERETRY;
    PQclear(r);
    r = NULL;
broken:
    /* A connection that broke, or that PostgreSQL left without an answer
     * (mid-protocol now), is closed. */
    if (late || PQstatus(c) != CONNECTION_OK) {
        drop_conn(p, s);
        if (late)
            MF_LOG_WARN("pool", "%s: closing the connection", errbuf);
    }
out:
    if (late || (!c && mf_mono_ms() >= deadline)) { /* no answer in time: quiet for a while */
        pthread_mutex_lock(&p->lock);
        p->quiet_until = mf_mono_ms() + RECONNECT_MS;
        pthread_mutex_unlock(&p->lock);
    }
    give_back(p, i);
    return r;
}

int api_pool_ready(struct api_pool *p, char *why, size_t whylen)
{
    int rc;
    PGresult *r = api_pool_exec(p, 0, 0, NULL, &rc, why, whylen);
    if (!r)
        return 0;
    PQclear(r);
    return 1;
}
