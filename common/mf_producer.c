/*
 * mf_producer: batches over one librdkafka producer. A record carries its
 * batch as the message opaque; the delivery-report callback counts it
 * there, and the batch's reference count (its records plus one until
 * sealed) makes `done` run exactly once, whichever thread settles last.
 */
#include "mf_producer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_kafka.h"
#include "mf_log.h"
#include "mf_metrics.h"
#include "mf_time.h"
#include "mf_common.h"

#define MAX_HEADERS   8
#define POLL_SLICE_MS 100  /* a wait's flush or poll at a time, so it sees its batch settle */
#define DRAIN_MS      1000 /* mf_producer_flush: serving the purged records' reports */
/*
 * mf_producer_wait past its deadline: how much longer it lets librdkafka
 * settle the batch itself before purging. Every record settles within
 * message.timeout.ms (30 s by default, 10 s with WK_EOS), and a record
 * librdkafka times out itself is safe for the idempotent producer (it
 * drains and bumps the epoch); a purge of in-flight records is not: their
 * sequence numbers are gone, the broker sees a gap, and the producer dies
 * with OUT_OF_ORDER_SEQUENCE_NUMBER (seen after a broker restart in
 * ft_fleet_broker). So the purge is only the last resort.
 */
#define SETTLE_MS 65000

struct topic {
    rd_kafka_topic_t *rkt;
    char *name;
    struct mf_metric *errors; /* meterflow_kafka_delivery_errors_total{topic} */
};

struct mf_producer {
    rd_kafka_t *rk;
    struct topic topics[MF_PRODUCER_MAX_TOPICS];
    int ntopics;
    atomic_uint_fast64_t acked;
};

/* ---------------------------------------------------------------- batches */

void mf_batch_init(struct mf_batch *b, mf_batch_done_fn *done, void *opaque)
{
    atomic_init(&b->pending, 1);
    atomic_init(&b->queued, 0);
    atomic_init(&b->failed, 0);
    atomic_init(&b->error_set, 0);
    b->first_error[0] = '\0';
    b->done = done;
    b->opaque = opaque;
}

/* Drops one reference; the last one runs done. */
static void settle(struct mf_batch *b)
{
    if (atomic_fetch_sub(&b->pending, 1) == 1 && b->done)
        b->done(b, b->opaque);
}

void mf_batch_seal(struct mf_batch *b)
{
    settle(b);
}

/* Keeps why as the batch's first error, unless one is kept already. */
static void first_error(struct mf_batch *b, const char *why)
{
    if (atomic_exchange(&b->error_set, 1) == 0)
        snprintf(b->first_error, sizeof b->first_error, "%s", why);
}

void mf_batch_fail(struct mf_batch *b, size_t n, const char *why)
{
    atomic_fetch_add(&b->queued, n);
    atomic_fetch_add(&b->failed, n);
    first_error(b, why);
}

/* Thread: whichever polls (mf_producer_poll, _send, _wait, _flush, or a thread of the caller's). */
static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct mf_producer *p = opaque;
    struct mf_batch *b = m->_private;
    (void)rk;
    if (m->err) {
        atomic_fetch_add(&b->failed, 1);
        first_error(b, rd_kafka_err2str(m->err));
        for (int t = 0; t < p->ntopics; t++)
            if (p->topics[t].rkt == m->rkt)
                mf_metric_inc(p->topics[t].errors);
    } else {
        atomic_fetch_add(&p->acked, 1);
    }
    settle(b);
}

/* ---------------------------------------------------------------- life cycle */

struct mf_producer *mf_producer_new(rd_kafka_conf_t *conf, char *errbuf, size_t errlen)
{
    char why[512];
    struct mf_producer *p = mf_xcalloc(1, sizeof *p);

    mf_kafka_metrics_init(); /* the delivery-error family (idempotent) */
    atomic_init(&p->acked, 0);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, p);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (!p->rk) {
        snprintf(errbuf, errlen, "cannot create the Kafka producer: %s", why);
        rd_kafka_conf_destroy(conf);
        free(p);
        return NULL;
    }
    conf = NULL; /* rk owns it */
    return p;
}

void mf_producer_destroy(struct mf_producer *p)
{
    if (!p)
        return;
    for (int t = 0; t < p->ntopics; t++) {
        rd_kafka_topic_destroy(p->topics[t].rkt);
        free(p->topics[t].name);
    }
    rd_kafka_destroy(p->rk);
    free(p);
}

int mf_producer_topic(struct mf_producer *p, const char *name)
{
    MF_ASSERT(p->ntopics < MF_PRODUCER_MAX_TOPICS);
    struct topic *t = &p->topics[p->ntopics];
    t->rkt = rd_kafka_topic_new(p->rk, name, NULL);
    MF_ASSERT(t->rkt != NULL); /* refused only for a name over 512 bytes */
    t->name = mf_xstrdup(name);
    t->errors = mf_metric1("meterflow_kafka_delivery_errors_total", "topic", name);
    return p->ntopics++;
}

/* ---------------------------------------------------------------- producing */

int mf_producer_send(struct mf_producer *p, struct mf_batch *b, const struct mf_msg *m,
                     int timeout_ms, char *errbuf, size_t errlen)
{
    rd_kafka_vu_t vu[6 + MAX_HEADERS];
    size_t n = 0;
    int64_t deadline = -1;

    MF_ASSERT(m->topic >= 0 && m->topic < p->ntopics && m->nheaders <= MAX_HEADERS);
    const struct topic *t = &p->topics[m->topic];
    vu[n].vtype = RD_KAFKA_VTYPE_RKT;
    vu[n++].u.rkt = t->rkt;
    vu[n].vtype = RD_KAFKA_VTYPE_PARTITION;
    vu[n++].u.i32 = m->partition;
    vu[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vu[n++].u.i = RD_KAFKA_MSG_F_COPY;
    /* librdkafka's slots are void *; with MSG_F_COPY it only reads them. */
    vu[n].vtype = RD_KAFKA_VTYPE_KEY;
    vu[n].u.mem.ptr = (void *)m->key;
    vu[n++].u.mem.size = m->keylen;
    vu[n].vtype = RD_KAFKA_VTYPE_VALUE;
    vu[n].u.mem.ptr = (void *)m->value;
    vu[n++].u.mem.size = m->len;
    vu[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
    vu[n++].u.ptr = b;
    for (size_t h = 0; h < m->nheaders; h++) {
        vu[n].vtype = RD_KAFKA_VTYPE_HEADER;
        vu[n].u.header.name = m->headers[h].name;
        vu[n].u.header.val = m->headers[h].value;
        vu[n++].u.header.size = -1; /* NUL-terminated */
    }

    atomic_fetch_add(&b->pending, 1); /* before the report can arrive */
    for (;;) {
        rd_kafka_error_t *e = rd_kafka_produceva(p->rk, vu, n);
        if (!e) {
            atomic_fetch_add(&b->queued, 1);
            return MF_OK;
        }
        if (rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__QUEUE_FULL && timeout_ms > 0) {
            if (deadline < 0)
                deadline = mf_mono_ms() + timeout_ms;
            if (mf_mono_ms() < deadline) {
                rd_kafka_error_destroy(e);
                rd_kafka_poll(p->rk, 10); /* serve delivery reports, then retry */
                continue;
            }
        }
        snprintf(errbuf, errlen, "cannot produce to %s: %s", t->name, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        /* Not in flight: take the reference back (the unsealed batch holds one more). */
        atomic_fetch_sub(&b->pending, 1);
        return MF_ERETRY;
    }
}

/*
 * Purges everything queued or in flight and serves the purged records'
 * reports until b (if any) is settled, or, without b, for up to DRAIN_MS.
 * A purged record's report comes at once, so the loop is short; it is
 * bounded anyway by message.timeout.ms, after which librdkafka fails
 * every record itself.
 */
static void purge(struct mf_producer *p, struct mf_batch *b)
{
    rd_kafka_resp_err_t err = rd_kafka_purge(p->rk,
                                             RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    if (err)
        MF_LOG_WARN("kafka", "purge: %s", rd_kafka_err2str(err));
    int64_t start = mf_mono_ms(), next_log = start + 5000;
    for (;;) {
        if (b ? atomic_load(&b->pending) == 0
              : rd_kafka_outq_len(p->rk) == 0 || mf_mono_ms() - start >= DRAIN_MS)
            return;
        rd_kafka_poll(p->rk, POLL_SLICE_MS);
        if (b && mf_mono_ms() >= next_log) {
            MF_LOG_WARN("kafka", "%zu purged records still without a delivery report",
                        atomic_load(&b->pending));
            next_log += 5000;
        }
    }
}

int mf_producer_wait(struct mf_producer *p, struct mf_batch *b, int timeout_ms, char *errbuf,
                     size_t errlen)
{
    int64_t deadline = mf_mono_ms() + timeout_ms;

    mf_batch_seal(b);
    while (atomic_load(&b->pending) > 0) {
        int64_t left = deadline - mf_mono_ms();
        if (left <= 0)
            break;
        /* flush, not poll: it sends at once instead of lingering */
        rd_kafka_flush(p->rk, left > POLL_SLICE_MS ? POLL_SLICE_MS : (int)left);
    }
    /* Past the deadline: librdkafka settles the rest within message.timeout.ms. */
    int64_t last = mf_mono_ms() + SETTLE_MS;
    size_t unsettled = atomic_load(&b->pending);
    if (unsettled)
        MF_LOG_WARN("kafka",
                    "%zu records not settled by the deadline; waiting for librdkafka "
                    "to settle them",
                    atomic_load(&b->pending));
    while (atomic_load(&b->pending) > 0 && mf_mono_ms() < last)
        rd_kafka_poll(p->rk, POLL_SLICE_MS);
    if (atomic_load(&b->pending) > 0)
        purge(p, b);
    size_t failed = atomic_load(&b->failed), queued = atomic_load(&b->queued);
    if (failed == 0)
        return MF_OK;
    if (!errbuf)
        return MF_ERETRY;
    if (unsettled)
        snprintf(errbuf, errlen, "%zu of %zu records not acknowledged within %d ms (%zu failed)",
                 unsettled, queued, timeout_ms, failed);
    else
        snprintf(errbuf, errlen, "%zu of %zu records not delivered: %s", failed, queued,
                 b->first_error);
    return MF_ERETRY;
}

size_t mf_producer_flush(struct mf_producer *p, int timeout_ms)
{
    rd_kafka_flush(p->rk, timeout_ms);
    size_t left = (size_t)rd_kafka_outq_len(p->rk);
    if (left)
        purge(p, NULL); /* their reports fail their batches */
    return left;
}

void mf_producer_poll(struct mf_producer *p, int timeout_ms)
{
    rd_kafka_poll(p->rk, timeout_ms);
}

size_t mf_producer_queued(struct mf_producer *p)
{
    return (size_t)rd_kafka_outq_len(p->rk);
}

uint64_t mf_producer_acked(struct mf_producer *p)
{
    return atomic_load(&p->acked);
}

rd_kafka_t *mf_producer_rk(struct mf_producer *p)
{
    return p->rk;
}
