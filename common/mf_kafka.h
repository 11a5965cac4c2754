/*
 * mf_kafka: librdkafka configuration the meterflow way.
 *
 * Builds a conf from KAFKA_BROKERS, the program's defaults and the
 * KAFKA_<PROP> pass-through (KAFKA_SECURITY_PROTOCOL -> security.protocol),
 * then re-checks the properties our delivery guarantees rest on, so a
 * pass-through cannot silently turn off idempotence or acks=all. Routes
 * librdkafka's log and errors to mf_log, and its statistics to the
 * meterflow_kafka_consumer_lag gauge. Thread: main, except the callbacks
 * (librdkafka's threads, or the polling thread for stats).
 */
#ifndef MF_KAFKA_H
#define MF_KAFKA_H

#include <stdatomic.h>
#include <stddef.h>

#include <librdkafka/rdkafka.h>

enum mf_kafka_role { MF_KAFKA_PRODUCER, MF_KAFKA_CONSUMER };

/* Set by the error callback: a fatal client error (exit non-zero). */
extern atomic_int mf_kafka_fatal;
/* Set/cleared by the error callback: all brokers are down right now. */
extern atomic_int mf_kafka_all_brokers_down;

/*
 * A conf for one role. Producers: enable.idempotence, acks=all,
 * murmur2_random partitioner. Consumers: group.id, eager range assignor,
 * manual commits, earliest reset, read_committed, stats every 5 s for the lag gauge.
 * group may be NULL for producers. Returns NULL with one line in errbuf
 * naming the variable on a bad value. The caller owns the conf (or hands it
 * to rd_kafka_new).
 */
rd_kafka_conf_t *mf_kafka_conf_new(enum mf_kafka_role role, const char *brokers,
                                   const char *client_id, const char *group, char *errbuf,
                                   size_t errlen);

/* Sets one property; on failure writes "invalid <what>: <reason>". */
int mf_kafka_conf_set(rd_kafka_conf_t *conf, const char *prop, const char *value, const char *what,
                      char *errbuf, size_t errlen);

/* Registers the Kafka metric families (lag, delivery errors). */
void mf_kafka_metrics_init(void);

/*
 * Kafka's partition for a key under murmur2_random (what Java clients do),
 * the partition every producer of ours picks.
 */
int32_t mf_kafka_partition_of(const char *key, size_t keylen, int32_t partitions);

/* Waits up to timeout_ms for the topic's metadata; returns its partition count or -1. */
int mf_kafka_partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms);

/*
 * For consumers that keep their offsets in PostgreSQL (aggregator,
 * source-sink): starting and stopping the fetch of a group's partitions
 * with assignments only, never pause/resume. In librdkafka 2.0.2 a pause
 * or resume right after an assign bumps the partition's op version, and
 * the assign's start-at-offset, still queued, is then dropped as outdated
 * (librdkafka issues #2190, #5591): that partition is never fetched again
 * (it_ss_sources in CI: one partition's 30 records never came).
 */

/* Fetches nothing until mf_kafka_assign_stored: the group still owns the partitions. */
void mf_kafka_hold(rd_kafka_t *rk);

/*
 * Assigns l, fetching each partition from its offset: the stored next
 * offset, or where it is negative (none stored) Kafka's committed offset
 * for the group, else the beginning. Returns MF_OK, or MF_ERETRY with
 * one line in errbuf.
 */
int mf_kafka_assign_stored(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *l, char *errbuf,
                           size_t errlen);

#endif
