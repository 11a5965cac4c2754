/*
 * ss_batch: one batch of consumed records, each decided on arrival: a row
 * for its kind's tables, or a DLQ entry (DESIGN §11: "every record ends in
 * exactly one place"), plus the next offset of every partition it covers.
 * The batch is what one PostgreSQL transaction writes (ss_pg) after its
 * DLQ entries were delivered. No I/O here: the registry is a callback, so
 * the rules are unit-tested alone.
 *
 * Decision, in order: parse (not JSON, a required field missing or of the
 * wrong type: parse_error) -> registry (unknown_feeder, unknown_station,
 * unknown_vehicle) -> meaning (mf_source_check: out_of_range,
 * unit_unknown, unit_ambiguous), error.message naming the field.
 * Thread: the caller's (one batch, one thread).
 */
#ifndef SS_BATCH_H
#define SS_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "mf_buf.h"
#include "mf_source.h"

/*
 * Whether id of kind k is registered: 1 (and, for feeders, *interval_s the
 * feeder's registry interval) or 0.
 */
typedef int ss_lookup_fn(void *opaque, enum mf_source_kind k, const char *id, int *interval_s);

/* A row for the tables. */
struct ss_row {
    struct mf_source_rec rec;
    double value_kw;    /* grid: the value in kW */
    int32_t interval_s; /* grid: the record's, else the feeder's */
};

/*
 * The review stores' topics (DESIGN §14): source-sink stores every record
 * of the quarantine, the DLQ and the alerts topics too. A batch's topics
 * are indexed 0..SS_TOPIC_COUNT: the source kinds, then these.
 */
enum ss_review_kind { SS_REV_QUARANTINE, SS_REV_DLQ, SS_REV_ALERTS, SS_REV_COUNT };
#define SS_TOPIC_COUNT        (MF_SRC_COUNT + SS_REV_COUNT)
#define SS_TOPIC_OF_REVIEW(r) (MF_SRC_COUNT + (int)(r))

/* A Kafka header: value may be NULL (len 0) and is not NUL-terminated. */
struct ss_header {
    const char *name;
    const void *value;
    size_t len;
};

/* A record bound for the DLQ: where it came from, its bytes, why. */
struct ss_dlq {
    int kind; /* the topic index: a source kind, or SS_TOPIC_OF_REVIEW */
    int32_t partition;
    int64_t offset;
    size_t key_off, key_len, val_off, val_len; /* in the batch's bytes */
    const char *code;                          /* static */
    char msg[200];
};

/* The next offset to consume of one (topic index, partition). */
struct ss_pos {
    int kind;
    int32_t partition;
    int64_t next_offset;
};

struct ss_batch {
    struct ss_row *rows[MF_SRC_COUNT];
    size_t nrows[MF_SRC_COUNT], caprows[MF_SRC_COUNT];
    struct ss_dlq *dlq;
    size_t ndlq, capdlq;
    struct ss_pos *pos;
    size_t npos, cappos;
    struct mf_buf bytes; /* DLQ records' keys and values */
    /*
     * The review stores' rows, each kind a JSON array's elements without the
     * brackets (ss_review: typed fields checked here, so the SQL's casts
     * cannot fail), and the UTC day numbers their partitions need.
     */
    struct mf_buf review[SS_REV_COUNT];
    size_t nreview[SS_REV_COUNT];
    int64_t *days;
    size_t ndays, capdays;
    size_t count;         /* records added */
    int64_t newest_ts_ms; /* newest event time stored (0: none) */
};

void ss_batch_init(struct ss_batch *b);
void ss_batch_release(struct ss_batch *b);
/* Empties the batch, keeping its memory. */
void ss_batch_reset(struct ss_batch *b);

/*
 * Decides one record of kind k at (partition, offset) and adds it as a row
 * or a DLQ entry; the partition's next offset becomes offset + 1. key may
 * be NULL (keylen 0). Returns 1 if stored, 0 if DLQ-bound.
 */
int ss_batch_add(struct ss_batch *b, enum mf_source_kind k, int32_t partition, int64_t offset,
                 const void *key, size_t keylen, const void *value, size_t len,
                 ss_lookup_fn *lookup, void *opaque);

/*
 * Stores one record of a review topic at (partition, offset), Kafka
 * timestamp ts_ms (< 0: none, the clock's), as a row of its store; a
 * quarantine or alert record that is not the §3.2 / §3.3 JSON goes to the
 * DLQ (parse_error) instead. DLQ records are stored whatever their bytes.
 * Returns 1 if stored, 0 if DLQ-bound. (ss_review.c)
 */
int ss_batch_add_review(struct ss_batch *b, enum ss_review_kind k, int32_t partition,
                        int64_t offset, int64_t ts_ms, const void *key, size_t keylen,
                        const struct ss_header *h, size_t nh, const void *value, size_t len);

/* The name of a topic index: the source kind's, quarantine, dlq, alerts. */
const char *ss_topic_kind_name(int kind);

/* The DLQ error.code of an unregistered id of kind k. */
const char *ss_unknown_code(enum mf_source_kind k);

/* Shared by ss_batch.c and ss_review.c: the batch's bookkeeping. */
void *ss_grow(void *v, size_t n, size_t *cap, size_t size);
void ss_advance(struct ss_batch *b, int k, int32_t partition, int64_t offset);
void ss_add_dlq(struct ss_batch *b, int k, int32_t partition, int64_t offset, const void *key,
                size_t keylen, const void *value, size_t len, const char *code, const char *msg);

#endif
