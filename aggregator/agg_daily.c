/*
 * agg_daily: the rounds of the daily analytics (see the header).
 */
#include "agg_daily.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "mf_alloc.h"
#include "mf_buf.h"
#include "mf_json.h"
#include "mf_log.h"
#include "mf_metrics.h"
#include "mf_producer.h"
#include "mf_time.h"
#include "agg_corr.h"
#include "mf_common.h"

/* pg_try_advisory_xact_lock key of the rounds: one member of the fleet at a time. */
#define DAILY_LOCK         "4242140"
#define OUTBOX_CHUNK       5000
#define OUTBOX_CHUNK_S     "5000"
#define PUBLISH_TIMEOUT_MS 30000
/* Our own buffers (ids, judgements), not input-driven: bounded only by memory. */
#define BUF_MAX ((size_t)1 << 40)

struct agg_daily {
    char *dsn, *tz, *hemisphere;
    int64_t every_ms, next_ms;
    PGconn *conn;
    bool settings_done;
    struct mf_producer *prod;
    int topic;
    struct mf_metric *m_judged, *m_unjudged, *m_peak_days, *m_alerts, *m_rounds;
    /* The thread (agg_daily_start); lock guards stop and cancel. */
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
    PGcancel *cancel; /* d->conn's, to cut a long statement short at stop */
};

void agg_daily_metrics_init(void)
{
    mf_metrics_register("meterflow_agg_correlation_meters", MF_METRIC_GAUGE,
                        "Meters of the last neighborhood correlation round: judged, or eligible"
                        " but unjudged (neighborhood of fewer than 6, or fewer than 5 neighbours).",
                        NULL, 0);
    mf_metrics_register("meterflow_agg_peak_days_total", MF_METRIC_COUNTER,
                        "Local days whose peak hours were computed (again, after late data).", NULL,
                        0);
    mf_metrics_register("meterflow_agg_daily_rounds_total", MF_METRIC_COUNTER,
                        "Rounds of the daily analytics that ran to the end.", NULL, 0);
    mf_metrics_register("meterflow_agg_daily_alerts_total", MF_METRIC_COUNTER,
                        "Alerts of the daily analytics published to meter.alerts (at least once).",
                        NULL, 0);
}

struct agg_daily *agg_daily_new(const struct agg_daily_conf *c, rd_kafka_conf_t *producer_conf,
                                char *errbuf, size_t errlen)
{
    struct agg_daily *d = mf_xcalloc(1, sizeof *d);
    d->prod = mf_producer_new(producer_conf, errbuf, errlen);
    if (!d->prod) {
        free(d);
        return NULL;
    }
    d->topic = mf_producer_topic(d->prod, c->topic_alerts);
    d->dsn = mf_xstrdup(c->pg_dsn);
    d->tz = mf_xstrdup(c->fleet_tz);
    d->hemisphere = mf_xstrdup(c->hemisphere);
    d->every_ms = c->every_ms;
    d->m_judged = mf_metric1("meterflow_agg_correlation_meters", "outcome", "judged");
    d->m_unjudged = mf_metric1("meterflow_agg_correlation_meters", "outcome", "unjudged");
    d->m_peak_days = mf_metric("meterflow_agg_peak_days_total", NULL);
    d->m_alerts = mf_metric("meterflow_agg_daily_alerts_total", NULL);
    d->m_rounds = mf_metric("meterflow_agg_daily_rounds_total", NULL);
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->cond, NULL);
    return d;
}

/* d->conn := conn (NULL: closes it), its cancel handle swapped under the lock. */
static void set_conn(struct agg_daily *d, PGconn *conn)
{
    PGcancel *c = conn ? PQgetCancel(conn) : NULL;
    pthread_mutex_lock(&d->lock);
    PGcancel *old = d->cancel;
    d->cancel = c;
    pthread_mutex_unlock(&d->lock);
    if (old)
        PQfreeCancel(old);
    if (d->conn && d->conn != conn)
        PQfinish(d->conn);
    d->conn = conn;
}

/* Whether agg_daily_destroy asked the thread to stop: no further statement then. */
static bool stopping(struct agg_daily *d)
{
    pthread_mutex_lock(&d->lock);
    bool stop = d->stop;
    pthread_mutex_unlock(&d->lock);
    return stop;
}

static void *daily_main(void *arg)
{
    struct agg_daily *d = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals are the main thread's */
    char err[512];
    while (!stopping(d)) {
        /* A statement cancelled by agg_daily_destroy is no failure. */
        if (agg_daily_tick(d, mf_mono_ms(), err, sizeof err) != MF_OK && !stopping(d))
            MF_LOG_WARN("agg", "%s", err);
        /* Until the next round is due, or stop. */
        int64_t wait_ms = d->next_ms - mf_mono_ms();
        struct timespec until = mf_clock_after(CLOCK_REALTIME, wait_ms < 10 ? 10 : wait_ms);
        pthread_mutex_lock(&d->lock);
        while (!d->stop && pthread_cond_timedwait(&d->cond, &d->lock, &until) != ETIMEDOUT)
            ;
        pthread_mutex_unlock(&d->lock);
    }
    return NULL;
}

int agg_daily_start(struct agg_daily *d, char *errbuf, size_t errlen)
{
    if (d->every_ms <= 0 || d->started)
        return MF_OK;
    int rc = pthread_create(&d->thread, NULL, daily_main, d);
    if (rc != 0) {
        snprintf(errbuf, errlen, "daily analytics: cannot start its thread: %s", strerror(rc));
        return MF_EFATAL;
    }
    d->started = true;
    return MF_OK;
}

void agg_daily_destroy(struct agg_daily *d)
{
    if (!d)
        return;
    if (d->started) {
        /*
         * A round in progress is cut short: its transaction rolls back and
         * the next start does it again (the outbox and the judged day are
         * in PostgreSQL, so nothing is raised twice or lost).
         */
        char buf[256];
        pthread_mutex_lock(&d->lock);
        d->stop = true;
        if (d->cancel)
            PQcancel(d->cancel, buf, (int)sizeof buf);
        pthread_cond_signal(&d->cond);
        pthread_mutex_unlock(&d->lock);
        pthread_join(d->thread, NULL);
    }
    set_conn(d, NULL);
    pthread_mutex_destroy(&d->lock);
    pthread_cond_destroy(&d->cond);
    mf_producer_flush(d->prod, 5000);
    mf_producer_destroy(d->prod);
    free(d->dsn);
    free(d->tz);
    free(d->hemisphere);
    free(d);
}

int agg_daily_due(const struct agg_daily *d, int64_t now_ms)
{
    return d->every_ms > 0 && now_ms >= d->next_ms;
}

/* ---------------------------------------------------------------- PostgreSQL */

static int fail(struct agg_daily *d, PGresult *res, const char *what, char *errbuf, size_t errlen)
{
    snprintf(errbuf, errlen, "daily analytics: %s: %s", what,
             res ? PQresultErrorMessage(res) : PQerrorMessage(d->conn));
    if (res)
        PQclear(res);
    /* Whatever it was, start the next round on a fresh session. */
    set_conn(d, NULL);
    return MF_ERETRY;
}

/* A statement; its result when it returned rows (caller clears), else NULL. *rc says. */
static PGresult *run(struct agg_daily *d, const char *sql, int n, const char *const *v,
                     const char *what, int *rc, char *errbuf, size_t errlen)
{
    if (stopping(d)) {
        snprintf(errbuf, errlen, "daily analytics: %s: stopping", what);
        set_conn(d, NULL); /* the open transaction, if any, rolls back */
        *rc = MF_ERETRY;
        return NULL;
    }
    PGresult *res = PQexecParams(d->conn, sql, n, NULL, v, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK) {
        *rc = MF_OK;
        return res;
    }
    if (st == PGRES_COMMAND_OK) {
        PQclear(res);
        *rc = MF_OK;
        return NULL;
    }
    *rc = fail(d, res, what, errbuf, errlen);
    return NULL;
}

static int run0(struct agg_daily *d, const char *sql, int n, const char *const *v, const char *what,
                char *errbuf, size_t errlen)
{
    int rc;
    PGresult *res = run(d, sql, n, v, what, &rc, errbuf, errlen);
    if (res)
        PQclear(res);
    return rc;
}

/* A statement that returns rows: MF_OK with *out (caller clears), else the error. */
static int query(struct agg_daily *d, const char *sql, int n, const char *const *v,
                 const char *what, PGresult **out, char *errbuf, size_t errlen)
{
    int rc;
    *out = run(d, sql, n, v, what, &rc, errbuf, errlen);
    if (*out)
        return MF_OK;
    return rc == MF_OK ? fail(d, NULL, what, errbuf, errlen) : rc;
}

/* BEGIN and the round's lock; *got false (and rolled back) when another member holds it. */
static int begin_locked(struct agg_daily *d, bool *got, char *errbuf, size_t errlen)
{
    int rc;
    PGresult *res;
    if ((rc = run0(d, "BEGIN", 0, NULL, "begin", errbuf, errlen)) != MF_OK ||
        (rc = query(d, "SELECT pg_try_advisory_xact_lock(" DAILY_LOCK ")", 0, NULL, "round lock",
                    &res, errbuf, errlen)) != MF_OK)
        return rc;
    *got = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    if (!*got)
        return run0(d, "ROLLBACK", 0, NULL, "rollback", errbuf, errlen);
    return MF_OK;
}

/*
 * FLEET_TZ and FLEET_HEMISPHERE into fleet_settings. PostgreSQL must know
 * the zone too (its tz database may differ from ours): if not, no round
 * runs and each says why. A changed zone moves every local day: all peaks
 * are recomputed.
 */
static int write_settings(struct agg_daily *d, char *errbuf, size_t errlen)
{
    const char *v[2] = {d->tz, d->hemisphere};
    int rc;
    PGresult *res;
    if ((rc = query(d, "SELECT 1 FROM pg_timezone_names WHERE name = $1", 1, v, "FLEET_TZ", &res,
                    errbuf, errlen)) != MF_OK)
        return rc;
    bool known = PQntuples(res) > 0 || strcmp(d->tz, "UTC") == 0;
    PQclear(res);
    if (!known) {
        snprintf(errbuf, errlen, "daily analytics: FLEET_TZ '%s' is unknown to PostgreSQL", d->tz);
        return MF_ERETRY;
    }
    if ((rc = run0(d, "BEGIN", 0, NULL, "begin", errbuf, errlen)) != MF_OK ||
        (rc = run0(d, "SELECT pg_advisory_xact_lock(" DAILY_LOCK ")", 0, NULL, "lock", errbuf,
                   errlen)) != MF_OK ||
        (rc = query(d, "SELECT meterflow_fleet_tz() <> $1", 1, v, "fleet_settings", &res, errbuf,
                    errlen)) != MF_OK)
        return rc;
    bool changed = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    static const char *const reset[] = {
        "DELETE FROM peak_hours",
        "DELETE FROM fleet_settings WHERE name = 'correlation_day'",
    };
    if ((rc = run0(
             d,
             "INSERT INTO fleet_settings (name, value) VALUES ('fleet_tz', $1),"
             " ('fleet_hemisphere', $2) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
             2, v, "fleet_settings", errbuf, errlen)) != MF_OK)
        return rc;
    for (size_t i = 0; changed && i < MF_ARRAY_LEN(reset); i++)
        if ((rc = run0(d, reset[i], 0, NULL, "resetting for a new FLEET_TZ", errbuf, errlen)) !=
            MF_OK)
            return rc;
    /* The new zone's days (the old dirty marks were in the old one's). */
    if (changed && (rc = run0(d,
                              "INSERT INTO peak_days_dirty (day) SELECT DISTINCT"
                              " meterflow_fleet_day(window_start) FROM region_load_1h"
                              " ON CONFLICT DO NOTHING",
                              0, NULL, "resetting for a new FLEET_TZ", errbuf, errlen)) != MF_OK)
        return rc;
    if (changed)
        MF_LOG_INFO("agg", "FLEET_TZ is now %s: every day's peaks are computed again", d->tz);
    if ((rc = run0(d, "COMMIT", 0, NULL, "commit", errbuf, errlen)) != MF_OK)
        return rc;
    d->settings_done = true;
    return MF_OK;
}

static int ensure_connected(struct agg_daily *d, char *errbuf, size_t errlen)
{
    if (d->conn && PQstatus(d->conn) == CONNECTION_OK)
        return d->settings_done ? MF_OK : write_settings(d, errbuf, errlen);
    set_conn(d, PQconnectdb(d->dsn));
    if (PQstatus(d->conn) != CONNECTION_OK)
        return fail(d, NULL, "connecting", errbuf, errlen);
    PQsetNoticeProcessor(d->conn, NULL, NULL);
    /* A round's plans are large and run once: compiling them (JIT) costs more than it saves. */
    int rc = run0(d, "SET jit = off", 0, NULL, "session settings", errbuf, errlen);
    if (rc != MF_OK)
        return rc;
    return d->settings_done ? MF_OK : write_settings(d, errbuf, errlen);
}

/* ---------------------------------------------------------------- outbox */

/* Publishes the outbox to meter.alerts and deletes what Kafka acknowledged. */
static int publish_outbox(struct agg_daily *d, char *errbuf, size_t errlen)
{
    for (;;) {
        int rc;
        PGresult *res;
        if ((rc = query(d,
                        "SELECT id, subject, alert::text FROM analytics_alert_outbox"
                        " ORDER BY id LIMIT " OUTBOX_CHUNK_S,
                        0, NULL, "reading the alert outbox", &res, errbuf, errlen)) != MF_OK)
            return rc;
        int n = PQntuples(res);
        if (n == 0) {
            PQclear(res);
            return MF_OK;
        }
        struct mf_batch b;
        struct mf_buf ids;
        mf_buf_init(&ids, BUF_MAX);
        mf_batch_init(&b, NULL, NULL);
        mf_buf_appendc(&ids, '{');
        rc = MF_OK;
        for (int i = 0; i < n && rc == MF_OK; i++) {
            const char *key = PQgetvalue(res, i, 1), *val = PQgetvalue(res, i, 2);
            struct mf_msg m = {.topic = d->topic,
                               .partition = MF_PARTITION_ANY,
                               .key = key,
                               .keylen = strlen(key),
                               .value = val,
                               .len = strlen(val)};
            rc = mf_producer_send(d->prod, &b, &m, PUBLISH_TIMEOUT_MS, errbuf, errlen);
            mf_buf_appendf(&ids, "%s%s", i ? "," : "", PQgetvalue(res, i, 0));
        }
        mf_buf_appendc(&ids, '}');
        PQclear(res);
        int wrc = mf_producer_wait(d->prod, &b, PUBLISH_TIMEOUT_MS, rc == MF_OK ? errbuf : NULL,
                                   errlen);
        if (rc == MF_OK && wrc == MF_OK) {
            const char *v[1] = {ids.data};
            rc = run0(d, "DELETE FROM analytics_alert_outbox WHERE id = ANY($1::bigint[])", 1, v,
                      "clearing the alert outbox", errbuf, errlen);
            mf_metric_add(d->m_alerts, n);
        } else if (rc == MF_OK) {
            rc = wrc;
        }
        mf_buf_release(&ids);
        if (rc != MF_OK || n < OUTBOX_CHUNK)
            return rc;
    }
}

/* ---------------------------------------------------------------- peaks, quality */

/*
 * The closed dirty days' peaks and the closed hours' quality verdicts, one
 * transaction. *horizon gets the watermark ("" when nothing is closed yet),
 * days the first and last day recomputed ("" when none).
 */
static int peaks_and_quality(struct agg_daily *d, char *horizon, size_t hlen, char days[2][16],
                             char *errbuf, size_t errlen)
{
    bool got;
    int rc;
    horizon[0] = days[0][0] = days[1][0] = '\0';
    if ((rc = begin_locked(d, &got, errbuf, errlen)) != MF_OK || !got)
        return rc;
    PGresult *res;
    if ((rc = query(d, "SELECT min(watermark) FROM agg_partition_watermarks", 0, NULL,
                    "the watermark", &res, errbuf, errlen)) != MF_OK)
        return rc;
    if (!PQgetisnull(res, 0, 0))
        snprintf(horizon, hlen, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    if (!horizon[0])
        return run0(d, "COMMIT", 0, NULL, "commit", errbuf, errlen);
    const char *v[1] = {horizon};
    if ((rc = query(
             d,
             "WITH c AS (DELETE FROM peak_days_dirty"
             " WHERE (day + 1)::timestamp AT TIME ZONE meterflow_fleet_tz() <= $1::timestamptz"
             " RETURNING day) SELECT count(*), coalesce(sum(meterflow_peak_day(day)), 0),"
             " min(day), max(day) FROM c",
             1, v, "peak hours", &res, errbuf, errlen)) != MF_OK)
        return rc;
    mf_metric_add(d->m_peak_days, strtod(PQgetvalue(res, 0, 0), NULL));
    for (int k = 0; k < 2; k++)
        snprintf(days[k], sizeof days[k], "%s", PQgetvalue(res, 0, 2 + k));
    PQclear(res);
    if ((rc = run0(d, "SELECT meterflow_quality_alerts($1::timestamptz)", 1, v, "quality alerts",
                   errbuf, errlen)) != MF_OK)
        return rc;
    return run0(d, "COMMIT", 0, NULL, "commit", errbuf, errlen);
}

/* ---------------------------------------------------------------- correlation */

struct hood {
    struct agg_corr_meter *m;
    char **ids;
    size_t n, cap;
};

/* "{1.5,2,NULL,...}" (array_agg's text) into e[0..AGG_CORR_HOURS); false if not exactly so. */
static bool parse_hours(const char *s, double *e)
{
    if (*s++ != '{')
        return false;
    for (size_t h = 0; h < AGG_CORR_HOURS; h++) {
        char *end;
        e[h] = strtod(s, &end);
        if (end == s || (*end != ',' && *end != '}'))
            return false;
        s = end + 1;
        if (*end == '}')
            return h + 1 == AGG_CORR_HOURS;
    }
    return false;
}

/* Judges one neighborhood and appends the state changes to changes (a JSON array's items). */
static void judge_hood(struct agg_daily *d, struct hood *h, struct mf_buf *changes,
                       size_t *judged_total, size_t *unjudged_total)
{
    size_t unjudged;
    *judged_total += agg_corr_judge(h->m, h->n, &unjudged);
    *unjudged_total += unjudged;
    (void)d;
    for (size_t i = 0; i < h->n; i++) {
        struct agg_corr_meter *m = &h->m[i];
        if (!m->judged || agg_corr_fault(m->r) == m->raised)
            continue;
        mf_buf_appends(changes, changes->len > 1 ? ",{\"m\":" : "{\"m\":");
        mf_buf_append_json_str(changes, h->ids[i], strlen(h->ids[i]));
        mf_buf_appendf(changes,
                       ",\"raise\":%s,\"detail\":{\"r\":", agg_corr_fault(m->r) ? "true" : "false");
        mf_json_double(changes, m->r);
        mf_buf_appends(changes, ",\"neighbours\":[");
        size_t k = 0;
        for (size_t j = 0; j < h->n; j++) {
            if (j == i || !h->m[j].eligible || h->m[j].raised)
                continue;
            if (k++)
                mf_buf_appendc(changes, ',');
            mf_buf_append_json_str(changes, h->ids[j], strlen(h->ids[j]));
        }
        mf_buf_appends(changes, "]}}");
    }
    for (size_t i = 0; i < h->n; i++)
        free(h->ids[i]);
    h->n = 0;
}

/*
 * The judged day is the last closed local day, or, when the load stops
 * before it (a replay of history, whose watermark the idle flush moved to
 * the wall clock), the last day that ends by the last closed hour with
 * load. Once per such day, and again when late data changed one of the
 * seven days judged (days: the first and last day whose peaks this round
 * recomputed, "" for none): every meter with a neighborhood, active and
 * not vacant, over the 168 hours ending with the last closed day.
 */
static int correlation(struct agg_daily *d, const char *horizon, char days[2][16], char *errbuf,
                       size_t errlen)
{
    bool got;
    int rc;
    if ((rc = begin_locked(d, &got, errbuf, errlen)) != MF_OK || !got)
        return rc;
    const char *v[3] = {horizon, days[0][0] ? days[0] : NULL, days[1][0] ? days[1] : NULL};
    PGresult *res;
    if ((rc = query(d,
                    "WITH x AS (SELECT (least($1::timestamptz, (SELECT max(window_start)"
                    " + interval '1 hour' FROM region_load_1h WHERE window_start"
                    " + interval '1 hour' <= $1::timestamptz)) AT TIME ZONE"
                    " meterflow_fleet_tz())::date - 1 AS day)"
                    " SELECT day, (day + 1)::timestamp AT TIME ZONE meterflow_fleet_tz(),"
                    " coalesce((SELECT value::date FROM fleet_settings"
                    " WHERE name = 'correlation_day') < day, true)"
                    " OR coalesce($2::date <= day AND $3::date > day - 7, false) FROM x",
                    3, v, "the correlation day", &res, errbuf, errlen)) != MF_OK)
        return rc;
    char day[16], end[64];
    snprintf(day, sizeof day, "%s", PQgetvalue(res, 0, 0));
    snprintf(end, sizeof end, "%s", PQgetvalue(res, 0, 1));
    bool due = PQgetvalue(res, 0, 2)[0] == 't';
    PQclear(res);
    if (!due)
        return run0(d, "COMMIT", 0, NULL, "commit", errbuf, errlen);

    v[0] = end;
    if (stopping(d))
        return fail(d, NULL, "stopping", errbuf, errlen);
    if (!PQsendQueryParams(d->conn,
                           "SELECT m.neighborhood, r.meter_id, coalesce(s.raised, false),"
                           " array_agg(r.energy_kwh ORDER BY r.window_start)::text"
                           /* The view: rollup_1h stores an hour only once closed (012). */
                           " FROM rollup_1h_stats r JOIN meters m USING (meter_id)"
                           " LEFT JOIN analytics_alert_state s"
                           " ON s.type = 'neighborhood_correlation' AND s.subject = r.meter_id"
                           " WHERE m.neighborhood IS NOT NULL AND m.active AND NOT m.vacant"
                           /* A worker's fault raised (alerts, 051): neither judged nor used. */
                           " AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.meter_id = r.meter_id"
                           " AND a.state = 'raised'"
                           " AND a.type NOT IN ('neighborhood_correlation', 'quality_degradation'))"
                           " AND r.window_start >= $1::timestamptz - interval '168 hours'"
                           " AND r.window_start < $1::timestamptz"
                           " GROUP BY 1, 2, 3 ORDER BY 1, 2",
                           1, NULL, v, NULL, NULL, 0) ||
        !PQsetSingleRowMode(d->conn))
        return fail(d, NULL, "loading the hours", errbuf, errlen);

    struct hood h = {0};
    struct mf_buf changes;
    mf_buf_init(&changes, BUF_MAX);
    mf_buf_appendc(&changes, '[');
    char hood_name[256] = "";
    size_t judged = 0, unjudged = 0;
    rc = MF_OK;
    while ((res = PQgetResult(d->conn)) != NULL) {
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_SINGLE_TUPLE) {
            const char *name = PQgetvalue(res, 0, 0);
            if (strcmp(name, hood_name) != 0) {
                judge_hood(d, &h, &changes, &judged, &unjudged);
                snprintf(hood_name, sizeof hood_name, "%s", name);
            }
            if (h.n == h.cap) {
                h.cap = h.cap ? 2 * h.cap : 64;
                h.m = mf_xrealloc(h.m, h.cap * sizeof *h.m);
                h.ids = mf_xrealloc(h.ids, h.cap * sizeof *h.ids);
            }
            struct agg_corr_meter *m = &h.m[h.n];
            m->raised = PQgetvalue(res, 0, 2)[0] == 't';
            /* Too few readings (fewer than 168 hours): neither judged nor used. */
            m->eligible = parse_hours(PQgetvalue(res, 0, 3), m->e);
            h.ids[h.n++] = mf_xstrdup(PQgetvalue(res, 0, 1));
        } else if (st != PGRES_TUPLES_OK && rc == MF_OK) {
            snprintf(errbuf, errlen, "daily analytics: loading the hours: %s",
                     PQresultErrorMessage(res));
            rc = MF_ERETRY;
        }
        PQclear(res);
    }
    judge_hood(d, &h, &changes, &judged, &unjudged);
    free(h.m);
    free(h.ids);
    mf_buf_appendc(&changes, ']');
    if (rc != MF_OK) {
        mf_buf_release(&changes);
        set_conn(d, NULL);
        return rc;
    }
    mf_metric_set(d->m_judged, (double)judged);
    mf_metric_set(d->m_unjudged, (double)unjudged);
    const char *cv[3] = {changes.data, end, day};
    rc = run0(d,
              "SELECT meterflow_alert_set('neighborhood_correlation', e->>'m', 'info',"
              " (e->>'raise')::boolean, $2::timestamptz, e->'detail')"
              " FROM jsonb_array_elements($1::jsonb) e ORDER BY e->>'m'",
              2, cv, "correlation alerts", errbuf, errlen);
    if (rc == MF_OK)
        rc = run0(d,
                  "INSERT INTO fleet_settings (name, value) VALUES ('correlation_day', $1)"
                  " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                  1, cv + 2, "correlation day", errbuf, errlen);
    mf_buf_release(&changes);
    if (rc != MF_OK)
        return rc;
    MF_LOG_INFO("agg", "neighborhood correlation of %s: %zu meter(s) judged, %zu unjudged", day,
                judged, unjudged);
    return run0(d, "COMMIT", 0, NULL, "commit", errbuf, errlen);
}

int agg_daily_tick(struct agg_daily *d, int64_t now_ms, char *errbuf, size_t errlen)
{
    if (!agg_daily_due(d, now_ms))
        return MF_OK;
    d->next_ms = now_ms + d->every_ms;
    char horizon[64], days[2][16];
    int rc;
    if ((rc = ensure_connected(d, errbuf, errlen)) != MF_OK ||
        (rc = publish_outbox(d, errbuf, errlen)) != MF_OK ||
        (rc = peaks_and_quality(d, horizon, sizeof horizon, days, errbuf, errlen)) != MF_OK)
        return rc;
    if (horizon[0] && (rc = correlation(d, horizon, days, errbuf, errlen)) != MF_OK)
        return rc;
    if ((rc = publish_outbox(d, errbuf, errlen)) == MF_OK)
        mf_metric_inc(d->m_rounds);
    return rc;
}
