/*
 * ingest-gw: HTTP readings into Kafka, answered only after Kafka's ack.
 * main() only wires the configuration, logging and signals; the gateway's
 * life is gw_run (gw_run.h), its work gw_http and gw_publish.
 */
#include <stdio.h>

#include "gw_config.h"
#include "gw_run.h"
#include "mf_log.h"
#include "mf_signal.h"
#include "mf_common.h"

int main(int argc, char **argv)
{
    struct gw_config cfg = {0};
    char err[512];
    int status;

    int rc = mf_config_main(argc, argv, "ingest-gw",
                            "HTTP gateway that publishes meter readings to Kafka", gw_config_rows,
                            gw_config_nrows, &cfg, NULL, NULL);
    if (rc != 0) {
        status = rc > 0 ? 0 : 2;
    } else if (gw_config_check(&cfg, err, sizeof err) != MF_OK) {
        fprintf(stderr, "ingest-gw: %s\n", err);
        status = 2;
    } else {
        mf_log_init("ingest-gw", cfg.log_level);
        /* Before librdkafka or libmicrohttpd start a thread (DESIGN §10). */
        mf_signal_block();
        status = gw_run(&cfg);
    }
    gw_config_release(&cfg);
    return status;
}
