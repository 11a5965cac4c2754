/* api_run: analytics-api's life from a loaded configuration to exit. */
#ifndef API_RUN_H
#define API_RUN_H

#include "api_config.h"
#include "mf_program.h"

/* Serves until SIGTERM; returns the exit status. */
int api_run(const struct api_config *cfg);

extern const struct mf_program api_program;

#endif
