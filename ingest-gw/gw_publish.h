/*
 * gw_publish: ingest-gw's Kafka side. One idempotent producer (acks=all,
 * murmur2_random; mf_producer) on TOPIC_RAW and the other sources' topics
 * (TOPIC_GRID, TOPIC_WEATHER, TOPIC_VEHICLES), and a thread that serves its
 * delivery reports, so a request's batch (struct mf_batch) tells its
 * request when every record is acknowledged or failed.
 *
 * librdkafka's message.timeout.ms is set to GW_ACK_TIMEOUT_MS, so a record
 * not acknowledged by then is normally reported failed; but an idempotent
 * producer's records already in flight to a broker that died wait for the
 * request timeout instead. The answer's bound is gw_http's watchdog.
 */
#ifndef GW_PUBLISH_H
#define GW_PUBLISH_H

#include <stddef.h>

#include "mf_producer.h"

struct gw_publisher;

#define GW_MAX_TOPICS 4

struct gw_publisher_opts {
    const char *brokers;
    const char *topics[GW_MAX_TOPICS]; /* by index as gw_publish takes it; NULL: unused */
    int ack_timeout_ms;
    const char *client_id;
};

/* Creates the producer and its delivery-report thread; NULL with errbuf on failure. */
struct gw_publisher *gw_publisher_new(const struct gw_publisher_opts *o, char *errbuf,
                                      size_t errlen);

/*
 * Flushes what is queued (up to timeout_ms), stops the thread and frees.
 * Returns the number of records still unsettled (lost to the caller's
 * knowledge; their requests were already answered 503). NULL is a no-op.
 */
size_t gw_publisher_destroy(struct gw_publisher *p, int timeout_ms);

/* 1 if the producer queue has room for n more records now. */
int gw_publisher_has_room(struct gw_publisher *p, size_t n);

/*
 * Queues one record (payload copied) into batch b (armed with
 * mf_batch_init, its done callback run by the delivery-report thread) to
 * topic number `topic` of the options, with
 * the ingest.ts and ingest.source headers. MF_OK, or MF_ERETRY when the
 * queue is full or the producer refuses it (the record is not part of the
 * batch then). Never waits.
 */
int gw_publish(struct gw_publisher *p, struct mf_batch *b, int topic, const char *key,
               size_t keylen, const char *value, size_t len, const char *ingest_ts,
               const char *source);

/* 1 while a broker answers: the last metadata probe, or an ack since (for /readyz). */
int gw_publisher_connected(struct gw_publisher *p);

#endif
