/*
 * stream-worker: meter-data validation (VEE) with durable per-meter state
 * (DESIGN §4). main() only wires the configuration, logging and signals;
 * the worker's life is wk_run (wk_run.h), its work libwk (wk_*.c).
 *
 *   stream-worker            run the worker
 *   stream-worker migrate    apply the schema migrations and exit
 */
#include <stdio.h>
#include <string.h>

#include "mf_log.h"
#include "mf_signal.h"
#include "wk_config.h"
#include "wk_run.h"
#include "mf_common.h"

int main(int argc, char **argv)
{
    struct wk_config cfg = {0};
    const char *cmd = NULL;
    char err[512];
    int status;

    int rc = mf_config_main(argc, argv, "stream-worker",
                            "validates meter readings (VEE) with durable per-meter state",
                            wk_config_rows, wk_config_nrows, &cfg, "migrate", &cmd);
    if (rc != 0) {
        status = rc > 0 ? 0 : 2;
    } else if (wk_config_check(&cfg, err, sizeof err) != MF_OK) {
        fprintf(stderr, "stream-worker: %s\n", err);
        status = 2;
    } else {
        mf_log_init("stream-worker", cfg.log_level);
        if (cmd && strcmp(cmd, "migrate") == 0) {
            status = wk_run_migrate(&cfg);
        } else {
            /* Before librdkafka, libpq or libmicrohttpd start a thread (DESIGN §10). */
            mf_signal_block();
            status = wk_run(&cfg);
        }
    }
    wk_config_release(&cfg);
    return status;
}
