/*
 * mf_program: the one main() of every daemon. A program describes itself
 * (name, summary, its config rows and struct, the check across rows, its
 * run and, if it has one, its migrate subcommand); mf_program_main does
 * the rest the same way for all: --help and --version, the one-line
 * configuration errors (exit 2), logging, blocking our signals before any
 * library thread starts (DESIGN §10), then run or migrate. Thread: main.
 */
#ifndef MF_PROGRAM_H
#define MF_PROGRAM_H

#include <stddef.h>

#include "mf_config.h"

struct mf_program {
    const char *name;    /* "stream-worker": logs, --help, errors */
    const char *summary; /* one line for --help */
    const struct mf_cfg_row *rows;
    const size_t *nrows; /* the table's length (an extern const of the program) */
    size_t cfg_size;     /* sizeof(struct <prog>_config) */
    size_t log_level;    /* offsetof(struct <prog>_config, <its LOG_LEVEL int>) */
    /* Checks across rows and fills derived defaults; MF_OK or MF_EDATA with errbuf. */
    int (*check)(void *cfg, char *errbuf, size_t errlen);
    /* The daemon; returns the exit status. Signals are blocked already. */
    int (*run)(const void *cfg);
    /* `<name> migrate`, or NULL when the program has no such subcommand. */
    int (*migrate)(const void *cfg);
};

/* Runs the program; returns main()'s exit status. */
int mf_program_main(int argc, char **argv, const struct mf_program *prog);

#endif
