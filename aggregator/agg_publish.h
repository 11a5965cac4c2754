/*
 * agg_publish: merged windows to meter.rollups.1m / meter.rollups.1h
 * (DESIGN §3.4), keyed by meter_id, with the idempotent producer.
 *
 * agg_publish_rows produces a set of rows and waits until Kafka
 * acknowledged every one (or the timeout passed): the caller deletes the
 * outbox rows only after MF_OK. Publishing is at least once: a row may go
 * out twice (after a crash, or a retried batch) but always with the same
 * revision and content for the same (meter, width, window_start).
 * Thread: main (delivery callbacks run inside its flush).
 */
#ifndef AGG_PUBLISH_H
#define AGG_PUBLISH_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "mf_buf.h"
#include "agg_copy.h"

struct agg_publish;

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
 */
int agg_publish_rows(struct agg_publish *p, const struct agg_rows *rows, int timeout_ms,
                     char *errbuf, size_t errlen);

/* Appends the DESIGN §3.4 JSON of a row (exposed for tests). */
int agg_rollup_json(const struct agg_row *row, struct mf_buf *out);

/* Serves the producer's callbacks (call now and then when idle). */
void agg_publish_poll(struct agg_publish *p);

#endif
