/*
 * wk_registry: registry snapshots (a dense array indexed by wk_map) and the
 * refresher thread over libpq. The thread owns its connection; the only
 * thing it shares with the main thread is the `pending` snapshot pointer,
 * under a mutex.
 */
#include "wk_registry.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "mf_log.h"
#include "mf_pg.h"
#include "mf_time.h"
#include "wk_map.h"
#include "mf_common.h"

struct wk_registry {
    struct wk_meter *v;
    uint32_t n, cap;
    struct wk_map map;
};

static const char *reg_key(const void *owner, uint32_t idx, size_t *len)
{
    const struct wk_registry *reg = owner;
    *len = reg->v[idx].id_len;
    return reg->v[idx].meter_id;
}

struct wk_registry *wk_registry_new(void)
{
    struct wk_registry *reg = mf_xcalloc(1, sizeof *reg);
    wk_map_init(&reg->map, reg_key, reg);
    return reg;
}

void wk_registry_destroy(struct wk_registry *reg)
{
    if (!reg)
        return;
    wk_map_release(&reg->map);
    free(reg->v);
    free(reg);
}

void wk_registry_put(struct wk_registry *reg, const struct wk_meter *m)
{
    uint32_t h = wk_map_hash(m->meter_id, m->id_len);
    uint32_t i = wk_map_get(&reg->map, m->meter_id, m->id_len, h);
    if (i != WK_MAP_NONE) {
        reg->v[i] = *m;
        return;
    }
    if (reg->n == reg->cap) {
        reg->cap = reg->cap ? reg->cap * 2 : 256;
        reg->v = mf_xrealloc(reg->v, (size_t)reg->cap * sizeof *reg->v);
    }
    reg->v[reg->n] = *m;
    wk_map_put(&reg->map, m->meter_id, m->id_len, h, reg->n);
    reg->n++;
}

const struct wk_meter *wk_registry_get(const struct wk_registry *reg, const char *id, size_t len)
{
    uint32_t i = wk_map_get(&reg->map, id, len, wk_map_hash(id, len));
    return i == WK_MAP_NONE ? NULL : &reg->v[i];
}

size_t wk_registry_count(const struct wk_registry *reg)
{
    return reg->n;
}

int wk_registry_load(void *pgconn, double default_max_kw, struct wk_registry **out, char *errbuf,
                     size_t errlen)
{
    PGconn *conn = pgconn;
    PGresult *res = NULL;
    struct wk_registry *reg = NULL;
    int rc = MF_OK;

    *out = NULL;
    /* Text results: six columns, parsed here with the same care as any input. */
    res = PQexec(conn, "SELECT meter_id, max_kw, interval_s, vacant, active FROM meters");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = mf_pg_classify(conn, res);
        snprintf(errbuf, errlen, "loading meters: %s", PQerrorMessage(conn));
        goto out;
    }
    reg = wk_registry_new();
    for (int i = 0; i < PQntuples(res); i++) {
        struct wk_meter m;
        const char *id = PQgetvalue(res, i, 0);
        size_t len = strlen(id);
        char why[128];

        if (mf_meter_id_check(id, len, why, sizeof why) != MF_OK)
            continue; /* the table's CHECK refuses these; a looser table is not our crash */
        memset(&m, 0, sizeof m);
        memcpy(m.meter_id, id, len);
        m.id_len = (uint8_t)len;
        m.max_kw = default_max_kw;
        if (!PQgetisnull(res, i, 1)) {
            char *end;
            double v = strtod(PQgetvalue(res, i, 1), &end);
            if (*end == '\0' && v > 0)
                m.max_kw = v;
        }
        if (!PQgetisnull(res, i, 2)) {
            long v = strtol(PQgetvalue(res, i, 2), NULL, 10);
            m.interval_s = v > 0 && v <= MF_INTERVAL_MAX_S ? (int32_t)v : 0;
        }
        m.vacant = !PQgetisnull(res, i, 3) && PQgetvalue(res, i, 3)[0] == 't';
        m.active = PQgetisnull(res, i, 4) || PQgetvalue(res, i, 4)[0] == 't';
        wk_registry_put(reg, &m);
    }
    *out = reg;
    reg = NULL; /* the caller owns it */
out:
    PQclear(res);
    wk_registry_destroy(reg);
    return rc;
}

/* ---------------------------------------------------------------- refresher */

struct wk_refresher {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stop;                    /* under lock */
    struct wk_registry *pending; /* under lock; owned */
    atomic_int fatal;
    char *dsn;
    int64_t interval_s;
    double default_max_kw;
};

/* One attempt: (re)connect, migrate once, load. Thread: refresher. */
static int refresh_once(struct wk_refresher *r, PGconn **conn, int *migrated, char *err,
                        size_t errlen)
{
    struct wk_registry *reg = NULL;
    int rc;

    if (*conn && PQstatus(*conn) != CONNECTION_OK) {
        PQfinish(*conn);
        *conn = NULL;
    }
    if (!*conn) {
        *conn = mf_pg_connect(r->dsn, "stream-worker", err, errlen);
        if (!*conn)
            return MF_ERETRY;
    }
    if (!*migrated) {
        rc = mf_pg_migrate(*conn, err, errlen);
        if (rc < 0)
            return rc;
        if (rc > 0)
            MF_LOG_INFO("registry", "applied %d migration(s)", rc);
        *migrated = 1;
    }
    rc = wk_registry_load(*conn, r->default_max_kw, &reg, err, errlen);
    if (rc != MF_OK)
        return rc == MF_EFATAL ? MF_ERETRY : rc; /* a bad query now may be a migration later */
    pthread_mutex_lock(&r->lock);
    wk_registry_destroy(r->pending); /* never taken: the newer one wins */
    r->pending = reg;
    pthread_mutex_unlock(&r->lock);
    return MF_OK;
}

static void *refresher_main(void *arg)
{
    struct wk_refresher *r = arg;
    PGconn *conn = NULL;
    int migrated = 0, down = 0, loaded = 0;
    char err[512];

    for (;;) {
        int rc = refresh_once(r, &conn, &migrated, err, sizeof err);
        int64_t wait_ms = r->interval_s * 1000;
        if (rc == MF_OK) {
            if (down)
                MF_LOG_INFO("registry", "PostgreSQL reachable again; registry refreshed");
            down = 0;
            loaded = 1;
        } else if (rc == MF_EFATAL) {
            MF_LOG_FATAL("registry", "%s", err);
            atomic_store(&r->fatal, 1);
            break;
        } else {
            if (!down)
                MF_LOG_WARN("registry", "registry refresh failed, %s: %s",
                            loaded ? "keeping the last registry" : "no registry yet", err);
            down = 1;
            /* Before the first registry nothing is processed: retry sooner. */
            if (!loaded && wait_ms > 1000)
                wait_ms = 1000;
        }
        struct timespec until = mf_clock_after(CLOCK_REALTIME, wait_ms);
        pthread_mutex_lock(&r->lock);
        while (!r->stop && pthread_cond_timedwait(&r->cond, &r->lock, &until) != ETIMEDOUT)
            ;
        int stop = r->stop;
        pthread_mutex_unlock(&r->lock);
        if (stop)
            break;
    }
    if (conn)
        PQfinish(conn);
    return NULL;
}

struct wk_refresher *wk_refresher_start(const char *dsn, int64_t interval_s, double default_max_kw)
{
    struct wk_refresher *r = mf_xcalloc(1, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    r->dsn = mf_xstrdup(dsn);
    r->interval_s = interval_s;
    r->default_max_kw = default_max_kw;
    if (pthread_create(&r->thread, NULL, refresher_main, r) != 0) {
        MF_LOG_FATAL("registry", "cannot start the refresher thread");
        abort();
    }
    return r;
}

void wk_refresher_stop(struct wk_refresher *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->stop = 1;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    wk_registry_destroy(r->pending);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->cond);
    free(r->dsn);
    free(r);
}

struct wk_registry *wk_refresher_take(struct wk_refresher *r)
{
    pthread_mutex_lock(&r->lock);
    struct wk_registry *reg = r->pending;
    r->pending = NULL;
    pthread_mutex_unlock(&r->lock);
    return reg;
}

int wk_refresher_fatal(struct wk_refresher *r)
{
    return atomic_load(&r->fatal);
}
