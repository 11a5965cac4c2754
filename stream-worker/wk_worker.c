/*
 * wk_worker: batches, the three-step delivery protocol (or, with WK_EOS,
 * one Kafka transaction per batch), restore on assignment, and the
 * metrics. Everything runs on the main thread: the
 * rebalance and delivery callbacks fire inside rd_kafka_consumer_poll and
 * rd_kafka_flush, which the main thread calls.
 */
#include "wk_worker.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "mf_kafka.h"
#include "mf_log.h"
#include "mf_metrics.h"
#include "mf_producer.h"
#include "mf_signal.h"
#include "mf_time.h"
#include "wk_proc.h"
#include "wk_registry.h"
#include "mf_common.h"
#include "mf_crash.h"

#define MAX_PARTS 1024  /* raw partitions this worker can own */
#define FLUSH_MS  60000 /* > message.timeout.ms: every message gets its report */
/*
 * The effectively-once protocol's wait for its outputs: as long as it
 * takes. Its producer never times a record out (message.timeout.ms=0):
 * librdkafka times out the oldest records of a partition first, so after
 * a long broker outage the newest of a batch could be acknowledged while
 * older ones failed, and the batch's redo would put those older outputs
 * after newer ones, below the source position the aggregator already
 * stored: dropped as repeats, lost (ft_fleet_broker found it). Waiting
 * keeps every partition's outputs in src order. A SIGTERM meanwhile ends
 * in the 30 s alarm (DESIGN §1), which loses nothing.
 */
#define DELIVER_WAIT_MS (24 * 3600 * 1000)
#define WATERMARK_MS    10000

struct wk_worker {
    const struct wk_config *cfg;
    rd_kafka_t *consumer, *restorer;
    struct mf_producer *prod; /* outputs and states */
    int topic[WK_T_COUNT];    /* its topic ids, by enum wk_topic */
    struct mf_batch batch;    /* what was produced since the last wait */
    struct wk_proc *proc;
    struct wk_refresher *refresher;
    atomic_int has_registry, member;
    int fatal;
    int pending;                    /* records processed since the last finished batch */
    int in_txn;                     /* WK_EOS: a transaction is open on the producer */
    int64_t next_off[MAX_PARTS];    /* next offset to commit per raw partition; -1 none */
    unsigned char owned[MAX_PARTS]; /* partitions whose state we hold */
    /* metric series, looked up once */
    struct mf_metric *m_outcome[WK_OUTCOME_COUNT], *m_flags[WK_F_COUNT], *m_alerts[WK_A_COUNT][2];
    struct mf_metric *m_state, *m_restore, *m_registry, *m_event_lag, *m_skipped;
};

void wk_worker_metrics_init(void)
{
    static const double restore_bounds[] = {0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120};
    mf_metrics_register("meterflow_worker_records_total", MF_METRIC_COUNTER,
                        "Worker outputs by outcome (validated, quarantine, dlq, interpolated).",
                        NULL, 0);
    mf_metrics_register("meterflow_worker_flags_total", MF_METRIC_COUNTER,
                        "Rule flags and rejection reasons fired, by name.", NULL, 0);
    mf_metrics_register("meterflow_worker_alerts_total", MF_METRIC_COUNTER,
                        "Alerts emitted, by type and state.", NULL, 0);
    mf_metrics_register("meterflow_worker_state_meters", MF_METRIC_GAUGE,
                        "Meters whose state this worker holds.", NULL, 0);
    mf_metrics_register("meterflow_worker_restore_seconds", MF_METRIC_HISTOGRAM,
                        "Time to restore assigned partitions' state from the changelog.",
                        restore_bounds, MF_ARRAY_LEN(restore_bounds));
    mf_metrics_register("meterflow_worker_registry_meters", MF_METRIC_GAUGE,
                        "Meters in the registry snapshot in use.", NULL, 0);
    mf_metrics_register("meterflow_event_lag_seconds", MF_METRIC_GAUGE,
                        "Wall clock minus the newest event time processed.", NULL, 0);
    mf_metrics_register("meterflow_worker_skipped_total", MF_METRIC_COUNTER,
                        "Records skipped because their meter's state already included them.", NULL,
                        0);
}

static void lookup_metrics(struct wk_worker *w)
{
    for (int i = 0; i < WK_OUTCOME_COUNT; i++)
        w->m_outcome[i] = mf_metric1("meterflow_worker_records_total", "outcome",
                                     wk_outcome_names[i]);
    for (int f = 0; f < WK_F_COUNT; f++)
        w->m_flags[f] = mf_metric1("meterflow_worker_flags_total", "flag", wk_flags[f].name);
    for (int a = 0; a < WK_A_COUNT; a++)
        for (int s = 0; s < 2; s++)
            w->m_alerts[a][s] = mf_metric2("meterflow_worker_alerts_total", "type",
                                           wk_alert_types[a].type, "state",
                                           s ? "cleared" : "raised");
    w->m_state = mf_metric("meterflow_worker_state_meters", NULL);
    w->m_restore = mf_metric("meterflow_worker_restore_seconds", NULL);
    w->m_registry = mf_metric("meterflow_worker_registry_meters", NULL);
    w->m_event_lag = mf_metric("meterflow_event_lag_seconds", NULL);
    w->m_skipped = mf_metric("meterflow_worker_skipped_total", NULL);
}

/* Adds the processor's counters to the metrics (after a batch is committed). */
static void publish_counts(struct wk_worker *w)
{
    struct wk_counts c;
    wk_proc_take_counts(w->proc, &c);
    for (int i = 0; i < WK_OUTCOME_COUNT; i++)
        if (c.outcome[i])
            mf_metric_add(w->m_outcome[i], (double)c.outcome[i]);
    for (int f = 0; f < WK_F_COUNT; f++)
        if (c.flags[f])
            mf_metric_add(w->m_flags[f], (double)c.flags[f]);
    for (int a = 0; a < WK_A_COUNT; a++)
        for (int s = 0; s < 2; s++)
            if (c.alerts[a][s])
                mf_metric_add(w->m_alerts[a][s], (double)c.alerts[a][s]);
    if (c.skipped)
        mf_metric_add(w->m_skipped, (double)c.skipped);
    if (c.newest_ts > 0)
        mf_metric_set(w->m_event_lag, (double)(mf_now_ms() - c.newest_ts) / 1000.0);
    mf_metric_set(w->m_state, wk_proc_store(w->proc)->n);
}

/* ---------------------------------------------------------------- producing */

static int begin_txn(struct wk_worker *w);

/* A DLQ record's headers (DESIGN §2) and the text they point to. */
struct dlq_headers {
    char partition[16], offset[24];
    struct mf_header h[6];
};

static void dlq_headers(struct dlq_headers *d, const struct wk_worker *w, const struct wk_output *o)
{
    snprintf(d->partition, sizeof d->partition, "%d", o->src_p);
    snprintf(d->offset, sizeof d->offset, "%lld", (long long)o->src_o);
    d->h[0] = (struct mf_header){"error.code", o->err_code};
    d->h[1] = (struct mf_header){"error.message", o->err_msg};
    d->h[2] = (struct mf_header){"source.topic", w->cfg->topic_raw};
    d->h[3] = (struct mf_header){"source.partition", d->partition};
    d->h[4] = (struct mf_header){"source.offset", d->offset};
    d->h[5] = (struct mf_header){"worker.id", w->cfg->worker_id};
}

/*
 * wk_output_fn: queues one output (copied) into the batch (inside the
 * batch's transaction with WK_EOS). A full queue is waited out for up to
 * FLUSH_MS.
 */
static int produce(void *opaque, const struct wk_output *o)
{
    struct wk_worker *w = opaque;
    struct dlq_headers dlq;
    char err[256];
    struct mf_msg m = {w->topic[o->topic], o->partition, o->key, o->keylen,
                       o->value,           o->len,       NULL,   0};

    if (begin_txn(w) != MF_OK)
        return MF_ERETRY;
    if (o->topic == WK_T_DLQ) {
        dlq_headers(&dlq, w, o);
        m.headers = dlq.h;
        m.nheaders = MF_ARRAY_LEN(dlq.h);
    }
    MF_CRASH_POINT("worker.output.produce"); /* some of a batch's outputs produced */
    if (mf_producer_send(w->prod, &w->batch, &m, FLUSH_MS, err, sizeof err) != MF_OK) {
        MF_LOG_ERROR("deliver", "%s", err);
        return MF_ERETRY;
    }
    return MF_OK;
}

/*
 * Waits until every output produced since the last wait has its delivery
 * report, and arms the next batch. MF_OK if all were acknowledged.
 */
static int wait_delivered(struct wk_worker *w)
{
    char err[256];
    int rc = mf_producer_wait(w->prod, &w->batch, w->cfg->eos ? FLUSH_MS : DELIVER_WAIT_MS, err,
                              sizeof err);
    if (rc != MF_OK)
        MF_LOG_ERROR("deliver", "%s", err);
    mf_batch_init(&w->batch, NULL, NULL);
    return rc;
}

/*
 * Forgets the outputs produced since the last wait (the batch is being
 * redone, or its transaction ended): their reports are served, so none is
 * counted in the next batch, and the next batch is armed.
 */
static void forget_outputs(struct wk_worker *w)
{
    mf_producer_wait(w->prod, &w->batch, w->cfg->eos ? FLUSH_MS : DELIVER_WAIT_MS, NULL, 0);
    mf_batch_init(&w->batch, NULL, NULL);
}

/* ---------------------------------------------------------------- transactions */

/*
 * WK_EOS: handles an error of a transactional call. Fatal errors (this
 * producer was fenced: another instance took its transactional id, or the
 * coordinator aborted a transaction that outlived transaction.timeout.ms
 * while we were paused) end the worker; Kubernetes restarts it. Anything
 * else aborts the open transaction, and the caller redoes the batch.
 */
static int txn_failed(struct wk_worker *w, rd_kafka_error_t *e, const char *what)
{
    MF_LOG_ERROR("txn", "%s: %s%s", what, rd_kafka_error_string(e),
                 rd_kafka_error_is_fatal(e) ? " (fatal: fenced)" : "");
    if (rd_kafka_error_is_fatal(e))
        w->fatal = 1;
    rd_kafka_error_destroy(e);
    return MF_ERETRY;
}

/*
 * Drops the batch's outputs: aborts the open transaction, if any (WK_EOS:
 * nothing of it is ever visible to read_committed), then forgets what was
 * produced (settled, or purged by the abort).
 */
static void abort_outputs(struct wk_worker *w)
{
    if (w->cfg->eos && w->in_txn) {
        w->in_txn = 0;
        rd_kafka_error_t *e = rd_kafka_abort_transaction(mf_producer_rk(w->prod), FLUSH_MS);
        if (e)
            txn_failed(w, e, "abort_transaction");
        else
            MF_LOG_WARN("txn", "transaction aborted: the batch will be redone");
    }
    forget_outputs(w);
}

/* Opens the batch's transaction before its first output (WK_EOS only). */
static int begin_txn(struct wk_worker *w)
{
    if (!w->cfg->eos || w->in_txn)
        return MF_OK;
    rd_kafka_error_t *e = rd_kafka_begin_transaction(mf_producer_rk(w->prod));
    if (e)
        return txn_failed(w, e, "begin_transaction");
    w->in_txn = 1;
    return MF_OK;
}

/*
 * WK_EOS, the batch's end: its states join the transaction, then the
 * consumer offsets with the group's metadata (KIP-447: a member whose
 * generation is gone cannot commit them), then the commit. A retriable
 * commit error is retried; anything else aborts.
 */
static int commit_txn(struct wk_worker *w)
{
    if (wk_proc_flush_states(w->proc) != MF_OK || begin_txn(w) != MF_OK) {
        abort_outputs(w);
        return MF_ERETRY;
    }
    MF_CRASH_POINT("worker.txn.states_produced");
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(16);
    for (int p = 0; p < MAX_PARTS; p++)
        if (w->next_off[p] >= 0)
            rd_kafka_topic_partition_list_add(list, w->cfg->topic_raw, p)->offset = w->next_off[p];
    rd_kafka_consumer_group_metadata_t *meta = rd_kafka_consumer_group_metadata(w->consumer);
    rd_kafka_error_t *e = rd_kafka_send_offsets_to_transaction(mf_producer_rk(w->prod), list, meta,
                                                               FLUSH_MS);
    rd_kafka_consumer_group_metadata_destroy(meta);
    rd_kafka_topic_partition_list_destroy(list);
    if (e) {
        txn_failed(w, e, "send_offsets_to_transaction");
        abort_outputs(w);
        return MF_ERETRY;
    }
    MF_CRASH_POINT("worker.txn.offsets_sent");
    for (int attempt = 0;; attempt++) {
        e = rd_kafka_commit_transaction(mf_producer_rk(w->prod), FLUSH_MS);
        if (!e)
            break;
        if (rd_kafka_error_is_retriable(e) && attempt < 3) {
            MF_LOG_WARN("txn", "commit_transaction: %s; retrying", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            continue;
        }
        txn_failed(w, e, "commit_transaction");
        abort_outputs(w);
        return MF_ERETRY;
    }
    MF_CRASH_POINT("worker.txn.committed");
    w->in_txn = 0;
    forget_outputs(w); /* all delivered: the commit flushed them */
    return MF_OK;
}

/* ---------------------------------------------------------------- restore */

/* Applies one changelog record to the store. */
static void restore_record(struct wk_worker *w, const rd_kafka_message_t *m)
{
    struct wk_store *store = wk_proc_store(w->proc);
    char err[160];
    struct wk_state tmp;

    if (!m->key || m->key_len < 1 || m->key_len > MF_METER_ID_MAX)
        return;
    if (!m->payload || m->len == 0) {
        wk_store_del(store, m->key, m->key_len); /* a tombstone */
        return;
    }
    if (wk_state_decode(m->payload, m->len, m->key, m->key_len, &tmp, err, sizeof err) != MF_OK) {
        MF_LOG_WARN("restore", "changelog %d/%lld: %s; record ignored", m->partition,
                    (long long)m->offset, err);
        return;
    }
    struct wk_state *st = wk_store_get_or_add(store, m->key, m->key_len, m->partition, NULL);
    wk_state_assign(st, &tmp);    /* st keeps its own copy of the ID */
    st->partition = m->partition; /* the changelog partition is the raw one */
}

/*
 * Reads changelog partitions parts[0..n) from the beginning to their high
 * watermarks into the store. MF_OK, or MF_ERETRY when the broker did not
 * answer in WK_RESTORE_TIMEOUT_S.
 */
static int restore(struct wk_worker *w, const int32_t *parts, int n)
{
    int64_t t0 = mf_mono_ms(), deadline = t0 + w->cfg->restore_timeout_s * 1000;
    int64_t *want = mf_xcalloc(MAX_PARTS, sizeof *want);
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(n > 0 ? n : 1);
    int remaining = 0, rc = MF_OK;
    uint32_t before = wk_proc_store(w->proc)->n;

    if (n == 0)
        goto out;
    for (int i = 0; i < n; i++) {
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t err;
        while ((err = rd_kafka_query_watermark_offsets(w->restorer, w->cfg->topic_state, parts[i],
                                                       &lo, &hi, WATERMARK_MS)) &&
               mf_mono_ms() < deadline)
            MF_LOG_WARN("restore", "watermarks of %s/%d: %s; retrying", w->cfg->topic_state,
                        parts[i], rd_kafka_err2str(err));
        if (err) {
            rc = MF_ERETRY;
            goto out;
        }
        if (hi > lo) {
            want[parts[i]] = hi;
            rd_kafka_topic_partition_list_add(list, w->cfg->topic_state, parts[i])->offset =
                RD_KAFKA_OFFSET_BEGINNING;
            remaining++;
        }
    }
    if (remaining == 0)
        goto out;
    rd_kafka_assign(w->restorer, list);
    while (remaining > 0) {
        if (mf_mono_ms() > deadline) {
            rc = MF_ERETRY;
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->restorer, 200);
        if (!m)
            continue;
        int32_t p = m->partition;
        int done = 0;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            done = p >= 0 && p < MAX_PARTS && want[p] > 0 && m->offset >= want[p];
        } else if (m->err) {
            MF_LOG_WARN("restore", "%s", rd_kafka_message_errstr(m));
        } else {
            MF_CRASH_POINT("worker.restore.record");
            restore_record(w, m);
            done = p >= 0 && p < MAX_PARTS && want[p] > 0 && m->offset + 1 >= want[p];
        }
        if (done) {
            want[p] = 0;
            remaining--;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(w->restorer, NULL);
out:
    if (rc == MF_OK) {
        double secs = (double)(mf_mono_ms() - t0) / 1000.0;
        mf_metric_observe(w->m_restore, secs);
        MF_LOG_INFO("restore", "restored %d partition(s) of %s: %u meters in %.3f s", n,
                    w->cfg->topic_state, wk_proc_store(w->proc)->n - before, secs);
    } else {
        MF_LOG_ERROR("restore", "cannot read %s within %lld s", w->cfg->topic_state,
                     (long long)w->cfg->restore_timeout_s);
    }
    mf_metric_set(w->m_state, wk_proc_store(w->proc)->n);
    rd_kafka_topic_partition_list_destroy(list);
    free(want);
    return rc;
}

/* ---------------------------------------------------------------- batches */

static void reset_batch(struct wk_worker *w)
{
    for (int p = 0; p < MAX_PARTS; p++)
        w->next_off[p] = -1;
    w->pending = 0;
}

static void drop_partition(struct wk_worker *w, int32_t p)
{
    uint32_t n = wk_store_drop_partition(wk_proc_store(w->proc), p);
    w->owned[p] = 0;
    MF_LOG_DEBUG("state", "dropped partition %d (%u meters)", p, n);
}

/* Step 3: commit the next offsets of the batch's partitions (synchronously). */
static void commit(struct wk_worker *w)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(16);
    for (int p = 0; p < MAX_PARTS; p++)
        if (w->next_off[p] >= 0)
            rd_kafka_topic_partition_list_add(list, w->cfg->topic_raw, p)->offset = w->next_off[p];
    if (list->cnt > 0) {
        rd_kafka_resp_err_t err = rd_kafka_commit(w->consumer, list, 0);
        /* Not fatal: the states already cover these records, and the next commit moves on. */
        if (err)
            MF_LOG_WARN("deliver", "commit: %s", rd_kafka_err2str(err));
    }
    rd_kafka_topic_partition_list_destroy(list);
}

/*
 * After a failed delivery: forget the batch, read the states back from
 * the changelog and seek to the committed offsets, so the batch is redone.
 */
static void redo_from_changelog(struct wk_worker *w)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    int32_t owned[MAX_PARTS];
    int n = 0;

    MF_LOG_ERROR("deliver", "batch not delivered: redoing it from the changelog and the "
                            "committed offsets");
    abort_outputs(w);
    if (w->fatal)
        return;
    wk_proc_discard_dirty(w->proc);
    struct wk_counts drop;
    wk_proc_take_counts(w->proc, &drop);
    reset_batch(w);
    for (int p = 0; p < MAX_PARTS; p++) {
        if (!w->owned[p])
            continue;
        wk_store_drop_partition(wk_proc_store(w->proc), p);
        owned[n++] = p;
    }
    if (restore(w, owned, n) != MF_OK) {
        w->fatal = 1;
        return;
    }
    if (rd_kafka_assignment(w->consumer, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        w->fatal = 1;
        return;
    }
    if (parts->cnt > 0) {
        rd_kafka_resp_err_t err = rd_kafka_committed(w->consumer, parts, WATERMARK_MS);
        if (!err) {
            for (int i = 0; i < parts->cnt; i++)
                if (parts->elems[i].offset < 0)
                    parts->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
            rd_kafka_error_t *e = rd_kafka_seek_partitions(w->consumer, parts, WATERMARK_MS);
            if (e) {
                MF_LOG_ERROR("deliver", "seek: %s", rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
                w->fatal = 1;
            }
        } else {
            MF_LOG_ERROR("deliver", "committed offsets: %s", rd_kafka_err2str(err));
            w->fatal = 1;
        }
    }
    rd_kafka_topic_partition_list_destroy(parts);
}

/*
 * Steps 1-3 for the records processed so far. MF_OK, or MF_ERETRY when a
 * delivery failed (nothing of the batch was committed; the caller decides
 * how to redo it).
 */
static int finish_batch(struct wk_worker *w)
{
    if (!w->pending)
        return MF_OK;
    if (w->cfg->eos) { /* all three in one transaction */
        if (commit_txn(w) != MF_OK)
            return MF_ERETRY;
        publish_counts(w);
        reset_batch(w);
        return MF_OK;
    }
    MF_CRASH_POINT("worker.outputs.produced");
    if (wait_delivered(w) != MF_OK) /* 1: the outputs */
        return MF_ERETRY;
    MF_CRASH_POINT("worker.outputs.delivered");
    if (wk_proc_flush_states(w->proc) != MF_OK)
        return MF_ERETRY;
    MF_CRASH_POINT("worker.states.produced");
    if (wait_delivered(w) != MF_OK) /* 2: the states */
        return MF_ERETRY;
    MF_CRASH_POINT("worker.states.delivered");
    commit(w); /* 3 */
    MF_CRASH_POINT("worker.offsets.committed");
    publish_counts(w);
    reset_batch(w);
    return MF_OK;
}

/* ---------------------------------------------------------------- rebalance */

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct wk_worker *w = opaque;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        unsigned char now[MAX_PARTS] = {0};
        int32_t fresh[MAX_PARTS];
        int nfresh = 0;
        for (int i = 0; i < parts->cnt; i++) {
            int32_t p = parts->elems[i].partition;
            MF_ASSERT(p >= 0 && p < MAX_PARTS);
            now[p] = 1;
            if (!w->owned[p])
                fresh[nfresh++] = p;
        }
        /* Kept partitions keep their state: it was flushed at the revocation just before. */
        for (int p = 0; p < MAX_PARTS; p++)
            if (w->owned[p] && !now[p])
                drop_partition(w, p);
        if (restore(w, fresh, nfresh) != MF_OK) {
            w->fatal = 1;
            for (int i = 0; i < nfresh; i++)
                drop_partition(w, fresh[i]);
            rd_kafka_assign(rk, NULL);
            return;
        }
        memcpy(w->owned, now, sizeof now);
        MF_LOG_INFO("group", "assigned %d partition(s) of %s (%d new)", parts->cnt,
                    w->cfg->topic_raw, nfresh);
        rd_kafka_assign(rk, parts);
        atomic_store(&w->member, 1);
        return;
    }
    /* Revoked (or lost): finish the batch before anyone else may take the partitions. */
    int lost = rd_kafka_assignment_lost(rk);
    if (lost || finish_batch(w) != MF_OK) {
        MF_LOG_WARN("group", "%s: dropping the batch and all state",
                    lost ? "assignment lost" : "batch not delivered at revocation");
        abort_outputs(w);
        wk_proc_discard_dirty(w->proc);
        struct wk_counts drop;
        wk_proc_take_counts(w->proc, &drop);
        reset_batch(w);
        for (int p = 0; p < MAX_PARTS; p++)
            if (w->owned[p])
                drop_partition(w, p);
    }
    if (lost)
        atomic_store(&w->member, 0);
    MF_LOG_INFO("group", "revoked %d partition(s)", parts->cnt);
    rd_kafka_assign(rk, NULL);
}

/* ---------------------------------------------------------------- life cycle */

int wk_worker_ready(void *opaque, char *why, size_t whylen)
{
    struct wk_worker *w = opaque;
    if (!atomic_load(&w->has_registry)) {
        snprintf(why, whylen, "no meter registry yet");
        return 0;
    }
    if (!atomic_load(&w->member)) {
        snprintf(why, whylen, "not a consumer group member yet");
        return 0;
    }
    return 1;
}

static rd_kafka_t *new_client(rd_kafka_type_t type, rd_kafka_conf_t *conf, char *errbuf,
                              size_t errlen)
{
    char why[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf, why, sizeof why);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(errbuf, errlen, "cannot create a Kafka client: %s", why);
    }
    return rk;
}

/*
 * WK_EOS: the producer's transactional id is "<group>.<worker id>", one per
 * worker instance (KIP-447: fencing comes from the consumer group's
 * generation, so ids need not follow partitions). A restarted pod with the
 * same name fences its predecessor at init_transactions. The transaction
 * timeout defaults to 10 s (KAFKA_TRANSACTION_TIMEOUT_MS overrides it; the
 * message timeout follows, as librdkafka wants it no longer): a
 * frozen worker's open transaction holds back read_committed readers of
 * its partitions, the successor's changelog restore included, until the
 * coordinator aborts it.
 */
static int set_transactional(rd_kafka_conf_t *conf, const struct wk_config *cfg, char *errbuf,
                             size_t errlen)
{
    char id[512];
    snprintf(id, sizeof id, "%s.%s", cfg->group_id, cfg->worker_id);
    if (mf_kafka_conf_set(conf, "transactional.id", id, "WK_EOS", errbuf, errlen) != MF_OK)
        return MF_EDATA;
    if (!getenv("KAFKA_TRANSACTION_TIMEOUT_MS") &&
        mf_kafka_conf_set(conf, "transaction.timeout.ms", "10000", "WK_EOS", errbuf, errlen) !=
            MF_OK)
        return MF_EDATA;
    /* librdkafka wants message.timeout.ms <= transaction.timeout.ms. */
    if (!getenv("KAFKA_MESSAGE_TIMEOUT_MS") &&
        mf_kafka_conf_set(conf, "message.timeout.ms", "10000", "WK_EOS", errbuf, errlen) != MF_OK)
        return MF_EDATA;
    return MF_OK;
}

struct wk_worker *wk_worker_new(const struct wk_config *cfg, char *errbuf, size_t errlen)
{
    struct wk_worker *w = mf_xcalloc(1, sizeof *w);
    rd_kafka_conf_t *conf = NULL;
    char group[512];
    struct wk_rules_cfg rc;
    int64_t backoff[8];
    int nbackoff = wk_config_backoffs(cfg->retry_backoff_ms, backoff, 8);

    w->cfg = cfg;
    reset_batch(w);
    mf_batch_init(&w->batch, NULL, NULL);
    lookup_metrics(w);
    wk_rules_cfg_from(&rc, cfg);
    w->proc = wk_proc_new(&rc, backoff, nbackoff < 0 ? 0 : nbackoff, produce, w);

    /* the group member */
    conf = mf_kafka_conf_new(MF_KAFKA_CONSUMER, cfg->brokers, cfg->worker_id, cfg->group_id, errbuf,
                             errlen);
    if (!conf)
        goto fail;
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, w);
    w->consumer = new_client(RD_KAFKA_CONSUMER, conf, errbuf, errlen);
    conf = NULL; /* rd_kafka_new owns it, or it was destroyed */
    if (!w->consumer)
        goto fail;
    rd_kafka_poll_set_consumer(w->consumer);

    /* the producer of outputs and states */
    conf = mf_kafka_conf_new(MF_KAFKA_PRODUCER, cfg->brokers, cfg->worker_id, NULL, errbuf, errlen);
    if (!conf)
        goto fail;
    /*
     * One produce request in flight per broker connection, unless
     * KAFKA_MAX_IN_FLIGHT[_REQUESTS_PER_CONNECTION] says otherwise. The
     * worker produces a burst and then waits for every report. With several
     * requests in flight, a broker socket without TCP_NODELAY (librdkafka
     * 2.0.2's mock cluster, our local broker) holds each response behind the
     * previous one until the client's delayed ACK: ~40 ms in about half of
     * the delivery waits, measured. One at a time, each request carries the
     * ACK of the last response. Ordering is unchanged (idempotent producer).
     */
    if (!getenv("KAFKA_MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION") && !getenv("KAFKA_MAX_IN_FLIGHT") &&
        mf_kafka_conf_set(conf, "max.in.flight.requests.per.connection", "1",
                          "max.in.flight.requests.per.connection", errbuf, errlen) != MF_OK)
        goto fail;
    if (cfg->eos && set_transactional(conf, cfg, errbuf, errlen) != MF_OK)
        goto fail;
    /* Without transactions, outputs must never be timed out (DELIVER_WAIT_MS says why). */
    if (!cfg->eos && !getenv("KAFKA_MESSAGE_TIMEOUT_MS") &&
        mf_kafka_conf_set(conf, "message.timeout.ms", "0", "message.timeout.ms", errbuf, errlen) !=
            MF_OK)
        goto fail;
    w->prod = mf_producer_new(conf, errbuf, errlen);
    conf = NULL; /* the producer owns it, also on failure */
    if (!w->prod)
        goto fail;
    if (cfg->eos) {
        rd_kafka_error_t *e = rd_kafka_init_transactions(mf_producer_rk(w->prod), FLUSH_MS);
        if (e) {
            snprintf(errbuf, errlen, "invalid WK_EOS 'on': the cluster refused transactions: %s",
                     rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            goto fail;
        }
    }
    w->topic[WK_T_VALIDATED] = mf_producer_topic(w->prod, cfg->topic_validated);
    w->topic[WK_T_QUARANTINE] = mf_producer_topic(w->prod, cfg->topic_quarantine);
    w->topic[WK_T_DLQ] = mf_producer_topic(w->prod, cfg->topic_dlq);
    w->topic[WK_T_ALERTS] = mf_producer_topic(w->prod, cfg->topic_alerts);
    w->topic[WK_T_STATE] = mf_producer_topic(w->prod, cfg->topic_state);

    /* the changelog reader: assign() only, never commits, no lag statistics */
    snprintf(group, sizeof group, "%s.restore", cfg->group_id);
    conf = mf_kafka_conf_new(MF_KAFKA_CONSUMER, cfg->brokers, cfg->worker_id, group, errbuf,
                             errlen);
    /* read_committed: a state is restored only if its transaction committed (WK_EOS). */
    if (!conf ||
        mf_kafka_conf_set(conf, "enable.partition.eof", "true", "restore", errbuf, errlen) !=
            MF_OK ||
        mf_kafka_conf_set(conf, "isolation.level", "read_committed", "restore", errbuf, errlen) !=
            MF_OK ||
        mf_kafka_conf_set(conf, "statistics.interval.ms", "0", "restore", errbuf, errlen) != MF_OK)
        goto fail;
    w->restorer = new_client(RD_KAFKA_CONSUMER, conf, errbuf, errlen);
    conf = NULL;
    if (!w->restorer)
        goto fail;

    w->refresher = wk_refresher_start(cfg->pg_dsn, cfg->registry_refresh_s, cfg->default_max_kw);
    return w;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    wk_worker_destroy(w);
    return NULL;
}

void wk_worker_destroy(struct wk_worker *w)
{
    if (!w)
        return;
    wk_refresher_stop(w->refresher);
    if (w->restorer)
        rd_kafka_destroy(w->restorer);
    if (w->consumer)
        rd_kafka_destroy(w->consumer);
    mf_producer_destroy(w->prod);
    wk_proc_destroy(w->proc);
    free(w);
}

/* Swaps in a newer registry snapshot, if the refresher has one. */
static void take_registry(struct wk_worker *w)
{
    struct wk_registry *reg = wk_refresher_take(w->refresher);
    if (!reg)
        return;
    if (!atomic_load(&w->has_registry))
        MF_LOG_INFO("registry", "registry loaded: %zu meters", wk_registry_count(reg));
    mf_metric_set(w->m_registry, (double)wk_registry_count(reg));
    wk_proc_set_registry(w->proc, reg);
    atomic_store(&w->has_registry, 1);
}

/* Collects records for up to WK_BATCH_MAX / WK_BATCH_MS, then finishes the batch. */
/*
 * A record meterctl re-published with a human's approval (DESIGN §14):
 * header meter.override=approve. Any other value is no approval.
 */
static int approved(const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *h = NULL;
    const void *v = NULL;
    size_t n = 0;
    return rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
           rd_kafka_header_get_last(h, "meter.override", &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR &&
           v && n == 7 && memcmp(v, "approve", 7) == 0;
}

static void run_batch(struct wk_worker *w)
{
    int64_t deadline = mf_mono_ms() + w->cfg->batch_ms;
    int64_t n = 0;

    while (n < w->cfg->batch_max && !mf_stop_requested && !w->fatal) {
        int64_t left = deadline - mf_mono_ms();
        if (left <= 0)
            break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->consumer, left > 100 ? 100 : (int)left);
        if (!m)
            continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                MF_LOG_WARN("consume", "%s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        int32_t p = m->partition;
        if (p < 0 || p >= MAX_PARTS || !w->owned[p]) {
            rd_kafka_message_destroy(m); /* a leftover of a revoked partition */
            continue;
        }
        int rc = approved(m) ? wk_proc_record_override(w->proc, p, m->offset, m->key, m->key_len,
                                                       m->payload, m->len, mf_now_ms())
                             : wk_proc_record(w->proc, p, m->offset, m->key, m->key_len, m->payload,
                                              m->len, mf_now_ms());
        w->next_off[p] = m->offset + 1;
        w->pending = 1;
        rd_kafka_message_destroy(m);
        if (rc != MF_OK) {
            redo_from_changelog(w);
            return;
        }
        n++;
    }
    if (finish_batch(w) != MF_OK)
        redo_from_changelog(w);
}

int wk_worker_run(struct wk_worker *w)
{
    rd_kafka_topic_partition_list_t *topics = NULL;
    int logged = 0;

    /* No registry, no rules: every record would be unknown_meter. */
    while (!mf_stop_requested && !atomic_load(&w->has_registry)) {
        take_registry(w);
        if (wk_refresher_fatal(w->refresher))
            return 1;
        if (!atomic_load(&w->has_registry)) {
            if (!logged++)
                MF_LOG_INFO("registry", "waiting for the meter registry before consuming");
            struct timespec ts = {0, 100 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    if (mf_stop_requested)
        return 0;

    topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, w->cfg->topic_raw, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(w->consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) {
        MF_LOG_FATAL("group", "subscribe to %s: %s", w->cfg->topic_raw, rd_kafka_err2str(err));
        return 1;
    }
    MF_LOG_INFO("group", "consuming %s as %s in group %s", w->cfg->topic_raw, w->cfg->worker_id,
                w->cfg->group_id);

    while (!mf_stop_requested && !w->fatal) {
        take_registry(w);
        if (wk_refresher_fatal(w->refresher) || atomic_load(&mf_kafka_fatal)) {
            w->fatal = 1;
            break;
        }
        run_batch(w);
    }

    /* SIGTERM: the batch is finished; leave the group (its revocation finds nothing pending). */
    if (!w->fatal && finish_batch(w) != MF_OK)
        w->fatal = 1;
    MF_LOG_INFO("group", "leaving the group");
    rd_kafka_consumer_close(w->consumer);
    mf_producer_flush(w->prod, (int)w->cfg->shutdown_timeout_s * 1000);
    return w->fatal ? 1 : 0;
}
