/*
 * ss_batch: the per-record decision and the batch's bookkeeping.
 */
#include "ss_batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_common.h"

/* DESIGN §3.1's default interval, for a feed without one in record or registry. */
#define DEFAULT_INTERVAL_S 60

void ss_batch_init(struct ss_batch *b)
{
    memset(b, 0, sizeof *b);
    mf_buf_init(&b->bytes, SIZE_MAX);
    for (int r = 0; r < SS_REV_COUNT; r++)
        mf_buf_init(&b->review[r], SIZE_MAX);
}

void ss_batch_release(struct ss_batch *b)
{
    for (int k = 0; k < MF_SRC_COUNT; k++)
        free(b->rows[k]);
    free(b->dlq);
    free(b->pos);
    free(b->days);
    mf_buf_release(&b->bytes);
    for (int r = 0; r < SS_REV_COUNT; r++)
        mf_buf_release(&b->review[r]);
    memset(b, 0, sizeof *b);
}

void ss_batch_reset(struct ss_batch *b)
{
    for (int k = 0; k < MF_SRC_COUNT; k++)
        b->nrows[k] = 0;
    b->ndlq = b->npos = b->count = b->ndays = 0;
    b->newest_ts_ms = 0;
    mf_buf_reset(&b->bytes);
    for (int r = 0; r < SS_REV_COUNT; r++) {
        mf_buf_reset(&b->review[r]);
        b->nreview[r] = 0;
    }
}

const char *ss_unknown_code(enum mf_source_kind k)
{
    static const char *const codes[MF_SRC_COUNT] = {"unknown_feeder", "unknown_station",
                                                    "unknown_vehicle"};
    return codes[k];
}

/* Grows an array of `size`-byte elements to hold one more. */
void *ss_grow(void *v, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return v;
    *cap = *cap ? *cap * 2 : 256;
    return mf_xrealloc(v, *cap * size);
}

void ss_advance(struct ss_batch *b, int k, int32_t partition, int64_t offset)
{
    for (size_t i = 0; i < b->npos; i++) {
        if (b->pos[i].kind == k && b->pos[i].partition == partition) {
            if (offset + 1 > b->pos[i].next_offset)
                b->pos[i].next_offset = offset + 1;
            return;
        }
    }
    b->pos = ss_grow(b->pos, b->npos, &b->cappos, sizeof *b->pos);
    b->pos[b->npos++] = (struct ss_pos){k, partition, offset + 1};
}

void ss_add_dlq(struct ss_batch *b, int k, int32_t partition, int64_t offset, const void *key,
                size_t keylen, const void *value, size_t len, const char *code, const char *msg)
{
    b->dlq = ss_grow(b->dlq, b->ndlq, &b->capdlq, sizeof *b->dlq);
    struct ss_dlq *d = &b->dlq[b->ndlq++];
    d->kind = k;
    d->partition = partition;
    d->offset = offset;
    d->key_off = b->bytes.len;
    d->key_len = keylen;
    if (keylen)
        mf_buf_append(&b->bytes, key, keylen);
    d->val_off = b->bytes.len;
    d->val_len = len;
    if (len)
        mf_buf_append(&b->bytes, value, len);
    d->code = code;
    snprintf(d->msg, sizeof d->msg, "%s", msg);
}

int ss_batch_add(struct ss_batch *b, enum mf_source_kind k, int32_t partition, int64_t offset,
                 const void *key, size_t keylen, const void *value, size_t len,
                 ss_lookup_fn *lookup, void *opaque)
{
    struct ss_row row;
    char msg[200];
    const char *code = NULL;
    int reg_interval = 0;

    b->count++;
    ss_advance(b, (int)k, partition, offset);
    if (mf_source_parse(value ? value : "", len, k, &row.rec, msg, sizeof msg) != MF_OK) {
        ss_add_dlq(b, (int)k, partition, offset, key, keylen, value, len, "parse_error", msg);
        return 0;
    }
    if (!lookup(opaque, k, row.rec.id, &reg_interval)) {
        snprintf(msg, sizeof msg, "%s '%s' is not in the registry", mf_source_id_field(k),
                 row.rec.id);
        ss_add_dlq(b, (int)k, partition, offset, key, keylen, value, len, ss_unknown_code(k), msg);
        return 0;
    }
    row.interval_s = row.rec.interval_s ? row.rec.interval_s
                                        : (reg_interval > 0 ? reg_interval : DEFAULT_INTERVAL_S);
    if (mf_source_check(&row.rec, row.interval_s, &row.value_kw, &code, msg, sizeof msg) != MF_OK) {
        ss_add_dlq(b, (int)k, partition, offset, key, keylen, value, len, code, msg);
        return 0;
    }
    b->rows[k] = ss_grow(b->rows[k], b->nrows[k], &b->caprows[k], sizeof *b->rows[k]);
    b->rows[k][b->nrows[k]++] = row;
    if (row.rec.ts_ms > b->newest_ts_ms)
        b->newest_ts_ms = row.rec.ts_ms;
    return 1;
}
