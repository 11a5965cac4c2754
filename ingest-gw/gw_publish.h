/*
 * gw_publish: ingest-gw's Kafka side. One idempotent producer (acks=all,
 * murmur2_random), a thread that serves its delivery reports, and batches
 * that tell their request when every record is acknowledged or failed.
 *
 * The bounded wait is librdkafka's own message.timeout.ms, set to
 * GW_ACK_TIMEOUT_MS: a record not acknowledged by then is reported failed,
 * so a request never waits longer, whatever the broker does.
 */
#ifndef GW_PUBLISH_H
#define GW_PUBLISH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct gw_publisher;
struct gw_batch;

/*
 * Called once per batch, when its last record is settled: `failed` of its
 * records were not acknowledged. Thread: the delivery-report thread, or
 * the caller of gw_batch_seal when everything settled before that.
 */
typedef void gw_batch_done_fn(struct gw_batch *b, void *opaque);

struct gw_batch {
    atomic_size_t pending; /* records in flight, plus one until sealed */
    atomic_size_t failed;
    gw_batch_done_fn *done;
    void *opaque;
    char first_error[96]; /* written only for the first failure */
    atomic_int error_set;
};

struct gw_publisher_opts {
    const char *brokers;
    const char *topic;
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

/* Starts a batch; done(b, opaque) runs once everything added is settled. */
void gw_batch_init(struct gw_batch *b, gw_batch_done_fn *done, void *opaque);

/* 1 if the producer queue has room for n more records now. */
int gw_publisher_has_room(struct gw_publisher *p, size_t n);

/*
 * Queues one record (payload copied) with the ingest.ts and ingest.source
 * headers. MF_OK, or MF_ERETRY when the queue is full or the producer
 * refuses it (the record is not part of the batch then).
 */
int gw_publish(struct gw_publisher *p, struct gw_batch *b, const char *key, size_t keylen,
               const char *value, size_t len, const char *ingest_ts, const char *source);

/* Ends the batch: no more records will be added. */
void gw_batch_seal(struct gw_batch *b);

/* 1 while the last metadata probe reached a broker (for /readyz). */
int gw_publisher_connected(struct gw_publisher *p);

#endif
