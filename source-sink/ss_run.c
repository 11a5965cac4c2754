/*
 * ss_run: the loop.
 *
 *   assigned    take them, fetch nothing, read the stored offsets, assign there
 *   record      decided into the batch (ss_batch)
 *   batch due   1. the DLQ-bound records to the DLQ, waiting for their acks
 *               2. rows + next offsets in one PostgreSQL transaction (ss_pg)
 *               3. the offsets to Kafka too (only for lag monitoring)
 *   failure     drop the batch, back off, re-read from the stored offsets
 *   revoked     write the batch in hand (one attempt), then let go
 *
 * The same loop stores the quarantine, DLQ and alerts topics into the
 * review stores (DESIGN §14; ss_review), in the same transactions, and
 * every REGISTRY_REFRESH_S drops the stores' days past their retention and
 * sets meterflow_review_oldest_pending_seconds{store}.
 *
 * A crash between 1 and 2 repeats those DLQ records with the same
 * source.topic/partition/offset headers (at least once, recognisable);
 * the tables are written exactly once.
 */
#include "ss_run.h"

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
#include "mf_producer.h"
#include "mf_signal.h"
#include "mf_time.h"
#include "ss_batch.h"
#include "ss_pg.h"
#include "ss_registry.h"
#include "mf_common.h"
#include "mf_crash.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define DLQ_WAIT_MS    30000
#define RELOAD_MIN_MS  1000 /* registry reloads on a miss, at most this often */

enum { READY = 0, NR_STARTING, NR_LOADING, NR_PG };
static const char *const not_ready_why[] = {"", "starting", "loading assigned partitions",
                                            "postgresql unavailable"};

struct app {
    const struct ss_config *cfg;
    const char *topics[SS_TOPIC_COUNT];
    rd_kafka_t *rk;
    struct mf_producer *prod;
    int dlq_topic;
    struct ss_pg *pg;
    struct ss_registry reg;
    struct ss_batch batch;
    struct mf_admin *admin;
    rd_kafka_topic_partition_list_t *assigned;
    bool need_load, fatal;
    bool registry_failed; /* a reload on a miss failed: the batch's verdicts are unsure */
    int64_t backoff_ms, next_try, batch_deadline, next_reload, last_reload;
    atomic_int not_ready;
    struct mf_metric *m_stored[SS_TOPIC_COUNT], *m_dlq[SS_TOPIC_COUNT], *m_commit, *m_lag;
    struct mf_metric *m_oldest[SS_REV_ALERTS];
};

/* ---------------------------------------------------------------- metrics */

static void metrics_init(struct app *a)
{
    static const double bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                    0.25,  0.5,    1,     2.5,  5,     10};
    mf_metrics_init();
    mf_kafka_metrics_init();
    mf_metrics_register("meterflow_source_records_total", MF_METRIC_COUNTER,
                        "Records of the other sources and the review topics by kind and "
                        "outcome: stored (in the tables) or dlq (refused, in the DLQ topic).",
                        NULL, 0);
    mf_metrics_register("meterflow_source_commit_duration_seconds", MF_METRIC_HISTOGRAM,
                        "Duration of one batch's PostgreSQL transaction.", bounds,
                        MF_ARRAY_LEN(bounds));
    mf_metrics_register("meterflow_event_lag_seconds", MF_METRIC_GAUGE,
                        "Wall clock minus the newest event time written to PostgreSQL.", NULL, 0);
    mf_metrics_register("meterflow_review_oldest_pending_seconds", MF_METRIC_GAUGE,
                        "Age of the oldest pending row of a review store (quarantine, dlq); "
                        "0 when none is pending (DESIGN 14's review SLA).",
                        NULL, 0);
    a->m_oldest[SS_REV_QUARANTINE] = mf_metric1("meterflow_review_oldest_pending_seconds", "store",
                                                "quarantine");
    a->m_oldest[SS_REV_DLQ] = mf_metric1("meterflow_review_oldest_pending_seconds", "store", "dlq");
    for (int k = 0; k < SS_TOPIC_COUNT; k++) {
        const char *kind = ss_topic_kind_name(k);
        a->m_stored[k] = mf_metric2("meterflow_source_records_total", "kind", kind, "outcome",
                                    "stored");
        a->m_dlq[k] = mf_metric2("meterflow_source_records_total", "kind", kind, "outcome", "dlq");
    }
    a->m_commit = mf_metric("meterflow_source_commit_duration_seconds", NULL);
    a->m_lag = mf_metric("meterflow_event_lag_seconds", NULL);
}

/* /readyz. Thread: the admin server's. */
static int ready_fn(void *opaque, char *why, size_t whylen)
{
    struct app *a = opaque;
    int nr = atomic_load(&a->not_ready);
    if (nr == READY)
        return 1;
    snprintf(why, whylen, "%s", not_ready_why[nr]);
    return 0;
}

static void backoff(struct app *a)
{
    a->backoff_ms = a->backoff_ms ? a->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (a->backoff_ms > BACKOFF_MAX_MS)
        a->backoff_ms = BACKOFF_MAX_MS;
    a->next_try = mf_mono_ms() + a->backoff_ms;
}

/* ---------------------------------------------------------------- registry */

/* ss_lookup_fn: the cache, reloaded once on a miss (an id registered since the last load). */
static int lookup(void *opaque, enum mf_source_kind k, const char *id, int *interval_s)
{
    struct app *a = opaque;
    char err[256];

    if (ss_registry_lookup(&a->reg, k, id, interval_s))
        return 1;
    int64_t now = mf_mono_ms();
    if (now - a->last_reload < RELOAD_MIN_MS)
        return 0;
    a->last_reload = now;
    if (ss_pg_load_registry(a->pg, &a->reg, err, sizeof err) != MF_OK) {
        /* Not knowing is not "unknown": the batch is dropped and read again later. */
        MF_LOG_WARN("ss", "%s", err);
        a->registry_failed = true;
        return 0;
    }
    return ss_registry_lookup(&a->reg, k, id, interval_s);
}

/* ---------------------------------------------------------------- partitions */

static int kind_of_topic(const struct app *a, const char *topic)
{
    for (int k = 0; k < SS_TOPIC_COUNT; k++)
        if (strcmp(topic, a->topics[k]) == 0)
            return k;
    return -1;
}

/* Drops the batch and stops fetching until the stored offsets are read again. */
static void start_reload(struct app *a, int why)
{
    if (a->assigned && a->assigned->cnt)
        mf_kafka_hold(a->rk);
    ss_batch_reset(&a->batch);
    a->batch_deadline = -1;
    a->need_load = true;
    atomic_store(&a->not_ready, why);
}

/* Assigns every partition at the offset PostgreSQL stored (mf_kafka_assign_stored). */
static int load_assigned(struct app *a, char *err, size_t errlen)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_copy(a->assigned);
    int rc = MF_ERETRY;

    if (ss_pg_load_registry(a->pg, &a->reg, err, errlen) != MF_OK)
        goto out;
    for (int i = 0; i < l->cnt; i++) {
        int64_t off;
        if (ss_pg_offsets(a->pg, l->elems[i].topic, &l->elems[i].partition, 1, &off, err, errlen) !=
            MF_OK)
            goto out;
        l->elems[i].offset = off;
    }
    rc = mf_kafka_assign_stored(a->rk, l, err, errlen);
out:
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

static void reload(struct app *a)
{
    char err[512];
    if (!a->assigned || !a->assigned->cnt) {
        a->need_load = false;
        atomic_store(&a->not_ready, READY);
        return;
    }
    if (load_assigned(a, err, sizeof err) != MF_OK) {
        MF_LOG_WARN("ss", "loading the assigned partitions: %s", err);
        atomic_store(&a->not_ready, NR_PG);
        backoff(a);
        return;
    }
    a->need_load = false;
    a->backoff_ms = 0;
    a->last_reload = mf_mono_ms();
    atomic_store(&a->not_ready, READY);
    MF_LOG_INFO("ss", "consuming %d partition(s) from their stored offsets", a->assigned->cnt);
}

/* ---------------------------------------------------------------- batches */

/* The DLQ-bound records, with the headers of DESIGN §2, delivered before the commit. */
static int send_dlq(struct app *a, char *err, size_t errlen)
{
    struct mf_batch mb;
    const struct ss_batch *b = &a->batch;

    if (!b->ndlq)
        return MF_OK;
    mf_batch_init(&mb, NULL, NULL);
    for (size_t i = 0; i < b->ndlq; i++) {
        const struct ss_dlq *d = &b->dlq[i];
        char part[16], off[24];
        snprintf(part, sizeof part, "%d", d->partition);
        snprintf(off, sizeof off, "%lld", (long long)d->offset);
        const struct mf_header h[] = {
            {"error.code", d->code},
            {"error.message", d->msg},
            {"source.topic", a->topics[d->kind]},
            {"source.partition", part},
            {"source.offset", off},
            {"worker.id", a->cfg->worker_id},
        };
        const struct mf_msg m = {a->dlq_topic,
                                 MF_PARTITION_ANY,
                                 d->key_len ? b->bytes.data + d->key_off : NULL,
                                 d->key_len,
                                 b->bytes.data + d->val_off,
                                 d->val_len,
                                 h,
                                 MF_ARRAY_LEN(h)};
        if (mf_producer_send(a->prod, &mb, &m, DLQ_WAIT_MS, err, errlen) != MF_OK) {
            mf_producer_wait(a->prod, &mb, DLQ_WAIT_MS, NULL, 0);
            return MF_ERETRY;
        }
        MF_CRASH_POINT("source-sink.dlq.produced"); /* some DLQ records sent, none acknowledged */
    }
    return mf_producer_wait(a->prod, &mb, DLQ_WAIT_MS, err, errlen);
}

/* After the commit: the same offsets to Kafka, so its lag tools see the progress. */
static void commit_kafka(struct app *a)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)a->batch.npos);
    for (size_t i = 0; i < a->batch.npos; i++)
        rd_kafka_topic_partition_list_add(l, a->topics[a->batch.pos[i].kind],
                                          a->batch.pos[i].partition)
            ->offset = a->batch.pos[i].next_offset;
    rd_kafka_commit(a->rk, l, 1);
    rd_kafka_topic_partition_list_destroy(l);
}

static void flush_batch(struct app *a)
{
    char err[512];
    struct ss_batch *b = &a->batch;

    a->batch_deadline = -1;
    if (!b->count)
        return;
    int64_t t0 = mf_mono_ms();
    int rc = send_dlq(a, err, sizeof err);
    if (rc == MF_OK && b->ndlq)
        MF_CRASH_POINT("source-sink.dlq.delivered"); /* in the DLQ, the batch not stored */
    if (rc != MF_OK || ss_pg_write(a->pg, b, a->topics, err, sizeof err) != MF_OK) {
        MF_LOG_WARN("ss", "batch of %zu records not written, retrying from the stored offsets: %s",
                    b->count, err);
        start_reload(a, NR_PG);
        backoff(a);
        return;
    }
    MF_CRASH_POINT("source-sink.batch.committed"); /* stored, Kafka's offsets not yet told */
    mf_metric_observe(a->m_commit, (double)(mf_mono_ms() - t0) / 1000.0);
    for (int k = 0; k < MF_SRC_COUNT; k++)
        mf_metric_add(a->m_stored[k], (double)b->nrows[k]);
    for (int k = 0; k < SS_REV_COUNT; k++)
        mf_metric_add(a->m_stored[SS_TOPIC_OF_REVIEW(k)], (double)b->nreview[k]);
    for (size_t i = 0; i < b->ndlq; i++)
        mf_metric_inc(a->m_dlq[b->dlq[i].kind]);
    if (b->newest_ts_ms)
        mf_metric_set(a->m_lag, (double)(mf_now_ms() - b->newest_ts_ms) / 1000.0);
    commit_kafka(a);
    a->backoff_ms = 0;
    ss_batch_reset(b);
}

#define MAX_HEADERS 32

/* A review topic's record, with its timestamp and headers, into the batch. */
static void add_review(struct app *a, enum ss_review_kind k, const rd_kafka_message_t *m)
{
    struct ss_header h[MAX_HEADERS];
    size_t nh = 0;
    rd_kafka_headers_t *hdrs = NULL;
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(m, &tstype);

    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char *name;
        const void *val;
        size_t len;
        while (nh < MAX_HEADERS &&
               rd_kafka_header_get_all(hdrs, nh, &name, &val, &len) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            h[nh] = (struct ss_header){name, val, len};
            nh++;
        }
    }
    ss_batch_add_review(&a->batch, k, m->partition, m->offset, ts, m->key, m->key_len, h, nh,
                        m->payload, m->len);
}

/* Retention of the review stores and the age of their oldest pending rows. */
static void review_upkeep(struct app *a)
{
    char err[512];
    double oldest[SS_REV_ALERTS];
    int dropped = 0;
    if (ss_pg_review_upkeep(a->pg, (int)a->cfg->review_retention_days,
                            (int)a->cfg->vehicle_retention_days, oldest, &dropped, err,
                            sizeof err) != MF_OK) {
        MF_LOG_WARN("ss", "%s", err);
        return;
    }
    if (dropped)
        MF_LOG_INFO("ss",
                    "review stores, vehicle history: %d day partition(s) past retention dropped",
                    dropped);
    for (int k = 0; k < SS_REV_ALERTS; k++)
        mf_metric_set(a->m_oldest[k], oldest[k]);
}

static void handle(struct app *a, const rd_kafka_message_t *m)
{
    if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            MF_LOG_WARN("kafka", "%s", rd_kafka_message_errstr(m));
        return;
    }
    int k = kind_of_topic(a, rd_kafka_topic_name(m->rkt));
    if (k < 0 || a->need_load)
        return; /* fetched before the hold: read again after the reload */
    if (k >= MF_SRC_COUNT)
        add_review(a, (enum ss_review_kind)(k - MF_SRC_COUNT), m);
    else
        ss_batch_add(&a->batch, (enum mf_source_kind)k, m->partition, m->offset, m->key, m->key_len,
                     m->payload, m->len, lookup, a);
    if (a->registry_failed) {
        a->registry_failed = false;
        start_reload(a, NR_PG);
        backoff(a);
        return;
    }
    if (a->batch_deadline < 0)
        a->batch_deadline = mf_mono_ms() + a->cfg->batch_ms;
}

/* ---------------------------------------------------------------- rebalance */

/* Thread: main, inside rd_kafka_consumer_poll / rd_kafka_consumer_close. */
static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct app *a = opaque;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (a->assigned)
            rd_kafka_topic_partition_list_destroy(a->assigned);
        a->assigned = rd_kafka_topic_partition_list_copy(parts);
        MF_LOG_INFO("ss", "assigned %d partition(s)", parts->cnt);
        /*
         * Take them (the group settles), then fetch nothing until PostgreSQL
         * says where each partition stands (reload: one more assignment).
         */
        rd_kafka_assign(rk, parts);
        start_reload(a, NR_LOADING);
        a->backoff_ms = 0;
        a->next_try = 0;
        return;
    }
    /* Revoked: ours until we return; write what we hold (one attempt). */
    if (!a->need_load && !a->fatal)
        flush_batch(a);
    MF_LOG_INFO("ss", "revoked %d partition(s)", parts->cnt);
    ss_batch_reset(&a->batch);
    a->batch_deadline = -1;
    a->need_load = false;
    if (a->assigned) {
        rd_kafka_topic_partition_list_destroy(a->assigned);
        a->assigned = NULL;
    }
    rd_kafka_assign(rk, NULL);
}

/* ---------------------------------------------------------------- main loop */

static int open_app(struct app *a, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = mf_kafka_conf_new(MF_KAFKA_PRODUCER, a->cfg->kafka_brokers,
                                              "source-sink", NULL, err, errlen);
    if (!conf)
        return MF_EFATAL;
    a->prod = mf_producer_new(conf, err, errlen);
    conf = NULL; /* the producer owns it, also on failure */
    if (!a->prod)
        return MF_EFATAL;
    a->dlq_topic = mf_producer_topic(a->prod, a->cfg->topic_dlq);

    conf = mf_kafka_conf_new(MF_KAFKA_CONSUMER, a->cfg->kafka_brokers, "source-sink",
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
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(SS_TOPIC_COUNT);
    for (int k = 0; k < SS_TOPIC_COUNT; k++)
        rd_kafka_topic_partition_list_add(topics, a->topics[k], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t kerr = rd_kafka_subscribe(a->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (kerr) {
        snprintf(err, errlen, "subscribe: %s", rd_kafka_err2str(kerr));
        return MF_EFATAL;
    }
    return MF_OK;
}

int ss_run(const struct ss_config *cfg)
{
    struct app app = {0}, *a = &app;
    char err[512];
    int status = 1;

    a->cfg = cfg;
    a->topics[MF_SRC_GRID] = cfg->topic_grid;
    a->topics[MF_SRC_WEATHER] = cfg->topic_weather;
    a->topics[MF_SRC_VEHICLE] = cfg->topic_vehicles;
    a->topics[SS_TOPIC_OF_REVIEW(SS_REV_QUARANTINE)] = cfg->topic_quarantine;
    a->topics[SS_TOPIC_OF_REVIEW(SS_REV_DLQ)] = cfg->topic_dlq;
    a->topics[SS_TOPIC_OF_REVIEW(SS_REV_ALERTS)] = cfg->topic_alerts;
    a->batch_deadline = -1;
    atomic_store(&a->not_ready, NR_STARTING);
    metrics_init(a);
    ss_batch_init(&a->batch);
    a->pg = ss_pg_new(cfg->pg_dsn, cfg->group_id);

    a->admin = mf_admin_start(cfg->metrics_addr, ready_fn, a, err, sizeof err);
    if (!a->admin) {
        MF_LOG_FATAL("ss", "%s", err);
        goto out;
    }
    for (;;) { /* migrations first (advisory lock: several pods may start at once) */
        int n = ss_pg_migrate(a->pg, err, sizeof err);
        if (n >= 0)
            break;
        if (n == MF_EFATAL || mf_stop_requested) {
            MF_LOG_FATAL("ss", "migrations: %s", err);
            goto out;
        }
        backoff(a);
        atomic_store(&a->not_ready, NR_PG);
        MF_LOG_WARN("ss", "waiting for PostgreSQL: %s", err);
        while (mf_mono_ms() < a->next_try && !mf_stop_requested)
            usleep(50000);
    }
    a->backoff_ms = 0;
    if (open_app(a, err, sizeof err) != MF_OK) {
        MF_LOG_FATAL("ss", "%s", err);
        goto out;
    }
    mf_signal_install();
    atomic_store(&a->not_ready, READY);
    a->next_reload = mf_mono_ms() + cfg->registry_refresh_s * 1000;
    MF_LOG_INFO("ss", "consuming %s, %s, %s, %s, %s, %s as group %s", cfg->topic_grid,
                cfg->topic_weather, cfg->topic_vehicles, cfg->topic_quarantine, cfg->topic_dlq,
                cfg->topic_alerts, cfg->group_id);
    review_upkeep(a);

    while (!mf_stop_requested && !a->fatal) {
        if (atomic_load(&mf_kafka_fatal)) {
            MF_LOG_FATAL("ss", "fatal Kafka error");
            a->fatal = true;
            break;
        }
        int64_t now = mf_mono_ms();
        if (a->need_load && now >= a->next_try)
            reload(a);
        int timeout = 100;
        if (a->batch_deadline >= 0)
            timeout = (int)(a->batch_deadline - now < 0     ? 0
                            : a->batch_deadline - now > 100 ? 100
                                                            : a->batch_deadline - now);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(a->rk, timeout);
        if (m) {
            handle(a, m);
            rd_kafka_message_destroy(m);
        }
        now = mf_mono_ms();
        if (!a->need_load && (a->batch.count >= (size_t)cfg->batch_max ||
                              (a->batch_deadline >= 0 && now >= a->batch_deadline)))
            flush_batch(a);
        if (!a->need_load && a->batch_deadline < 0 && now >= a->next_reload) {
            a->next_reload = now + cfg->registry_refresh_s * 1000;
            if (ss_pg_load_registry(a->pg, &a->reg, err, sizeof err) != MF_OK)
                MF_LOG_WARN("ss", "registry refresh: %s", err);
            review_upkeep(a);
        }
        mf_producer_poll(a->prod, 0);
    }
    if (!a->fatal) {
        if (!a->need_load)
            flush_batch(a);
        MF_LOG_INFO("ss", "shutting down");
    }
    status = a->fatal ? 1 : 0;
out:
    if (a->rk) {
        rd_kafka_consumer_close(a->rk);
        rd_kafka_destroy(a->rk);
    }
    if (a->prod) {
        mf_producer_flush(a->prod, 5000);
        mf_producer_destroy(a->prod);
    }
    if (a->assigned)
        rd_kafka_topic_partition_list_destroy(a->assigned);
    mf_admin_destroy(a->admin);
    ss_pg_destroy(a->pg);
    ss_registry_release(&a->reg);
    ss_batch_release(&a->batch);
    return status;
}

static int check(void *cfg, char *errbuf, size_t errlen)
{
    return ss_config_check(cfg, errbuf, errlen);
}

static int run(const void *cfg)
{
    return ss_run(cfg);
}

static int migrate(const void *cfg)
{
    const struct ss_config *c = cfg;
    char err[512];
    struct ss_pg *pg = ss_pg_new(c->pg_dsn, c->group_id);
    int n = ss_pg_migrate(pg, err, sizeof err);
    ss_pg_destroy(pg);
    if (n < 0) {
        MF_LOG_FATAL("ss", "migrate: %s", err);
        return 1;
    }
    MF_LOG_INFO("ss", "migrate: %d migration(s) applied", n);
    return 0;
}

const struct mf_program ss_program = {
    "source-sink",
    "grid feeds, weather observations and vehicle telemetry into PostgreSQL, exactly once",
    ss_config_rows,
    &ss_config_nrows,
    sizeof(struct ss_config),
    offsetof(struct ss_config, log_level),
    check,
    run,
    migrate,
};
