/*
 * aggregator: 1-minute and hourly rollups of validated readings, exactly
 * once into PostgreSQL, closed windows to the S3-bound topics (DESIGN §5).
 * main() only wires the configuration, logging and signals; the daemon's
 * life is agg_run (agg_run.h).
 *
 *   aggregator            run the aggregator
 *   aggregator migrate    apply the schema migrations, create the partitions ahead, exit
 */
#include <stdio.h>
#include <string.h>

#include "agg_config.h"
#include "agg_run.h"
#include "mf_log.h"
#include "mf_signal.h"
#include "mf_common.h"

int main(int argc, char **argv)
{
    struct agg_config cfg = {0};
    const char *cmd = NULL;
    char err[512];
    int status;

    int rc = mf_config_main(argc, argv, "aggregator",
                            "1-minute and hourly rollups of validated readings into PostgreSQL",
                            agg_config_rows, agg_config_nrows, &cfg, "migrate", &cmd);
    if (rc != 0) {
        status = rc > 0 ? 0 : 2;
    } else if (agg_config_check(&cfg, err, sizeof err) != MF_OK) {
        fprintf(stderr, "aggregator: %s\n", err);
        status = 2;
    } else {
        mf_log_init("aggregator", cfg.log_level);
        if (cmd && strcmp(cmd, "migrate") == 0) {
            status = agg_run_migrate(&cfg);
        } else {
            /* Before librdkafka, libpq or libmicrohttpd start a thread (DESIGN §10). */
            mf_signal_block();
            status = agg_run(&cfg);
        }
    }
    agg_config_release(&cfg);
    return status;
}
