/*
 * sim_topic: the watermarks say where each partition ends now; the
 * consumer is assigned every non-empty partition at its low watermark and
 * reads until each has reached the end it had at the start.
 */
#include "sim_topic.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <librdkafka/rdkafka.h>

#include "mf_time.h"

#include "mf_common.h"

int sim_topic_read(const char *brokers, const char *topic, int timeout_s, sim_topic_fn fn,
                   void *ctx)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk = NULL;
    rd_kafka_topic_partition_list_t *parts = NULL;
    const struct rd_kafka_metadata *md = NULL;
    int64_t *high = NULL;
    char *done = NULL;
    int rc = 2, np = 0;

    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof err) ||
        rd_kafka_conf_set(conf, "client.id", "meter-sim", err, sizeof err) ||
        rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof err) ||
        /* assign() needs a group handle; this one never joins, commits or subscribes. */
        rd_kafka_conf_set(conf, "group.id", "meter-sim", err, sizeof err) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err)) {
        fprintf(stderr, "meter-sim: %s\n", err);
        rd_kafka_conf_destroy(conf);
        return 2;
    }
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "meter-sim: %s\n", err);
        rd_kafka_conf_destroy(conf);
        return 2;
    }
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        md->topic_cnt != 1 || md->topics[0].err) {
        fprintf(stderr, "meter-sim: no metadata for topic '%s' at %s\n", topic, brokers);
        rd_kafka_topic_destroy(rkt);
        goto out;
    }
    rd_kafka_topic_destroy(rkt);
    np = md->topics[0].partition_cnt;
    high = mf_xcalloc((size_t)np, sizeof *high);
    done = mf_xcalloc((size_t)np, 1);
    parts = rd_kafka_topic_partition_list_new(np);
    int open = 0;
    for (int p = 0; p < np; p++) {
        int64_t lo = 0;
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &high[p], 10000)) {
            fprintf(stderr, "meter-sim: cannot read the offsets of '%s' [%d]\n", topic, p);
            goto out;
        }
        if (high[p] > lo) {
            rd_kafka_topic_partition_list_add(parts, topic, p)->offset = lo;
            open++;
        }
    }
    rd_kafka_resp_err_t aerr = open ? rd_kafka_assign(rk, parts) : RD_KAFKA_RESP_ERR_NO_ERROR;
    if (aerr) {
        fprintf(stderr, "meter-sim: cannot assign '%s': %s\n", topic, rd_kafka_err2str(aerr));
        goto out;
    }
    int64_t deadline = mf_mono_ms() + (int64_t)timeout_s * 1000;
    while (open > 0) {
        if (mf_mono_ms() > deadline) {
            fprintf(stderr, "meter-sim: reading '%s' timed out\n", topic);
            goto out;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        int32_t p = m->partition;
        bool at_end = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
        if (m->err && !at_end) {
            fprintf(stderr, "meter-sim: consuming '%s': %s\n", topic, rd_kafka_message_errstr(m));
        } else if (!m->err && p >= 0 && p < np && m->offset < high[p]) {
            fn(ctx, m->payload, m->len);
            at_end = m->offset + 1 >= high[p];
        }
        if (at_end && p >= 0 && p < np && !done[p]) {
            done[p] = 1; /* its end as of when the read started */
            open--;
        }
        rd_kafka_message_destroy(m);
    }
    rc = 0;
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    free(high);
    free(done);
    rd_kafka_destroy(rk);
    return rc;
}
