/*
 * ctl_kafka: the transactional producer and the partition scan of
 * approve and replay (see ctl_kafka.h, and ctl_review.c for the protocol).
 */
#include "ctl_kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "mf_kafka.h"
#include "mf_common.h"
#include "mf_crash.h"

struct ctl_kafka {
    struct ctl_ctx *ctx;
    rd_kafka_t *rk;
    int timeout_ms;
};

/* Delivery: the offset a record got, or its error. Thread: inside rd_kafka_flush/poll. */
static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct ctl_pub *p = m->_private;
    (void)rk;
    (void)opaque;
    if (p)
        p->offset = m->err ? -2 : m->offset;
}

struct ctl_kafka *ctl_kafka_open(struct ctl_ctx *ctx)
{
    char err[512];
    const struct ctl_config *cfg = ctx->cfg;
    rd_kafka_conf_t *conf = mf_kafka_conf_new(MF_KAFKA_PRODUCER, cfg->kafka_brokers, "meterctl",
                                              NULL, err, sizeof err);
    if (!conf || mf_kafka_conf_set(conf, "transactional.id", cfg->txn_id, "CTL_TRANSACTIONAL_ID",
                                   err, sizeof err) != MF_OK) {
        if (conf)
            rd_kafka_conf_destroy(conf);
        ctl_fail(ctx, "%s", err);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        ctl_fail(ctx, "kafka: %s", err);
        return NULL;
    }
    struct ctl_kafka *k = mf_xcalloc(1, sizeof *k);
    k->ctx = ctx;
    k->rk = rk;
    k->timeout_ms = (int)cfg->kafka_timeout_ms;
    /* Fences a killed meterctl (same id) and aborts its open transaction. */
    rd_kafka_error_t *e = rd_kafka_init_transactions(rk, k->timeout_ms);
    if (e) {
        ctl_fail(ctx, "kafka at %s: %s: nothing published", cfg->kafka_brokers,
                 rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        ctl_kafka_close(k);
        return NULL;
    }
    return k;
}

void ctl_kafka_close(struct ctl_kafka *k)
{
    if (!k)
        return;
    rd_kafka_destroy(k->rk);
    free(k);
}

int32_t ctl_kafka_partition(struct ctl_kafka *k, const char *topic, const void *key, size_t keylen)
{
    int n = mf_kafka_partition_count(k->rk, topic, k->timeout_ms);
    if (n <= 0) {
        ctl_fail(k->ctx, "kafka: no metadata for topic %s: nothing published", topic);
        return -1;
    }
    return key ? mf_kafka_partition_of(key, keylen, n) : 0;
}

int ctl_kafka_end(struct ctl_kafka *k, const char *topic, int32_t partition, int64_t *end)
{
    int64_t lo = 0;
    rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(k->rk, topic, partition, &lo, end,
                                                               k->timeout_ms);
    if (err) {
        ctl_fail(k->ctx, "kafka: the end of %s/%d: %s: nothing published", topic, (int)partition,
                 rd_kafka_err2str(err));
        return MF_EFATAL;
    }
    return MF_OK;
}

static int abort_txn(struct ctl_kafka *k, const char *what, const char *why)
{
    rd_kafka_error_t *e = rd_kafka_abort_transaction(k->rk, k->timeout_ms);
    if (e)
        rd_kafka_error_destroy(e);
    ctl_fail(k->ctx, "kafka: %s: %s: nothing published", what, why);
    return MF_EFATAL;
}

int ctl_kafka_publish(struct ctl_kafka *k, struct ctl_pub *p, size_t n)
{
    rd_kafka_error_t *e = rd_kafka_begin_transaction(k->rk);
    if (e) {
        ctl_fail(k->ctx, "kafka: begin transaction: %s: nothing published",
                 rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        return MF_EFATAL;
    }
    for (size_t i = 0; i < n; i++) {
        rd_kafka_headers_t *h = rd_kafka_headers_new(p[i].nh);
        for (size_t j = 0; j < p[i].nh; j++)
            rd_kafka_header_add(h, p[i].hname[j], -1, p[i].hval[j], -1);
        p[i].offset = -1;
        rd_kafka_resp_err_t err = rd_kafka_producev(
            k->rk, RD_KAFKA_V_TOPIC(p[i].topic), RD_KAFKA_V_PARTITION(p[i].partition),
            RD_KAFKA_V_KEY(p[i].key, p[i].keylen), RD_KAFKA_V_VALUE(p[i].value, p[i].len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
            RD_KAFKA_V_OPAQUE(&p[i]), RD_KAFKA_V_END);
        if (err) {
            rd_kafka_headers_destroy(h);
            return abort_txn(k, "produce", rd_kafka_err2str(err));
        }
    }
    rd_kafka_flush(k->rk, k->timeout_ms);
    for (size_t i = 0; i < n; i++)
        if (p[i].offset < 0)
            return abort_txn(k, "delivery", "a record was not acknowledged");
    MF_CRASH_POINT("meterctl.publish.produced"); /* in the log, the transaction open */
    e = rd_kafka_commit_transaction(k->rk, k->timeout_ms);
    if (e) {
        char why[256];
        snprintf(why, sizeof why, "%s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        return abort_txn(k, "commit transaction", why);
    }
    return MF_OK;
}

int ctl_kafka_find(struct ctl_kafka *k, const char *topic, int32_t partition, int64_t from,
                   const char *name, const char *const *ids, size_t n, int64_t *found)
{
    char err[512];
    int64_t end;
    if (ctl_kafka_end(k, topic, partition, &end) != MF_OK)
        return MF_EFATAL;
    if (from >= end)
        return MF_OK; /* nothing was appended since: not published */
    rd_kafka_conf_t *conf = mf_kafka_conf_new(MF_KAFKA_CONSUMER, k->ctx->cfg->kafka_brokers,
                                              "meterctl", "meterctl-scan", err, sizeof err);
    if (!conf ||
        mf_kafka_conf_set(conf, "enable.partition.eof", "true", "scan", err, sizeof err) != MF_OK ||
        mf_kafka_conf_set(conf, "statistics.interval.ms", "0", "scan", err, sizeof err) != MF_OK) {
        if (conf)
            rd_kafka_conf_destroy(conf);
        ctl_fail(k->ctx, "kafka: %s", err);
        return MF_EFATAL;
    }
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!c) {
        rd_kafka_conf_destroy(conf);
        ctl_fail(k->ctx, "kafka: %s", err);
        return MF_EFATAL;
    }
    rd_kafka_poll_set_consumer(c);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = from;
    rd_kafka_assign(c, l);
    rd_kafka_topic_partition_list_destroy(l);
    int rc = MF_EFATAL, waited = 0;
    while (waited < k->timeout_ms) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
        if (!m) {
            waited += 200;
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            rd_kafka_message_destroy(m);
            rc = MF_OK;
            break;
        }
        rd_kafka_headers_t *h = NULL;
        const void *v;
        size_t vlen;
        if (!m->err && rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            rd_kafka_header_get_last(h, name, &v, &vlen) == RD_KAFKA_RESP_ERR_NO_ERROR && v) {
            for (size_t i = 0; i < n; i++)
                if (found[i] < 0 && strlen(ids[i]) == vlen && memcmp(ids[i], v, vlen) == 0)
                    found[i] = m->offset;
        }
        rd_kafka_message_destroy(m);
    }
    if (rc != MF_OK)
        ctl_fail(k->ctx, "kafka: reading %s/%d to its end took over %d ms: nothing published",
                 topic, (int)partition, k->timeout_ms);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return rc;
}
