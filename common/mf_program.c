/* mf_program: the one main() of every daemon. */
#include "mf_program.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_crash.h"
#include "mf_log.h"
#include "mf_signal.h"
#include "mf_common.h"

int mf_program_main(int argc, char **argv, const struct mf_program *prog)
{
    void *cfg = mf_xcalloc(1, prog->cfg_size);
    const char *cmd = NULL;
    char err[512];
    int status;

    /* A fault build lists its crash points (the walk test reads the list). */
    if (argc == 2 && strcmp(argv[1], "--crash-points") == 0) {
        free(cfg);
        if (mf_crash_list(stdout) == 0)
            return 0;
        fprintf(stderr, "%s: --crash-points: not a crash build (make crash-build)\n", prog->name);
        return 2;
    }
    int rc = mf_config_main(argc, argv, prog->name, prog->summary, prog->rows, *prog->nrows, cfg,
                            prog->migrate ? "migrate" : NULL, &cmd);
    if (rc != 0) {
        status = rc > 0 ? 0 : 2;
    } else if ((prog->check && prog->check(cfg, err, sizeof err) != MF_OK) ||
               mf_crash_check_env(err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog->name, err);
        status = 2;
    } else {
        mf_log_init(prog->name, *(const int *)(const void *)((const char *)cfg + prog->log_level));
        if (cmd && prog->migrate && strcmp(cmd, "migrate") == 0) {
            status = prog->migrate(cfg);
        } else {
            /* Before librdkafka, libpq or libmicrohttpd start a thread (DESIGN §10). */
            mf_signal_block();
            status = prog->run(cfg);
        }
    }
    mf_config_release(prog->rows, *prog->nrows, cfg);
    free(cfg);
    return status;
}
