/*
 * mf_producer: the one Kafka producer loop of meterflow. ingest-gw,
 * stream-worker and aggregator all produce through it: records go out in
 * batches, each batch counts its records until every one is settled
 * (acknowledged, or failed for good), and the answer is ok or failed with
 * the first error kept.
 *
 *   - Produce: a copy of each record (value, key, headers), to a topic
 *     registered once, in a given partition or by the partitioner
 *     (murmur2_random by key, mf_kafka). A full local queue (QUEUE_FULL) is
 *     waited out, serving delivery reports meanwhile, up to a deadline.
 *   - Delivery reports: a record that fails is counted in its batch (the
 *     first error kept) and in meterflow_kafka_delivery_errors_total{topic};
 *     librdkafka has already retried what was retriable, within
 *     message.timeout.ms. The batch's `done` callback runs once, when its
 *     last record settles after it was sealed.
 *   - Waiting: mf_producer_wait flushes until a batch is settled or its
 *     deadline passed; then librdkafka settles the rest itself (within
 *     message.timeout.ms; a purge of an idempotent producer's in-flight
 *     records would break its sequence), and only a batch still unsettled
 *     65 s later is purged. The batch is always settled when it returns.
 *   - Shutdown: mf_producer_flush waits for the queue, then purges the rest
 *     (each purged record is reported failed to its batch).
 *
 * A fatal producer error (fenced, idempotence broken) is mf_kafka's error
 * callback's: it sets mf_kafka_fatal, and the program exits non-zero.
 *
 * Threads: the producer may be used from any thread. Delivery reports (and
 * so `done` callbacks and the counting) run in whichever thread polls:
 * mf_producer_poll, _send (while the queue is full), _wait and _flush.
 * mf_producer_wait and mf_producer_flush purge the whole producer when
 * their deadline passes: they are for producers with one batch in flight
 * at a time (the worker, the aggregator); the gateway's concurrent batches
 * only poll, and are bounded by message.timeout.ms.
 */
#ifndef MF_PRODUCER_H
#define MF_PRODUCER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

/* A partition chosen by the producer's partitioner (by key). */
#define MF_PARTITION_ANY RD_KAFKA_PARTITION_UA

#define MF_PRODUCER_MAX_TOPICS 8

struct mf_producer;
struct mf_batch;

/*
 * Called once per batch, when it is sealed and its last record settled.
 * Thread: the one that served the last delivery report, or the caller of
 * mf_batch_seal / mf_producer_wait when everything had settled before.
 */
typedef void mf_batch_done_fn(struct mf_batch *b, void *opaque);

/*
 * A batch: a count of records in flight. Kept by the caller (on the stack,
 * in a request); it must stay where it is until it is settled (`done`
 * called, or mf_producer_wait returned). Read `failed` and `first_error`
 * once settled.
 */
struct mf_batch {
    atomic_size_t pending; /* records in flight, plus one until sealed */
    atomic_size_t queued;  /* records handed to the producer or failed by mf_batch_fail */
    atomic_size_t failed;  /* records not acknowledged */
    atomic_int error_set;
    char first_error[96];   /* written once, by whoever set error_set */
    mf_batch_done_fn *done; /* may be NULL */
    void *opaque;
};

/* A record header: name and NUL-terminated value (copied). */
struct mf_header {
    const char *name;
    const char *value;
};

/* One record to produce; everything is copied by mf_producer_send. */
struct mf_msg {
    int topic;         /* from mf_producer_topic */
    int32_t partition; /* or MF_PARTITION_ANY */
    const void *key;   /* NULL with keylen 0: no key */
    size_t keylen;
    const void *value;
    size_t len;
    const struct mf_header *headers; /* nheaders of them; NULL when 0 */
    size_t nheaders;
};

/*
 * A producer over conf (from mf_kafka_conf_new; ownership passes to the
 * producer, also on failure: its delivery callback and opaque are set
 * here). NULL with errbuf set on failure.
 */
struct mf_producer *mf_producer_new(rd_kafka_conf_t *conf, char *errbuf, size_t errlen);

/*
 * Frees the producer without waiting (call mf_producer_flush first to
 * keep what is queued). NULL is a no-op.
 */
void mf_producer_destroy(struct mf_producer *p);

/*
 * Registers a topic (name copied) and its delivery-error series; returns
 * its id for struct mf_msg. At most MF_PRODUCER_MAX_TOPICS. Thread: before
 * the first send.
 */
int mf_producer_topic(struct mf_producer *p, const char *name);

/* Arms b: no records, not sealed, done(b, opaque) to run when it settles (done may be NULL). */
void mf_batch_init(struct mf_batch *b, mf_batch_done_fn *done, void *opaque);

/* Ends b: no record will be added. Runs done now if everything already settled. */
void mf_batch_seal(struct mf_batch *b);

/*
 * Counts n records of b as failed without producing them (a record the
 * caller gave up on: refused by the queue, not encodable), with why as the
 * first error if none is kept yet.
 */
void mf_batch_fail(struct mf_batch *b, size_t n, const char *why);

/*
 * Produces m into batch b (which must be armed and not sealed). While the
 * local queue is full, serves delivery reports and retries, up to
 * timeout_ms (0: one attempt). MF_OK, or MF_ERETRY with errbuf set ("cannot
 * produce to <topic>: <reason>"): the record is then not part of b, and
 * nothing of m was taken.
 */
int mf_producer_send(struct mf_producer *p, struct mf_batch *b, const struct mf_msg *m,
                     int timeout_ms, char *errbuf, size_t errlen);

/*
 * Seals b and waits until it is settled, flushing (linger skipped) for up
 * to timeout_ms, then serving reports while librdkafka times the rest out
 * itself (message.timeout.ms); a batch still unsettled 65 s after the
 * deadline is purged. b is settled when this returns.
 * MF_OK if every record of b was acknowledged; MF_ERETRY otherwise, with
 * errbuf (may be NULL) saying how many of how many and the first error.
 */
int mf_producer_wait(struct mf_producer *p, struct mf_batch *b, int timeout_ms, char *errbuf,
                     size_t errlen);

/*
 * Shutdown: waits up to timeout_ms for everything queued, then purges the
 * rest and serves their (failed) reports for up to a second. Returns how
 * many records were still unacknowledged at the deadline.
 */
size_t mf_producer_flush(struct mf_producer *p, int timeout_ms);

/* Serves delivery reports (and other callbacks) for up to timeout_ms. */
void mf_producer_poll(struct mf_producer *p, int timeout_ms);

/* Records in the local queue, in flight, or with a report not yet served. */
size_t mf_producer_queued(struct mf_producer *p);

/* Records acknowledged so far (for readiness: the broker answers). Thread: any. */
uint64_t mf_producer_acked(struct mf_producer *p);

/*
 * The librdkafka handle, for what this module does not wrap: transactions
 * (the worker's WK_EOS) and metadata probes. Never destroy it.
 */
rd_kafka_t *mf_producer_rk(struct mf_producer *p);

#endif
