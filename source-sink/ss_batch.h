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

/* A record bound for the DLQ: where it came from, its bytes, why. */
struct ss_dlq {
    enum mf_source_kind kind;
    int32_t partition;
    int64_t offset;
    size_t key_off, key_len, val_off, val_len; /* in the batch's bytes */
    const char *code;                          /* static */
    char msg[200];
};

/* The next offset to consume of one (kind's topic, partition). */
struct ss_pos {
    enum mf_source_kind kind;
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
    struct mf_buf bytes;  /* DLQ records' keys and values */
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

/* The DLQ error.code of an unregistered id of kind k. */
const char *ss_unknown_code(enum mf_source_kind k);

#endif
