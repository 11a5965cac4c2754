/*
 * wk_run: the stream-worker's life from a loaded configuration to exit:
 * metrics, the worker, the admin endpoint, signals, the consume loop; and
 * the `migrate` subcommand. Thread: main.
 */
#ifndef WK_RUN_H
#define WK_RUN_H

#include "mf_program.h"
#include "wk_config.h"

/*
 * Runs the worker until SIGTERM/SIGINT or a fatal error; returns the exit
 * status (0 clean, 1 failure). Call mf_signal_block() first.
 */
int wk_run(const struct wk_config *cfg);

/* Applies the schema migrations; 0, or 1 after logging why not. */
int wk_run_migrate(const struct wk_config *cfg);

/* The program, for mf_program_main (main.c). */
extern const struct mf_program wk_program;

#endif
