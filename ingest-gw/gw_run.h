/*
 * gw_run: the gateway's life from a loaded configuration to exit: tokens,
 * metrics, the publisher, the HTTP server, signals, the wait, the drain.
 * Thread: main. The HTTP pool and the delivery-report thread are started
 * here and stopped before it returns.
 */
#ifndef GW_RUN_H
#define GW_RUN_H

#include "gw_config.h"
#include "mf_program.h"

/*
 * Runs until SIGTERM/SIGINT or a fatal Kafka error. Returns the exit
 * status: 0 after a clean drain, 1 on a runtime failure, 2 when the
 * configuration turns out bad at start (an unreadable tokens file).
 * Call mf_signal_block() first, before any library thread exists.
 */
int gw_run(const struct gw_config *cfg);

/* The program, for mf_program_main (main.c). */
extern const struct mf_program gw_program;

#endif
