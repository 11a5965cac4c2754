/* api_pool: PostgreSQL connections with prepared statements and a timeout. */
#include "api_pool.h"

#include <errno.h>
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

struct slot {
    PGconn *conn;
    unsigned char *prepared; /* per statement: prepared on this connection */
    int busy;
    int64_t next_try; /* mono ms before which a broken slot is not retried */
};

struct api_pool {
    struct api_pool_opts o;
    char *dsn;
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

/* Connects a slot: session settings, then every statement prepared. */
static PGconn *open_conn(struct api_pool *p, char *errbuf, size_t errlen)
{
    PGconn *c = mf_pg_connect(p->o.dsn, p->o.app, errbuf, errlen);
    if (!c)
        return NULL;
    char sql[128];
    snprintf(sql, sizeof sql, "SET statement_timeout = %d", p->o.statement_timeout_ms);
    if (mf_pg_exec(c, sql, errbuf, errlen) != MF_OK ||
        mf_pg_exec(c, "SET TimeZone = 'UTC'", errbuf, errlen) != MF_OK ||
        /* float8 as its shortest exact text: api_query copies it into JSON */
        mf_pg_exec(c, "SET extra_float_digits = 1", errbuf, errlen) != MF_OK ||
        mf_pg_exec(c, "SET default_transaction_read_only = on", errbuf, errlen) != MF_OK) {
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
static int prepare(struct api_pool *p, struct slot *s, size_t i, char *errbuf, size_t errlen)
{
    if (s->prepared[i])
        return MF_OK;
    PGresult *r = PQprepare(s->conn, p->o.stmts[i].name, p->o.stmts[i].sql, 0, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        const char *msg = PQresultErrorMessage(r);
        snprintf(errbuf, errlen, "preparing %s: %.*s", p->o.stmts[i].name, (int)strcspn(msg, "\n"),
                 msg);
        int rc = mf_pg_classify(s->conn, r);
        PQclear(r);
        return rc;
    }
    PQclear(r);
    s->prepared[i] = 1;
    return MF_OK;
}

/* Borrows a slot: one with a live connection first. -1 after wait_ms. */
static int borrow(struct api_pool *p)
{
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += p->o.wait_ms / 1000;
    dl.tv_nsec += (long)(p->o.wait_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
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

/* The slot's connection, (re)connecting if allowed now; NULL with errbuf. */
static PGconn *slot_conn(struct api_pool *p, struct slot *s, char *errbuf, size_t errlen)
{
    if (s->conn && PQstatus(s->conn) == CONNECTION_OK)
        return s->conn;
    if (s->conn) {
        PQfinish(s->conn);
        s->conn = NULL;
    }
    memset(s->prepared, 0, p->o.nstmts);
    int64_t now = mf_mono_ms();
    if (now < s->next_try) {
        snprintf(errbuf, errlen, "PostgreSQL unavailable (retrying)");
        return NULL;
    }
    s->conn = open_conn(p, errbuf, errlen);
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
    int i = borrow(p);
    if (i < 0) {
        snprintf(errbuf, errlen, "every PostgreSQL connection busy for %d ms", p->o.wait_ms);
        *rc = MF_ERETRY;
        return NULL;
    }
    struct slot *s = &p->slots[i];
    PGresult *r = NULL;
    PGconn *c = slot_conn(p, s, errbuf, errlen);
    if (!c) {
        *rc = MF_ERETRY;
        goto out;
    }
    if ((*rc = prepare(p, s, stmt, errbuf, errlen)) != MF_OK)
        goto broken;
    r = PQexecPrepared(c, name, n, params, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK)
        goto out;
    const char *msg = PQresultErrorMessage(r);
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    snprintf(errbuf, errlen, "%s: %.*s", name, (int)strcspn(msg, "\n"), msg);
    *rc = mf_pg_classify(c, r);
    /* 57014: statement_timeout fired: the database is too slow right now. */
    if (state && strcmp(state, "57014") == 0)
        *rc = MF_ERETRY;
    PQclear(r);
    r = NULL;
broken:
    if (PQstatus(c) != CONNECTION_OK) {
        PQfinish(s->conn);
        s->conn = NULL;
        memset(s->prepared, 0, p->o.nstmts);
    }
out:
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
