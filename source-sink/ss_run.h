/*
 * ss_run: source-sink's consumer loop (the program of main.c): the
 * rebalance callback that starts each assigned partition at the offset
 * PostgreSQL stored, batches, the DLQ before each commit, retries from the
 * stored offsets after any failure, and shutdown.
 */
#ifndef SS_RUN_H
#define SS_RUN_H

#include "mf_program.h"
#include "ss_config.h"

extern const struct mf_program ss_program;

int ss_run(const struct ss_config *cfg);

#endif
