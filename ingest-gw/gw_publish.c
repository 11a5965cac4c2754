/*
 * gw_publish: the producer, its delivery-report thread and the batch
 * reference counting that completes a request exactly once.
 */
#include "gw_publish.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "mf_kafka.h"
#include "mf_log.h"
#include "mf_metrics.h"
#include "mf_time.h"
#include "mf_common.h"

#define QUEUE_MAX 400000 /* queue.buffering.max.messages */

struct gw_publisher {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    char *topic;
    pthread_t thread;
    atomic_int stop;
    atomic_int connected;
    struct mf_metric *delivery_errors;
};

static void settle(struct gw_batch *b)
{
    if (atomic_fetch_sub(&b->pending, 1) == 1)
        b->done(b, b->opaque);
}

/* Thread: the delivery-report thread (rd_kafka_poll) or rd_kafka_flush's caller. */
static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct gw_publisher *p = opaque;
    struct gw_batch *b = m->_private;
    (void)rk;
    if (m->err) {
        atomic_fetch_add(&b->failed, 1);
        if (atomic_exchange(&b->error_set, 1) == 0)
            snprintf(b->first_error, sizeof b->first_error, "%s", rd_kafka_err2str(m->err));
        mf_metric_inc(p->delivery_errors);
    } else {
        atomic_store(&p->connected, 1);
    }
    settle(b);
}

/*
 * Serves delivery reports, and every few seconds asks for metadata so
 * /readyz knows whether a broker answers even when no traffic flows.
 */
static void *poll_main(void *arg)
{
    struct gw_publisher *p = arg;
    int64_t next_probe = 0;
    while (!atomic_load(&p->stop)) {
        rd_kafka_poll(p->rk, 100);
        if (mf_mono_ms() >= next_probe) {
            const struct rd_kafka_metadata *md = NULL;
            rd_kafka_resp_err_t err = rd_kafka_metadata(p->rk, 0, p->rkt, &md, 2000);
            atomic_store(&p->connected, err == RD_KAFKA_RESP_ERR_NO_ERROR);
            if (md)
                rd_kafka_metadata_destroy(md);
            next_probe = mf_mono_ms() + 5000;
        }
    }
    return NULL;
}

struct gw_publisher *gw_publisher_new(const struct gw_publisher_opts *o, char *errbuf,
                                      size_t errlen)
{
    char num[32], err[512];
    struct gw_publisher *p = mf_xcalloc(1, sizeof *p);
    rd_kafka_conf_t *conf =
        mf_kafka_conf_new(MF_KAFKA_PRODUCER, o->brokers, o->client_id, NULL, errbuf, errlen);
    if (!conf)
        goto fail;
    snprintf(num, sizeof num, "%d", o->ack_timeout_ms);
    if (mf_kafka_conf_set(conf, "message.timeout.ms", num, "GW_ACK_TIMEOUT_MS", errbuf, errlen))
        goto fail_conf;
    snprintf(num, sizeof num, "%d", QUEUE_MAX);
    if (mf_kafka_conf_set(conf, "queue.buffering.max.messages", num, "queue size", errbuf,
                          errlen) ||
        /* An answer waits for the ack: trade a little batching for latency. */
        mf_kafka_conf_set(conf, "linger.ms", "1", "linger.ms", errbuf, errlen))
        goto fail_conf;
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, p);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!p->rk) {
        snprintf(errbuf, errlen, "cannot create the Kafka producer: %s", err);
        goto fail_conf;
    }
    conf = NULL; /* rk owns it */
    p->topic = mf_xstrdup(o->topic);
    p->rkt = rd_kafka_topic_new(p->rk, o->topic, NULL);
    p->delivery_errors = mf_metric1("meterflow_kafka_delivery_errors_total", "topic", o->topic);
    if (pthread_create(&p->thread, NULL, poll_main, p) != 0) {
        snprintf(errbuf, errlen, "cannot start the delivery thread");
        goto fail_rk;
    }
    return p;

fail_rk:
    rd_kafka_topic_destroy(p->rkt);
    rd_kafka_destroy(p->rk);
    free(p->topic);
    free(p);
    return NULL;
fail_conf:
    rd_kafka_conf_destroy(conf);
fail:
    free(p);
    return NULL;
}

size_t gw_publisher_destroy(struct gw_publisher *p, int timeout_ms)
{
    if (!p)
        return 0;
    rd_kafka_flush(p->rk, timeout_ms);
    size_t left = (size_t)rd_kafka_outq_len(p->rk);
    if (left) {
        /* Purged records get a failed delivery report: their requests answer 503. */
        MF_LOG_ERROR("kafka", "%zu records unacknowledged at shutdown (their requests get 503)",
                     left);
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(p->rk, 500);
    }
    atomic_store(&p->stop, 1);
    pthread_join(p->thread, NULL);
    rd_kafka_topic_destroy(p->rkt);
    rd_kafka_destroy(p->rk);
    free(p->topic);
    free(p);
    return left;
}

void gw_batch_init(struct gw_batch *b, gw_batch_done_fn *done, void *opaque)
{
    atomic_init(&b->pending, 1);
    atomic_init(&b->failed, 0);
    atomic_init(&b->error_set, 0);
    b->first_error[0] = '\0';
    b->done = done;
    b->opaque = opaque;
}

int gw_publisher_has_room(struct gw_publisher *p, size_t n)
{
    return (size_t)rd_kafka_outq_len(p->rk) + n <= QUEUE_MAX;
}

int gw_publish(struct gw_publisher *p, struct gw_batch *b, const char *key, size_t keylen,
               const char *value, size_t len, const char *ingest_ts, const char *source)
{
    atomic_fetch_add(&b->pending, 1);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        p->rk, RD_KAFKA_V_RKT(p->rkt), RD_KAFKA_V_KEY(key, keylen),
        RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADER("ingest.ts", ingest_ts, -1),
        RD_KAFKA_V_HEADER("ingest.source", source, -1), RD_KAFKA_V_OPAQUE(b), RD_KAFKA_V_END);
    if (err) {
        /* A refused record is not in flight: take back its reference. */
        atomic_fetch_sub(&b->pending, 1);
        return MF_ERETRY;
    }
    return MF_OK;
}

void gw_batch_seal(struct gw_batch *b)
{
    settle(b);
}

int gw_publisher_connected(struct gw_publisher *p)
{
    return atomic_load(&p->connected);
}
