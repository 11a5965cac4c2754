/*
 * wk_worker: the stream-worker's Kafka side: a consumer-group member on
 * TOPIC_RAW that processes batches through wk_proc and keeps DESIGN §4's
 * delivery protocol:
 *
 *   1. produce the batch's outputs, wait for every delivery;
 *   2. produce the changed meters' states (each with the source offset of
 *      the last record it includes) to TOPIC_STATE, in the raw record's
 *      partition, wait for every delivery;
 *   3. commit the consumer offsets.
 *
 * On assignment, each newly assigned partition's states are read from the
 * changelog partition of the same number, beginning to high watermark,
 * before any of its records is processed; records a state already includes
 * are skipped. On revocation the batch in flight is finished through all
 * three steps first; partitions not assigned again are dropped. A failed
 * delivery stops the batch before its states and offsets: the worker drops
 * its states, restores them and seeks back to the committed offsets, so the
 * batch is redone (identical outputs, same `src`).
 * Thread: main (librdkafka's callbacks run inside its polls on main).
 */
#ifndef WK_WORKER_H
#define WK_WORKER_H

#include <stddef.h>

#include "wk_config.h"

struct wk_worker;

/*
 * Creates the clients (consumer, producer, restore reader) and the
 * registry refresher. cfg must outlive the worker. NULL with errbuf set on
 * a configuration error. Signals must already be blocked (mf_signal_block).
 */
struct wk_worker *wk_worker_new(const struct wk_config *cfg, char *errbuf, size_t errlen);

/*
 * Runs until mf_stop_requested: waits for the first registry, subscribes,
 * processes batches; on stop finishes the batch, leaves the group. Returns
 * the process exit status (0, or 1 after a fatal error).
 */
int wk_worker_run(struct wk_worker *w);

/* NULL is a no-op. */
void wk_worker_destroy(struct wk_worker *w);

/* mf_ready_fn: ready once it has a registry and is a group member. Thread: any. */
int wk_worker_ready(void *opaque, char *why, size_t whylen);

/* Registers the worker's metric families (DESIGN §9). */
void wk_worker_metrics_init(void);

#endif
