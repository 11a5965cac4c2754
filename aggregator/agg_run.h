/*
 * agg_run: the aggregator's daemon loop (DESIGN §5), what main() calls
 * once the config is loaded and signals are blocked.
 *
 * One thread does everything that matters: it polls the consumer, builds
 * a batch (AGG_BATCH_MAX records or AGG_BATCH_MS after the first), writes
 * it to PostgreSQL in one transaction, publishes the windows that closed,
 * and hints the offsets to Kafka. Any failure of a batch (PostgreSQL
 * gone, a fence, a publish not acknowledged) takes the same road as a new
 * assignment: pause the partitions, drop the in-memory state, reload it
 * from PostgreSQL with capped backoff (not ready meanwhile), republish the
 * outbox, seek to the stored offsets, resume. SIGTERM writes the batch in
 * hand, leaves the group and returns 0.
 * Thread: main (the rebalance callback runs inside its consumer poll).
 */
#ifndef AGG_RUN_H
#define AGG_RUN_H

#include "agg_config.h"
#include "mf_program.h"

/*
 * Runs until mf_stop_requested. Returns the process exit status: 0 after a
 * clean shutdown, 1 on a fatal error (logged).
 */
int agg_run(const struct agg_config *cfg);

/* `aggregator migrate`: applies the migrations and returns 0, or 1 (logged). */
int agg_run_migrate(const struct agg_config *cfg);

/* The program, for mf_program_main (main.c). */
extern const struct mf_program agg_program;

/* Registers the aggregator's metric families (and the common ones). */
void agg_metrics_init(void);

#endif
