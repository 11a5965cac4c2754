/*
 * aggregator: 1-minute and hourly rollups of validated readings, exactly
 * once into PostgreSQL, closed windows to the S3-bound topics (DESIGN §5).
 *
 * main() only wires the config, logging and signals; the daemon is
 * agg_run (aggregator/agg_run.h). `aggregator migrate` applies the schema
 * migrations and creates the partitions ahead, then exits.
 */
#include <stdio.h>
#include <string.h>

#include "mf_config.h"
#include "mf_log.h"
#include "mf_signal.h"
#include "agg_config.h"
#include "agg_run.h"
#include "mf_common.h"

int main(int argc, char **argv)
{
    struct agg_config cfg = {0};
    int rc = mf_config_main(argc, argv, "aggregator",
                            "1-minute and hourly rollups of validated readings into PostgreSQL",
                            agg_config_rows, agg_config_nrows, &cfg, "migrate");
    if (rc != 0) {
        mf_config_release(agg_config_rows, agg_config_nrows, &cfg);
        return rc > 0 ? 0 : 2;
    }
    bool migrate = argc > 1 && strcmp(argv[argc - 1], "migrate") == 0;
    mf_log_init("aggregator", cfg.log_level);

    if (migrate) {
        rc = agg_run_migrate(&cfg);
    } else {
        /* Before librdkafka or libmicrohttpd start a thread (DESIGN §10). */
        mf_signal_block();
        rc = agg_run(&cfg);
    }
    mf_config_release(agg_config_rows, agg_config_nrows, &cfg);
    return rc;
}
