/*
 * gw_publish: the gateway's producer settings, its delivery-report thread
 * and the readiness probe; producing and the batches are mf_producer's.
 */
#include "gw_publish.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <librdkafka/rdkafka.h>

#include "mf_kafka.h"
#include "mf_log.h"
#include "mf_time.h"
#include "mf_common.h"

#define QUEUE_MAX 400000 /* queue.buffering.max.messages */

struct gw_publisher {
    struct mf_producer *prod;
    int topic[GW_MAX_TOPICS];
    pthread_t thread;
    atomic_int stop;
    atomic_int probe_ok;                 /* the last metadata probe reached a broker */
    atomic_uint_fast64_t acked_at_probe; /* mf_producer_acked when it ran */
};

/*
 * Serves delivery reports (so batches settle and their requests resume),
 * and every few seconds asks for metadata so /readyz knows whether a
 * broker answers even when no traffic flows.
 */
static void *poll_main(void *arg)
{
    struct gw_publisher *p = arg;
    rd_kafka_t *rk = mf_producer_rk(p->prod);
    int64_t next_probe = 0;
    while (!atomic_load(&p->stop)) {
        mf_producer_poll(p->prod, 100);
        if (mf_mono_ms() >= next_probe) {
            const struct rd_kafka_metadata *md = NULL;
            uint64_t acked = mf_producer_acked(p->prod);
            /* all_topics 0, no topic: the topics this client knows (ours) */
            rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, NULL, &md, 2000);
            atomic_store(&p->acked_at_probe, acked);
            atomic_store(&p->probe_ok, err == RD_KAFKA_RESP_ERR_NO_ERROR);
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
    char num[32];
    struct gw_publisher *p = mf_xcalloc(1, sizeof *p);
    rd_kafka_conf_t *conf = mf_kafka_conf_new(MF_KAFKA_PRODUCER, o->brokers, o->client_id, NULL,
                                              errbuf, errlen);
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
    p->prod = mf_producer_new(conf, errbuf, errlen);
    conf = NULL; /* the producer owns it, also on failure */
    if (!p->prod)
        goto fail;
    for (int t = 0; t < GW_MAX_TOPICS; t++)
        p->topic[t] = o->topics[t] ? mf_producer_topic(p->prod, o->topics[t]) : -1;
    if (pthread_create(&p->thread, NULL, poll_main, p) != 0) {
        snprintf(errbuf, errlen, "cannot start the delivery thread");
        goto fail_prod;
    }
    return p;

fail_prod:
    mf_producer_destroy(p->prod);
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
    /* Purged records get a failed delivery report: their requests answer 503. */
    size_t left = mf_producer_flush(p->prod, timeout_ms);
    if (left)
        MF_LOG_ERROR("kafka", "%zu records unacknowledged at shutdown (their requests get 503)",
                     left);
    atomic_store(&p->stop, 1);
    pthread_join(p->thread, NULL);
    mf_producer_destroy(p->prod);
    free(p);
    return left;
}

int gw_publisher_has_room(struct gw_publisher *p, size_t n)
{
    return mf_producer_queued(p->prod) + n <= QUEUE_MAX;
}

int gw_publish(struct gw_publisher *p, struct mf_batch *b, int topic, const char *key,
               size_t keylen, const char *value, size_t len, const char *ingest_ts,
               const char *source)
{
    char err[256];
    const struct mf_header headers[] = {{"ingest.ts", ingest_ts}, {"ingest.source", source}};
    MF_ASSERT(topic >= 0 && topic < GW_MAX_TOPICS && p->topic[topic] >= 0);
    const struct mf_msg m = {p->topic[topic], MF_PARTITION_ANY,     key, keylen, value, len,
                             headers,         MF_ARRAY_LEN(headers)};
    /* No waiting on a full queue: the request is answered 503 instead. */
    return mf_producer_send(p->prod, b, &m, 0, err, sizeof err);
}

int gw_publisher_connected(struct gw_publisher *p)
{
    return atomic_load(&p->probe_ok) ||
           mf_producer_acked(p->prod) != atomic_load(&p->acked_at_probe);
}
