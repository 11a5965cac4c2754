/*
 * agg_publish: the rollup producer and the rollup JSON.
 */
#include "agg_publish.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_json.h"
#include "mf_log.h"
#include "mf_producer.h"
#include "mf_time.h"
#include "agg_window.h"
#include "mf_common.h"
#include "mf_crash.h"

struct agg_publish {
    struct mf_producer *prod;
    int topics[AGG_NWIDTHS]; /* its topic ids, by width */
    struct mf_buf json;
};

struct agg_publish *agg_publish_new(rd_kafka_conf_t *conf, const char *topic_1m,
                                    const char *topic_1h, char *errbuf, size_t errlen)
{
    struct agg_publish *p = mf_xcalloc(1, sizeof *p);
    p->prod = mf_producer_new(conf, errbuf, errlen);
    conf = NULL; /* the producer owns it, also on failure */
    if (!p->prod) {
        free(p);
        return NULL;
    }
    p->topics[AGG_W1M] = mf_producer_topic(p->prod, topic_1m);
    p->topics[AGG_W1H] = mf_producer_topic(p->prod, topic_1h);
    mf_buf_init(&p->json, 64 * 1024);
    return p;
}

void agg_publish_destroy(struct agg_publish *p, int timeout_ms)
{
    if (!p)
        return;
    /* The broker is away: what is still queued is dropped (the outbox republishes it). */
    mf_producer_flush(p->prod, timeout_ms);
    mf_producer_destroy(p->prod);
    mf_buf_release(&p->json);
    free(p);
}

void agg_publish_poll(struct agg_publish *p)
{
    mf_producer_poll(p->prod, 0);
}

int agg_rollup_json(const struct agg_row *row, struct mf_buf *out)
{
    char ts[MF_TIME_STRLEN];
    mf_time_format(row->start, ts);
    /* Plain appends (no printf): ~20,000 windows a batch at one reading a meter-minute. */
    if (mf_buf_appends(out, "{\"meter_id\":") ||
        mf_json_str(out, row->meter_id, strlen(row->meter_id)) ||
        mf_buf_appends(out, ",\"width\":\"") || mf_buf_appends(out, agg_widths[row->width].name) ||
        mf_buf_appends(out, "\",\"window_start\":\"") || mf_buf_appends(out, ts) ||
        mf_buf_appendc(out, '"') || agg_acc_emit(&row->acc, out) ||
        mf_buf_appends(out, ",\"revision\":") || mf_json_int(out, row->revision) ||
        mf_buf_appendc(out, '}'))
        return MF_EDATA;
    return MF_OK;
}

void agg_prejson_reset(struct agg_prejson *pj)
{
    pj->n = 0;
    mf_buf_reset(&pj->buf);
}

void agg_prejson_release(struct agg_prejson *pj)
{
    mf_buf_release(&pj->buf);
    free(pj->at);
    *pj = (struct agg_prejson){0};
}

void agg_prejson_encode(struct agg_prejson *pj, const struct agg_close *closes, size_t n)
{
    agg_prejson_reset(pj);
    if (!pj->buf.max)
        mf_buf_init(&pj->buf, SIZE_MAX);
    if (n > pj->cap) {
        pj->cap = n;
        pj->at = mf_xrealloc(pj->at, n * sizeof *pj->at);
    }
    struct agg_row row;
    for (size_t i = 0; i < n; i++) {
        size_t off = pj->buf.len;
        if (!agg_close_from_memory(&closes[i])) { /* published from its merge's row */
            pj->at[i] = (struct agg_prejson_at){off, 0};
            continue;
        }
        agg_row_from_close(&row, closes, i);
        if (agg_rollup_json(&row, &pj->buf) != MF_OK)
            pj->buf.len = off; /* encoded again when published, which reports it */
        pj->at[i] = (struct agg_prejson_at){off, pj->buf.len - off};
    }
    pj->n = n;
}

int agg_prejson_get(const struct agg_prejson *pj, const struct agg_row *row, struct mf_buf *scratch,
                    const char **json, size_t *len)
{
    size_t i = row->close_no - 1;
    if (pj && row->close_no && i < pj->n && pj->at[i].len) {
        *json = pj->buf.data + pj->at[i].off;
        *len = pj->at[i].len;
        return MF_OK;
    }
    mf_buf_reset(scratch);
    if (agg_rollup_json(row, scratch) != MF_OK)
        return MF_EDATA;
    *json = scratch->data;
    *len = scratch->len;
    return MF_OK;
}

int agg_publish_rows(struct agg_publish *p, const struct agg_rows *rows,
                     const struct agg_prejson *pj, int timeout_ms, char *errbuf, size_t errlen)
{
    int64_t deadline = mf_mono_ms() + timeout_ms;
    struct mf_batch batch;

    mf_batch_init(&batch, NULL, NULL);
    for (size_t i = 0; i < rows->n; i++) {
        const struct agg_row *row = &rows->v[i];
        const char *json;
        size_t len;
        if (agg_prejson_get(pj, row, &p->json, &json, &len) != MF_OK) {
            /* Cannot happen for a row PostgreSQL accepted (finite values); say so loudly. */
            MF_LOG_ERROR("publish", "cannot encode window of '%s'", row->meter_id);
            mf_batch_fail(&batch, 1, "a window could not be encoded");
            continue;
        }
        const struct mf_msg m = {p->topics[row->width],
                                 MF_PARTITION_ANY,
                                 row->meter_id,
                                 strlen(row->meter_id),
                                 json,
                                 len,
                                 NULL,
                                 0};
        int64_t left = deadline - mf_mono_ms();
        if (mf_producer_send(p->prod, &batch, &m, left > 0 ? (int)left : 0, errbuf, errlen) !=
            MF_OK) {
            /* Settle what went out before: the caller republishes all from the outbox. */
            mf_producer_wait(p->prod, &batch, 1000, NULL, 0);
            return MF_ERETRY;
        }
        mf_producer_poll(p->prod, 0);
        MF_CRASH_POINT("aggregator.publish.produced"); /* some windows sent, none acknowledged */
    }
    int64_t left = deadline - mf_mono_ms();
    return mf_producer_wait(p->prod, &batch, left > 0 ? (int)left : 0, errbuf, errlen);
}
