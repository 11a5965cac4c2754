/*
 * agg_publish: the rollup producer and the rollup JSON.
 */
#include "agg_publish.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_log.h"
#include "mf_metrics.h"
#include "mf_time.h"
#include "agg_window.h"
#include "mf_common.h"

struct agg_publish {
    rd_kafka_t *rk;
    rd_kafka_topic_t *topics[AGG_NWIDTHS];
    /* Counted by the delivery callback for the batch in flight. */
    size_t acked, failed;
    rd_kafka_resp_err_t last_err;
    struct mf_buf json;
};

/* Thread: the thread calling poll/flush, i.e. main. */
static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct agg_publish *p = opaque;
    if (m->err) {
        p->failed++;
        p->last_err = m->err;
        mf_metric_inc(mf_metric1("meterflow_kafka_delivery_errors_total", "topic",
                                 rd_kafka_topic_name(m->rkt)));
    } else {
        p->acked++;
    }
}

struct agg_publish *agg_publish_new(rd_kafka_conf_t *conf, const char *topic_1m,
                                    const char *topic_1h, char *errbuf, size_t errlen)
{
    struct agg_publish *p = mf_xcalloc(1, sizeof *p);
    rd_kafka_conf_set_opaque(conf, p);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errbuf, errlen);
    if (!p->rk) {
        rd_kafka_conf_destroy(conf);
        free(p);
        return NULL;
    }
    conf = NULL; /* rk owns it */
    p->topics[AGG_W1M] = rd_kafka_topic_new(p->rk, topic_1m, NULL);
    p->topics[AGG_W1H] = rd_kafka_topic_new(p->rk, topic_1h, NULL);
    mf_buf_init(&p->json, 64 * 1024);
    return p;
}

void agg_publish_destroy(struct agg_publish *p, int timeout_ms)
{
    if (!p)
        return;
    rd_kafka_flush(p->rk, timeout_ms);
    if (rd_kafka_outq_len(p->rk) > 0) {
        /* The broker is away: drop what is queued (the outbox republishes it). */
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(p->rk, 100);
    }
    for (int w = 0; w < AGG_NWIDTHS; w++)
        rd_kafka_topic_destroy(p->topics[w]);
    rd_kafka_destroy(p->rk);
    mf_buf_release(&p->json);
    free(p);
}

void agg_publish_poll(struct agg_publish *p)
{
    rd_kafka_poll(p->rk, 0);
}

int agg_rollup_json(const struct agg_row *row, struct mf_buf *out)
{
    char ts[MF_TIME_STRLEN];
    mf_time_format(row->start, ts);
    if (mf_buf_appends(out, "{\"meter_id\":") ||
        mf_buf_append_json_str(out, row->meter_id, strlen(row->meter_id)) ||
        mf_buf_appendf(out, ",\"width\":\"%s\",\"window_start\":\"%s\"",
                       agg_widths[row->width].name, ts) ||
        agg_acc_emit(&row->acc, out) ||
        mf_buf_appendf(out, ",\"revision\":%d}", row->revision))
        return MF_EDATA;
    return MF_OK;
}

int agg_publish_rows(struct agg_publish *p, const struct agg_rows *rows, int timeout_ms,
                     char *errbuf, size_t errlen)
{
    int64_t deadline = mf_mono_ms() + timeout_ms;
    p->acked = p->failed = 0;
    for (size_t i = 0; i < rows->n; i++) {
        const struct agg_row *row = &rows->v[i];
        mf_buf_reset(&p->json);
        if (agg_rollup_json(row, &p->json) != MF_OK) {
            /* Cannot happen for a row PostgreSQL accepted (finite values); say so loudly. */
            MF_LOG_ERROR("publish", "cannot encode window of '%s'", row->meter_id);
            p->failed++;
            continue;
        }
        for (;;) {
            int rc = rd_kafka_produce(p->topics[row->width], RD_KAFKA_PARTITION_UA,
                                      RD_KAFKA_MSG_F_COPY, p->json.data, p->json.len,
                                      row->meter_id, strlen(row->meter_id), NULL);
            if (rc == 0)
                break;
            rd_kafka_resp_err_t err = rd_kafka_last_error();
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || mf_mono_ms() > deadline) {
                snprintf(errbuf, errlen, "producing a rollup: %s", rd_kafka_err2str(err));
                rd_kafka_flush(p->rk, 1000);
                return MF_ERETRY;
            }
            rd_kafka_poll(p->rk, 10);
        }
        rd_kafka_poll(p->rk, 0);
    }
    while (p->acked + p->failed < rows->n && mf_mono_ms() < deadline)
        rd_kafka_flush(p->rk, 100);
    if (p->acked == rows->n)
        return MF_OK;
    /*
     * Give up on what is still queued, so its delivery reports arrive now
     * and not inside the next call's count. The caller republishes from
     * the outbox.
     */
    size_t acked = p->acked, failed = p->failed;
    rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(p->rk, 1000);
    p->acked = acked;
    p->failed = failed;
    if (p->failed)
        snprintf(errbuf, errlen, "%zu of %zu rollups not delivered: %s", p->failed, rows->n,
                 rd_kafka_err2str(p->last_err));
    else
        snprintf(errbuf, errlen, "%zu of %zu rollups not acknowledged in %d ms",
                 rows->n - p->acked, rows->n, timeout_ms);
    return MF_ERETRY;
}
