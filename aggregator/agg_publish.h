/*
 * agg_publish: merged windows to meter.rollups.1m / meter.rollups.1h
 * (DESIGN §3.4), keyed by meter_id, with the idempotent producer.
 *
 * agg_publish_rows produces a set of rows and waits until Kafka
 * acknowledged every one (or the timeout passed): the caller deletes the
 * outbox rows only after MF_OK. Publishing is at least once: a row may go
 * out twice (after a crash, or a retried batch) but always with the same
 * revision and content for the same (meter, width, window_start).
 *
 * The JSON of the windows a batch closes from memory (nearly one per
 * reading) is encoded while the batch commits (agg_prejson_encode, on the
 * main thread, which otherwise waits for the commit), not after it; a row
 * published from closes[i] (agg_row_from_close) then takes its bytes from
 * there, any other row is encoded when published. The bytes are the same
 * either way: both are agg_rollup_json of the same row.
 * Thread: main (delivery callbacks run inside its flush). agg_prejson_encode
 * only reads the batch, as the commit thread does meanwhile.
 */
#ifndef AGG_PUBLISH_H
#define AGG_PUBLISH_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "mf_buf.h"
#include "agg_copy.h"

struct agg_publish;

/* The JSON of a batch's closes, by index; {0} is empty. */
struct agg_prejson {
    struct mf_buf buf;
    struct agg_prejson_at {
        size_t off, len; /* closes[i]'s JSON in buf; len 0: not encoded */
    } * at;
    size_t n, cap;
};

/* Encodes the JSON of closes[0..n) as agg_row_from_close publishes them (pj emptied first). */
void agg_prejson_encode(struct agg_prejson *pj, const struct agg_close *closes, size_t n);
/* Empties pj (no row takes JSON from it until the next encode). */
void agg_prejson_reset(struct agg_prejson *pj);
void agg_prejson_release(struct agg_prejson *pj);
/*
 * The JSON of row: from pj when it was encoded there, else encoded into
 * scratch (reset first). MF_OK with *json, *len set; MF_EDATA when the row
 * cannot be encoded.
 */
int agg_prejson_get(const struct agg_prejson *pj, const struct agg_row *row, struct mf_buf *scratch,
                    const char **json, size_t *len);

/*
 * A producer on conf (ownership passes to the publisher, also on failure)
 * for the two topics (copied). NULL with errbuf set on failure.
 */
struct agg_publish *agg_publish_new(rd_kafka_conf_t *conf, const char *topic_1m,
                                    const char *topic_1h, char *errbuf, size_t errlen);
/* Flushes for up to timeout_ms and frees; NULL is a no-op. */
void agg_publish_destroy(struct agg_publish *p, int timeout_ms);

/*
 * Produces every row and waits up to timeout_ms for their acknowledgement.
 * MF_OK when all were acknowledged; MF_ERETRY otherwise (errbuf says why).
 * pj (NULL: none) holds the JSON encoded for the batch's closes.
 */
int agg_publish_rows(struct agg_publish *p, const struct agg_rows *rows,
                     const struct agg_prejson *pj, int timeout_ms, char *errbuf, size_t errlen);

/* Appends the DESIGN §3.4 JSON of a row (exposed for tests). */
int agg_rollup_json(const struct agg_row *row, struct mf_buf *out);

/* Serves the producer's callbacks (call now and then when idle). */
void agg_publish_poll(struct agg_publish *p);

#endif
