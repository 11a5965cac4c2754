/*
 * sim_run: sends a simulated fleet's readings as fast as the gateway takes them.
 *
 * Meters are sharded over K threads by a hash of their number; each thread
 * walks simulated time forward over its own meters in 5-minute slices, so a
 * meter's readings leave in its own order (one thread, one connection, one
 * request after the other) and the fleet as a whole moves forward in time
 * together (no thread runs more than an hour of simulated time ahead of the
 * slowest), which keeps the aggregator's watermarks honest.
 *
 * Backpressure is the gateway's own: a 503 (Kafka slow to ack, its producer
 * queue full) makes a sender wait Retry-After and resend; straight to
 * Kafka, a full producer queue waits for deliveries. The senders never
 * wait for the consumers: Kafka keeps what the workers and the aggregator
 * have not read yet. The main thread scrapes the fleet's /metrics
 * (lag_metrics) for the progress line and for drain: after sending, wait
 * until the workers finished every acknowledged record and the aggregator
 * caught up. Thread: main; it starts and joins the sender threads.
 */
#ifndef SIM_RUN_H
#define SIM_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "sim_fleet.h"

struct sim_run_opts {
    const char *gw_url;      /* send through ingest-gw, or NULL */
    const char *token;       /* bearer token, or NULL */
    const char *brokers;     /* straight to Kafka (all readings when gw_url is NULL;
                              * the malformed records either way), or NULL */
    const char *topic_raw;   /* default meter.readings.raw */
    const char *lag_metrics; /* comma list of /metrics URLs (workers, aggregator) for the
                              * progress line and drain, or NULL */
    bool csv;                /* gateway bodies as CSV instead of a JSON array */
    bool progress;           /* a progress line on stderr every second */
    bool drain;              /* after sending, wait until the fleet has caught up */
    int drain_timeout_s;     /* drain gives up after this long without progress */
    int threads;
    int batch; /* readings per request */
};

void sim_run_opts_default(struct sim_run_opts *o);

/*
 * Counts the run ends with (also printed as one "sim: done ..." line on stderr).
 */
struct sim_run_stats {
    uint64_t generated; /* readings generated */
    uint64_t accepted;  /* acknowledged by the gateway or the broker */
    uint64_t rejected;  /* refused by the gateway (4xx items) */
    uint64_t retried;   /* readings sent again after a 503 or a transport error */
    uint64_t malformed; /* malformed records acknowledged by the broker */
    double seconds;
};

/*
 * Runs the fleet. Returns 0, 1 when something was lost or refused (the
 * reason on stderr), or 2 for a set-up error. mf_stop_requested stops it
 * early (returns 1).
 */
int sim_run(const struct sim_fleet *f, const struct sim_run_opts *o, struct sim_run_stats *st);

/* The malformed records the run sends straight to Kafka: record i of n (bytes, NUL-ended). */
const char *sim_malformed_record(uint32_t i, char *buf, size_t len);

#endif
