/*
 * agg_run: the consumer loop, the rebalance callback, batches, resync
 * after failures, maintenance and shutdown.
 */
#include "agg_run.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "mf_http.h"
#include "mf_kafka.h"
#include "mf_log.h"
#include "mf_metrics.h"
#include "mf_signal.h"
#include "mf_time.h"
#include "agg_commit.h"
#include "agg_committer.h"
#include "agg_daily.h"
#include "agg_outbox.h"
#include "agg_partitions.h"
#include "agg_pg.h"
#include "agg_publish.h"
#include "agg_record.h"
#include "agg_state.h"
#include "mf_common.h"
#include "mf_crash.h"

#define BACKOFF_MIN_MS     100
#define BACKOFF_MAX_MS     5000
#define PUBLISH_TIMEOUT_MS 30000
#define TICK_MS            1000    /* idle flush and liveness checks */
#define PING_IDLE_MS       5000    /* check PostgreSQL after this long without a write */
#define AHEAD_EVERY_MS     600000  /* partitions ahead */
#define RETENTION_EVERY_MS 3600000 /* retention */
#define MS_PER_DAY         86400000LL

/* Why /readyz says no; the strings are the answers. */
enum { READY = 0, NR_STARTING, NR_LOADING, NR_PG };
static const char *const not_ready_why[] = {"", "starting", "loading assigned partitions",
                                            "postgresql unavailable"};

/*
 * A record read while the last batch commits: parsed at once (the
 * commit does not change what parsing needs), applied to the state after
 * the commit (it does change what applying needs: open windows, offsets).
 */
struct parsed {
    int32_t part;
    int64_t offset;
    bool ok;
    union {
        struct agg_record rec;
        char why[sizeof(struct agg_record)]; /* !ok: why it could not be parsed */
    } u;
};

struct app {
    const struct agg_config *cfg;
    rd_kafka_t *rk;
    struct agg_publish *pub;
    struct agg_daily *daily; /* the daily analytics, on a connection of their own */
    struct agg_pg *pg;
    struct agg_commit *commit;       /* over pg */
    struct agg_partitions *parts;    /* over pg */
    struct agg_committer *committer; /* commits on its own thread: owns pg while busy */
    struct agg_batch batch;          /* the batch in flight (arrays in st) */
    struct agg_state *st;
    struct parsed *queue; /* read while the batch in flight commits; at most batch_max */
    size_t nqueue;
    struct mf_admin *admin;

    int32_t *assigned;
    size_t nassigned;
    int32_t topic_partitions;

    bool need_resync;
    bool outbox_clear_pending; /* the last batch's publishes were acknowledged */
    bool fatal;
    int64_t backoff_ms, next_try;
    int64_t batch_deadline; /* monotonic ms; -1 while the batch is empty */
    int64_t next_tick, last_pg_ok, next_ahead, next_retention;
    atomic_int not_ready;
    unsigned long invalid_seen;
    struct agg_rows rows;
    struct agg_prejson pj; /* the JSON of the batch in flight's closes, encoded meanwhile */

    struct mf_metric *m_windows[AGG_NWIDTHS], *m_republished[AGG_NWIDTHS];
    struct mf_metric *m_retention[AGG_NWIDTHS];
    struct mf_metric *m_late, *m_applied, *m_dup, *m_invalid, *m_stale;
    struct mf_metric *m_commit, *m_lag, *m_open, *m_resyncs;
};

/* ---------------------------------------------------------------- metrics */

void agg_metrics_init(void)
{
    static const double commit_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                           0.25,  0.5,    1,     2.5,  5,     10};
    mf_metrics_init();
    mf_kafka_metrics_init();
    mf_metrics_register("meterflow_agg_windows_total", MF_METRIC_COUNTER,
                        "Windows closed (watermark passed their end) and published, by width.",
                        NULL, 0);
    mf_metrics_register("meterflow_agg_republished_total", MF_METRIC_COUNTER,
                        "Closed windows published again with a new revision after late data.", NULL,
                        0);
    mf_metrics_register("meterflow_agg_late_records_total", MF_METRIC_COUNTER,
                        "Readings whose 1-minute window was already closed when they arrived.",
                        NULL, 0);
    mf_metrics_register("meterflow_agg_records_total", MF_METRIC_COUNTER,
                        "Consumed records by outcome: applied, duplicate (src already applied),"
                        " invalid (unparseable, skipped), stale (offset already stored).",
                        NULL, 0);
    mf_metrics_register("meterflow_agg_retention_skipped_total", MF_METRIC_COUNTER,
                        "Windows not written because they are older than the retention, by width.",
                        NULL, 0);
    mf_metrics_register("meterflow_agg_commit_duration_seconds", MF_METRIC_HISTOGRAM,
                        "Duration of one batch's PostgreSQL transaction.", commit_bounds,
                        MF_ARRAY_LEN(commit_bounds));
    mf_metrics_register("meterflow_event_lag_seconds", MF_METRIC_GAUGE,
                        "Wall clock minus the newest event time written to PostgreSQL.", NULL, 0);
    mf_metrics_register("meterflow_agg_open_windows", MF_METRIC_GAUGE,
                        "Open windows held in memory for the assigned partitions.", NULL, 0);
    mf_metrics_register("meterflow_agg_resyncs_total", MF_METRIC_COUNTER,
                        "State reloads from PostgreSQL (assignments and recoveries).", NULL, 0);
    agg_daily_metrics_init();
}

static void metrics_bind(struct app *a)
{
    for (int w = 0; w < AGG_NWIDTHS; w++) {
        a->m_windows[w] = mf_metric1("meterflow_agg_windows_total", "width", agg_widths[w].name);
        a->m_republished[w] = mf_metric1("meterflow_agg_republished_total", "width",
                                         agg_widths[w].name);
        a->m_retention[w] = mf_metric1("meterflow_agg_retention_skipped_total", "width",
                                       agg_widths[w].name);
    }
    a->m_late = mf_metric("meterflow_agg_late_records_total", NULL);
    a->m_applied = mf_metric1("meterflow_agg_records_total", "outcome", "applied");
    a->m_dup = mf_metric1("meterflow_agg_records_total", "outcome", "duplicate");
    a->m_invalid = mf_metric1("meterflow_agg_records_total", "outcome", "invalid");
    a->m_stale = mf_metric1("meterflow_agg_records_total", "outcome", "stale");
    a->m_commit = mf_metric("meterflow_agg_commit_duration_seconds", NULL);
    a->m_lag = mf_metric("meterflow_event_lag_seconds", NULL);
    a->m_open = mf_metric("meterflow_agg_open_windows", NULL);
    a->m_resyncs = mf_metric("meterflow_agg_resyncs_total", NULL);
}

/* Thread: libmicrohttpd's. Reads one atomic. */
static int ready_fn(void *opaque, char *why, size_t whylen)
{
    struct app *a = opaque;
    int nr = atomic_load(&a->not_ready);
    if (nr == READY)
        return 1;
    snprintf(why, whylen, "%s", not_ready_why[nr]);
    return 0;
}

/* ---------------------------------------------------------------- partitions */

static rd_kafka_topic_partition_list_t *assigned_list(const struct app *a)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)a->nassigned);
    for (size_t i = 0; i < a->nassigned; i++)
        rd_kafka_topic_partition_list_add(l, a->cfg->topic_validated, a->assigned[i]);
    return l;
}

/* Stops fetching until the state is reloaded (resync). */
static void start_resync(struct app *a, int why)
{
    MF_ASSERT(!agg_committer_busy(a->committer));
    if (a->nassigned)
        mf_kafka_hold(a->rk);
    agg_state_reset(a->st);
    a->nqueue = 0; /* read again after the seek */
    a->batch_deadline = -1;
    a->need_resync = true;
    atomic_store(&a->not_ready, why);
}

static void backoff(struct app *a)
{
    a->backoff_ms = a->backoff_ms ? a->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (a->backoff_ms > BACKOFF_MAX_MS)
        a->backoff_ms = BACKOFF_MAX_MS;
    a->next_try = mf_mono_ms() + a->backoff_ms;
}

/* Starts every assigned partition at the offset PostgreSQL stored (mf_kafka_assign_stored). */
static int seek_stored(struct app *a, char *errbuf, size_t errlen)
{
    rd_kafka_topic_partition_list_t *l = assigned_list(a);
    for (int i = 0; i < l->cnt; i++)
        l->elems[i].offset = agg_state_next_offset(a->st, l->elems[i].partition);
    int rc = mf_kafka_assign_stored(a->rk, l, errbuf, errlen);
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

/*
 * Reloads the assigned partitions from PostgreSQL, republishes their
 * outbox, assigns at the stored offsets. On failure: backoff, still not ready.
 */
static void resync(struct app *a)
{
    char err[512];
    int rc;

    if (!a->nassigned) {
        a->need_resync = false;
        atomic_store(&a->not_ready, READY);
        return;
    }
    mf_metric_inc(a->m_resyncs);
    if ((rc = agg_pg_connect(a->pg, err, sizeof err)) != MF_OK)
        goto fail;
    agg_state_reset(a->st);
    rc = agg_pg_load(a->pg, a->st, a->assigned, a->nassigned, a->topic_partitions, mf_mono_ms(),
                     err, sizeof err);
    if (rc != MF_OK)
        goto fail;

    /* What the last owner committed but may not have published. */
    a->rows.n = 0;
    if ((rc = agg_outbox_read(a->pg, a->assigned, a->nassigned, &a->rows, err, sizeof err)))
        goto fail;
    if (a->rows.n) {
        if ((rc = agg_publish_rows(a->pub, &a->rows, NULL, PUBLISH_TIMEOUT_MS, err, sizeof err)))
            goto fail;
        MF_CRASH_POINT("aggregator.resync.republished"); /* the outbox sent again, not cleared */
        MF_LOG_INFO("agg", "republished %zu window(s) from the outbox", a->rows.n);
    }
    if ((rc = agg_outbox_clear(a->pg, a->assigned, a->nassigned, err, sizeof err)))
        goto fail;
    a->outbox_clear_pending = false;
    if ((rc = seek_stored(a, err, sizeof err)) != MF_OK)
        goto fail;

    a->need_resync = false;
    a->backoff_ms = 0;
    a->last_pg_ok = mf_mono_ms();
    atomic_store(&a->not_ready, READY);
    mf_metric_set(a->m_open, (double)agg_state_open_windows(a->st));
    MF_LOG_INFO("agg", "loaded %zu partition(s): %zu open window(s)", a->nassigned,
                agg_state_open_windows(a->st));
    return;
fail:
    agg_state_reset(a->st);
    if (rc == MF_EFATAL) {
        MF_LOG_FATAL("agg", "cannot load state: %s", err);
        a->fatal = true;
        return;
    }
    backoff(a);
    atomic_store(&a->not_ready, agg_pg_connected(a->pg) ? NR_LOADING : NR_PG);
    MF_LOG_WARN("agg", "cannot load state (retrying in %lld ms): %s", (long long)a->backoff_ms,
                err);
}

/* ---------------------------------------------------------------- batches */

static void commit_hint(struct app *a)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)a->nassigned);
    for (size_t i = 0; i < a->nassigned; i++) {
        int64_t off = agg_state_next_offset(a->st, a->assigned[i]);
        if (off >= 0)
            rd_kafka_topic_partition_list_add(l, a->cfg->topic_validated, a->assigned[i])->offset =
                off;
    }
    /* Only a hint (PostgreSQL holds the truth): async, errors ignored. */
    if (l->cnt)
        rd_kafka_commit(a->rk, l, 1);
    rd_kafka_topic_partition_list_destroy(l);
}

static void apply(struct app *a, const struct parsed *p);

/*
 * After a fatal error: waits for the batch in flight and drops its
 * outcome (committed or not, PostgreSQL and the outbox tell the next
 * owner where it stands), before anything else uses the connection.
 */
static void drop_in_flight(struct app *a)
{
    char err[512];
    int64_t us;
    if (!a->committer || !agg_committer_busy(a->committer))
        return;
    (void)agg_committer_finish(a->committer, &us, err, sizeof err);
    agg_state_reset(a->st);
    a->nqueue = 0;
}

/*
 * Takes the outcome of the batch in flight, if any. Committed: the state
 * catches up, the closed windows are published, and the records read
 * meanwhile are applied (the batch is empty, and the queue holds at most
 * a batch). Failed: the state is dropped and a resync begins; nothing
 * half-written survives (the transaction rolled back), nothing committed
 * is lost (the outbox), and the queued records are read again from the
 * stored offsets.
 */
static void settle(struct app *a)
{
    char err[512];
    int64_t us;
    int rc;

    if (!agg_committer_busy(a->committer))
        return;
    if ((rc = agg_committer_finish(a->committer, &us, err, sizeof err)) != MF_OK)
        goto fail;
    MF_CRASH_POINT("aggregator.batch.committed"); /* committed, nothing published */
    mf_metric_observe(a->m_commit, (double)us / 1e6);
    a->outbox_clear_pending = false;
    a->last_pg_ok = mf_mono_ms();
    MF_LOG_DEBUG("agg", "batch: %zu records, %zu windows, %zu closed, %zu to publish",
                 a->batch.nrecords, a->batch.nentries, a->batch.ncloses, a->rows.n);
    agg_state_committed(a->st);

    for (size_t i = 0; i < a->rows.n; i++)
        mf_metric_inc(a->rows.v[i].first_close ? a->m_windows[a->rows.v[i].width]
                                               : a->m_republished[a->rows.v[i].width]);
    if (a->rows.n) {
        if ((rc = agg_publish_rows(a->pub, &a->rows, &a->pj, PUBLISH_TIMEOUT_MS, err, sizeof err)))
            goto fail;
        MF_CRASH_POINT("aggregator.publish.delivered"); /* acknowledged, the outbox still full */
        a->outbox_clear_pending = true;
    }
    commit_hint(a);
    int64_t newest = agg_state_newest_event(a->st);
    if (newest != AGG_WM_NONE)
        mf_metric_set(a->m_lag, (double)(mf_now_ms() - newest) / 1000.0);
    mf_metric_set(a->m_open, (double)agg_state_open_windows(a->st));
    for (size_t i = 0; i < a->nqueue; i++)
        apply(a, &a->queue[i]);
    a->nqueue = 0;
    return;

fail:
    a->nqueue = 0;
    if (rc == MF_EFATAL) {
        MF_LOG_FATAL("agg", "batch failed: %s", err);
        a->fatal = true;
        return;
    }
    MF_LOG_WARN("agg", "batch not written, reloading from PostgreSQL: %s", err);
    start_resync(a, agg_pg_connected(a->pg) ? NR_LOADING : NR_PG);
}

/*
 * Writes the batch in hand (and any window the watermark closed) in one
 * transaction, on the commit thread, after the one in flight settled.
 * wait: settle it too before returning; else the caller reads on and
 * settles later (settle, or the next flush_batch).
 */
static void flush_batch(struct app *a, bool wait)
{
    settle(a);
    if (a->need_resync || a->fatal)
        return;
    a->batch_deadline = -1;
    agg_state_tick(a->st, mf_now_ms(), mf_mono_ms());
    if (!agg_state_build(a->st, &a->batch))
        return;
    a->rows.n = 0;
    agg_committer_start(a->committer, &a->batch, a->outbox_clear_pending, a->assigned, a->nassigned,
                        &a->rows);
    /* While it commits: most of what it will publish is known already (agg_publish.h). */
    agg_prejson_encode(&a->pj, a->batch.closes, a->batch.ncloses);
    if (wait)
        settle(a);
}

/* ---------------------------------------------------------------- records */

/* A parsed record (or one that failed to parse) into the batch. */
static void apply(struct app *a, const struct parsed *p)
{
    if (a->need_resync || !agg_state_assigned(a->st, p->part))
        return;
    if (!p->ok) {
        /*
         * Reading it again would not help: count it, log it (the first ten,
         * then one in a thousand), and move the offset past it.
         */
        mf_metric_inc(a->m_invalid);
        if (a->invalid_seen++ < 10 || a->invalid_seen % 1000 == 0)
            MF_LOG_WARN("agg", "skipping record %d/%lld: %s (%lu so far)", (int)p->part,
                        (long long)p->offset, p->u.why, a->invalid_seen);
        agg_state_skip(a->st, p->part, p->offset);
    } else {
        bool late;
        int expired;
        switch (
            agg_state_add(a->st, p->part, p->offset, &p->u.rec, mf_mono_ms(), &late, &expired)) {
        case AGG_ADD_APPLIED:
            mf_metric_inc(a->m_applied);
            if (late)
                mf_metric_inc(a->m_late);
            for (int w = 0; w < AGG_NWIDTHS; w++)
                if (expired & (1 << w))
                    mf_metric_inc(a->m_retention[w]);
            break;
        case AGG_ADD_DUPLICATE:
            mf_metric_inc(a->m_dup);
            break;
        case AGG_ADD_STALE:
            mf_metric_inc(a->m_stale);
            return;
        case AGG_ADD_UNASSIGNED:
            return;
        }
    }
    if (a->batch_deadline < 0)
        a->batch_deadline = mf_mono_ms() + a->cfg->batch_ms;
}

/*
 * One consumed record: parsed now, applied now or, while a batch
 * commits, queued and applied once it has. A full queue waits for the
 * commit; a full batch then starts the next one.
 */
static void handle(struct app *a, rd_kafka_message_t *m)
{
    struct parsed one;
    char why[sizeof one.u.why];

    if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            MF_LOG_WARN("kafka", "consume: %s", rd_kafka_message_errstr(m));
        return;
    }
    /* Before a reload: these are read again after the seek. */
    if (a->need_resync || !agg_state_assigned(a->st, m->partition))
        return;
    if (agg_committer_busy(a->committer) && a->nqueue == (size_t)a->cfg->batch_max)
        settle(a);
    if (!a->need_resync && !a->fatal && !agg_committer_busy(a->committer) &&
        agg_state_batch_full(a->st))
        flush_batch(a, false);
    if (a->need_resync || a->fatal)
        return;

    bool queued = agg_committer_busy(a->committer);
    struct parsed *p = queued ? &a->queue[a->nqueue++] : &one;
    p->part = m->partition;
    p->offset = m->offset;
    p->ok = agg_record_parse(m->payload, m->len, &p->u.rec, why, sizeof why) == MF_OK;
    if (!p->ok)
        memcpy(p->u.why, why, sizeof why);
    if (!queued)
        apply(a, p);
}

/* ---------------------------------------------------------------- maintenance */

static void maintain(struct app *a)
{
    char err[512];
    int64_t now = mf_mono_ms(), wall = mf_now_ms();

    if (now >= a->next_ahead) {
        if (agg_partitions_ensure_ahead(a->parts, wall, a->cfg->partitions_ahead_days, err,
                                        sizeof err) == MF_OK)
            a->next_ahead = now + AHEAD_EVERY_MS;
        else
            MF_LOG_WARN("agg", "creating partitions ahead: %s", err);
    }
    if (now >= a->next_retention) {
        const int64_t days[AGG_NWIDTHS] = {a->cfg->retention_1m_days, a->cfg->retention_1h_days};
        bool ok = true;
        for (int w = 0; w < AGG_NWIDTHS; w++) {
            if (!days[w])
                continue;
            int64_t cutoff = wall - days[w] * MS_PER_DAY;
            agg_state_set_cutoff(a->st, (enum agg_width)w, cutoff);
            int n = agg_partitions_drop_before(a->parts, (enum agg_width)w, cutoff, err,
                                               sizeof err);
            if (n < 0) {
                MF_LOG_WARN("agg", "retention of %s: %s", agg_widths[w].table, err);
                ok = false;
            } else if (n > 0) {
                MF_LOG_INFO("agg", "retention: dropped %d partition(s) of %s", n,
                            agg_widths[w].table);
            }
        }
        a->next_retention = now + (ok ? RETENTION_EVERY_MS : 60000);
    }
    /* The last batch's publishes were acknowledged: a restart need not repeat them. */
    if (a->outbox_clear_pending && a->nassigned) {
        if (agg_outbox_clear(a->pg, a->assigned, a->nassigned, err, sizeof err) == MF_OK) {
            MF_CRASH_POINT("aggregator.outbox.cleared");
            a->outbox_clear_pending = false;
        }
    }
    if (now - a->last_pg_ok >= PING_IDLE_MS) {
        if (agg_pg_ping(a->pg, err, sizeof err) == MF_OK) {
            a->last_pg_ok = now;
        } else {
            MF_LOG_WARN("agg", "PostgreSQL check failed: %s", err);
            start_resync(a, NR_PG);
        }
    }
}

/* ---------------------------------------------------------------- rebalance */

/* Thread: main, inside rd_kafka_consumer_poll / rd_kafka_consumer_close. */
static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct app *a = opaque;

    /* The batch in flight first: it owns the connection and reads the state. */
    if (a->fatal)
        drop_in_flight(a);
    else
        settle(a);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        a->assigned = mf_xrealloc(a->assigned,
                                  (size_t)(parts->cnt ? parts->cnt : 1) * sizeof *a->assigned);
        a->nassigned = 0;
        for (int i = 0; i < parts->cnt; i++)
            a->assigned[a->nassigned++] = parts->elems[i].partition;
        MF_LOG_INFO("agg", "assigned %d partition(s)", parts->cnt);
        /*
         * Take them (the group settles), then fetch nothing until PostgreSQL
         * says where each partition stands (resync: one more assignment).
         */
        rd_kafka_assign(rk, parts);
        start_resync(a, NR_LOADING);
        a->backoff_ms = 0;
        a->next_try = 0;
        return;
    }

    /*
     * Revoked: the partitions are ours until we return, so write the batch
     * in hand now (one attempt; if it fails, the next owner reads it again)
     * and clear our acknowledged outbox rows, so the next owner does not
     * republish them.
     */
    if (!a->need_resync && !a->fatal)
        flush_batch(a, true);
    if (!a->need_resync && a->outbox_clear_pending && a->nassigned) {
        char why[256];
        if (agg_outbox_clear(a->pg, a->assigned, a->nassigned, why, sizeof why) != MF_OK)
            MF_LOG_WARN("agg", "clearing the outbox on revoke: %s", why);
    }
    a->outbox_clear_pending = false;
    MF_LOG_INFO("agg", "revoked %d partition(s)", parts->cnt);
    agg_state_reset(a->st);
    a->nqueue = 0;
    a->nassigned = 0;
    a->need_resync = false;
    a->batch_deadline = -1;
    rd_kafka_assign(rk, NULL);
}

/* ---------------------------------------------------------------- main loop */

static int open_app(struct app *a, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf;

    conf = mf_kafka_conf_new(MF_KAFKA_PRODUCER, a->cfg->kafka_brokers, "aggregator", NULL, err,
                             errlen);
    if (!conf)
        return MF_EFATAL;
    a->pub = agg_publish_new(conf, a->cfg->topic_rollups_1m, a->cfg->topic_rollups_1h, err, errlen);
    conf = NULL; /* the publisher owns it, even on failure */
    if (!a->pub)
        return MF_EFATAL;

    conf = mf_kafka_conf_new(MF_KAFKA_PRODUCER, a->cfg->kafka_brokers, "aggregator", NULL, err,
                             errlen);
    if (!conf)
        return MF_EFATAL;
    static const char *const hemispheres[] = {"north", "south"};
    const struct agg_daily_conf dc = {.pg_dsn = a->cfg->pg_dsn,
                                      .fleet_tz = a->cfg->fleet_tz,
                                      .hemisphere = hemispheres[a->cfg->hemisphere],
                                      .topic_alerts = a->cfg->topic_alerts,
                                      .every_ms = a->cfg->daily_every_s * 1000};
    a->daily = agg_daily_new(&dc, conf, err, errlen);
    conf = NULL; /* the daily runner owns it, even on failure */
    if (!a->daily)
        return MF_EFATAL;

    conf = mf_kafka_conf_new(MF_KAFKA_CONSUMER, a->cfg->kafka_brokers, "aggregator",
                             a->cfg->group_id, err, errlen);
    if (!conf)
        return MF_EFATAL;
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, a);
    a->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
    if (!a->rk) {
        rd_kafka_conf_destroy(conf);
        return MF_EFATAL;
    }
    conf = NULL; /* rk owns it */
    rd_kafka_poll_set_consumer(a->rk);

    /* Which meters our partitions own: murmur2 over the topic's partition count. */
    for (int tries = 0; (a->topic_partitions =
                             mf_kafka_partition_count(a->rk, a->cfg->topic_validated, 5000)) <= 0;
         tries++) {
        if (mf_stop_requested || tries >= 12) {
            snprintf(err, errlen, "no metadata for topic '%s'", a->cfg->topic_validated);
            return MF_EFATAL;
        }
    }

    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, a->cfg->topic_validated, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t kerr = rd_kafka_subscribe(a->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (kerr) {
        snprintf(err, errlen, "subscribe to '%s': %s", a->cfg->topic_validated,
                 rd_kafka_err2str(kerr));
        return MF_EFATAL;
    }
    return MF_OK;
}

int agg_run(const struct agg_config *cfg)
{
    struct app app = {0}, *a = &app;
    char err[512];
    int status = 1;

    a->cfg = cfg;
    a->batch_deadline = -1;
    atomic_store(&a->not_ready, NR_STARTING);
    agg_metrics_init();
    metrics_bind(a);
    a->st = agg_state_new((size_t)cfg->batch_max, cfg->lateness_s * 1000, cfg->idle_flush_s * 1000);
    a->pg = agg_pg_new(cfg->pg_dsn, cfg->group_id, cfg->topic_validated);
    a->commit = agg_commit_new(a->pg);
    a->parts = agg_partitions_new(a->pg);
    a->committer = agg_committer_new(a->commit, a->parts);
    a->queue = mf_xmalloc((size_t)cfg->batch_max * sizeof *a->queue);

    a->admin = mf_admin_start(cfg->metrics_addr, ready_fn, a, err, sizeof err);
    if (!a->admin) {
        MF_LOG_FATAL("agg", "%s", err);
        goto out;
    }
    /* Migrations first (advisory lock: several pods may start at once). */
    for (;;) {
        int n = agg_pg_migrate(a->pg, err, sizeof err);
        if (n >= 0) {
            if (n)
                MF_LOG_INFO("agg", "applied %d migration(s)", n);
            break;
        }
        if (n == MF_EFATAL || mf_stop_requested) {
            MF_LOG_FATAL("agg", "migrations: %s", err);
            goto out;
        }
        backoff(a);
        atomic_store(&a->not_ready, NR_PG);
        MF_LOG_WARN("agg", "waiting for PostgreSQL: %s", err);
        while (mf_mono_ms() < a->next_try && !mf_stop_requested)
            usleep(50000);
    }
    a->backoff_ms = 0;
    if (open_app(a, err, sizeof err) != MF_OK) {
        MF_LOG_FATAL("agg", "%s", err);
        goto out;
    }
    /* The daily analytics on their own thread: a long round never stalls consumption. */
    if (agg_daily_start(a->daily, err, sizeof err) != MF_OK) {
        MF_LOG_FATAL("agg", "%s", err);
        goto out;
    }
    mf_signal_install();
    atomic_store(&a->not_ready, READY);
    a->last_pg_ok = mf_mono_ms();
    MF_LOG_INFO("agg", "consuming %s as group %s", cfg->topic_validated, cfg->group_id);

    while (!mf_stop_requested && !a->fatal) {
        if (atomic_load(&mf_kafka_fatal)) {
            MF_LOG_FATAL("agg", "fatal Kafka error");
            a->fatal = true;
            break;
        }
        int64_t now = mf_mono_ms();
        if (a->need_resync && now >= a->next_try)
            resync(a);

        int timeout = 100;
        if (agg_committer_busy(a->committer))
            timeout = 0; /* read what is there; the commit is waited for below */
        else if (a->batch_deadline >= 0)
            timeout = (int)(a->batch_deadline - now < 0     ? 0
                            : a->batch_deadline - now > 100 ? 100
                                                            : a->batch_deadline - now);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(a->rk, timeout);
        if (m) {
            handle(a, m);
            rd_kafka_message_destroy(m);
        }
        if (a->need_resync || a->fatal)
            continue;
        /* Nothing read: wait a moment for the commit rather than spin. */
        if (agg_committer_busy(a->committer) && agg_committer_done(a->committer, m ? 0 : 2))
            settle(a);
        if (a->need_resync || a->fatal)
            continue;
        now = mf_mono_ms();
        if (agg_committer_busy(a->committer)) {
            /* The batch in flight settles first; new records queue meanwhile. */
        } else if (agg_state_batch_full(a->st) ||
                   (a->batch_deadline >= 0 && now >= a->batch_deadline)) {
            flush_batch(a, false);
        } else if (a->batch_deadline < 0 && now >= a->next_tick) {
            /* Idle: close what the wall clock closed, keep partitions and checks up. */
            a->next_tick = now + TICK_MS;
            flush_batch(a, true);
            if (!a->need_resync && !a->fatal)
                maintain(a);
        }
        agg_publish_poll(a->pub);
    }

    /* SIGTERM: write the batch in hand, then leave the group (revoke runs inside). */
    if (!a->fatal) {
        if (!a->need_resync)
            flush_batch(a, true);
        MF_LOG_INFO("agg", "shutting down");
    }
    status = a->fatal ? 1 : 0;
out:
    drop_in_flight(a);
    if (a->rk) {
        rd_kafka_consumer_close(a->rk);
        rd_kafka_destroy(a->rk);
    }
    agg_daily_destroy(a->daily);
    agg_publish_destroy(a->pub, 5000);
    mf_admin_destroy(a->admin);
    agg_committer_destroy(a->committer);
    agg_commit_destroy(a->commit);
    agg_partitions_destroy(a->parts);
    agg_pg_destroy(a->pg);
    agg_state_destroy(a->st);
    agg_rows_release(&a->rows);
    agg_prejson_release(&a->pj);
    free(a->queue);
    free(a->assigned);
    return status;
}

int agg_run_migrate(const struct agg_config *cfg)
{
    char err[512];
    struct agg_pg *pg = agg_pg_new(cfg->pg_dsn, cfg->group_id, cfg->topic_validated);
    struct agg_partitions *parts = agg_partitions_new(pg);
    int n = agg_pg_migrate(pg, err, sizeof err);
    int64_t now = mf_now_ms();
    if (n >= 0 &&
        agg_partitions_ensure_ahead(parts, now, cfg->partitions_ahead_days, err, sizeof err) < 0)
        n = MF_EFATAL;
    agg_partitions_destroy(parts);
    agg_pg_destroy(pg);
    if (n < 0) {
        MF_LOG_FATAL("agg", "migrate: %s", err);
        return 1;
    }
    MF_LOG_INFO("agg", "migrate: %d migration(s) applied", n);
    return 0;
}

static int check(void *cfg, char *errbuf, size_t errlen)
{
    return agg_config_check(cfg, errbuf, errlen);
}

static int run(const void *cfg)
{
    return agg_run(cfg);
}

static int migrate(const void *cfg)
{
    return agg_run_migrate(cfg);
}

const struct mf_program agg_program = {
    "aggregator",
    "1-minute and hourly rollups of validated readings into PostgreSQL",
    agg_config_rows,
    &agg_config_nrows,
    sizeof(struct agg_config),
    offsetof(struct agg_config, log_level),
    check,
    run,
    migrate,
};
