/*
 * ctl_kafka: what approve and replay need of Kafka. A transactional
 * producer (CTL_TRANSACTIONAL_ID): opening it fences a killed meterctl and
 * aborts its open transaction, so afterwards a read_committed scan of a
 * partition says for certain whether an earlier run's record was published.
 * Records are sent to an explicit partition (murmur2_random of the key, as
 * every producer of ours picks), so the scan knows where to look.
 * Every failure is reported through ctl_fail. Thread: main.
 */
#ifndef CTL_KAFKA_H
#define CTL_KAFKA_H

#include <stddef.h>
#include <stdint.h>

#include "ctl_cli.h"

struct ctl_kafka;

/* One record to publish; offset is set once it is committed. */
struct ctl_pub {
    const char *topic;
    int32_t partition;
    const void *key; /* NULL: none */
    size_t keylen;
    void *value; /* not changed (librdkafka's value type is not const) */
    size_t len;
    const char *hname[2], *hval[2];
    size_t nh;
    int64_t offset;
};

/* Connects and initialises the transactions; NULL after ctl_fail. */
struct ctl_kafka *ctl_kafka_open(struct ctl_ctx *ctx);
void ctl_kafka_close(struct ctl_kafka *k);

/* The partition a key goes to in topic (key NULL: 0); -1 after ctl_fail. */
int32_t ctl_kafka_partition(struct ctl_kafka *k, const char *topic, const void *key, size_t keylen);

/* The end (high watermark) of a partition in *end; MF_OK or MF_EFATAL after ctl_fail. */
int ctl_kafka_end(struct ctl_kafka *k, const char *topic, int32_t partition, int64_t *end);

/* Publishes p[0..n) in one transaction; MF_OK (offsets set) or MF_EFATAL after ctl_fail. */
int ctl_kafka_publish(struct ctl_kafka *k, struct ctl_pub *p, size_t n);

/*
 * Reads topic/partition from offset `from` to its end (committed records
 * only) and sets found[i] to the offset of the first record whose header
 * `name` is ids[i], else leaves it. MF_OK or MF_EFATAL after ctl_fail.
 */
int ctl_kafka_find(struct ctl_kafka *k, const char *topic, int32_t partition, int64_t from,
                   const char *name, const char *const *ids, size_t n, int64_t *found);

#endif
