/*
 * stream-worker: meter-data validation (VEE) with durable per-meter state
 * (DESIGN §4). This file only wires the config, logging, signals, the admin
 * endpoint and the worker; everything else is in libwk (wk_*.c).
 *
 *   stream-worker            run the worker
 *   stream-worker migrate    apply the schema migrations and exit
 */
#include <stdio.h>
#include <string.h>

#include "mf_http.h"
#include "mf_kafka.h"
#include "mf_log.h"
#include "mf_metrics.h"
#include "mf_pg.h"
#include "mf_signal.h"
#include "wk_config.h"
#include "wk_worker.h"
#include "mf_common.h"

static int migrate(const struct wk_config *cfg)
{
    char err[512];
    PGconn *conn = mf_pg_connect(cfg->pg_dsn, "stream-worker", err, sizeof err);
    if (!conn) {
        MF_LOG_FATAL("migrate", "%s", err);
        return 1;
    }
    int n = mf_pg_migrate(conn, err, sizeof err);
    PQfinish(conn);
    if (n < 0) {
        MF_LOG_FATAL("migrate", "%s", err);
        return 1;
    }
    MF_LOG_INFO("migrate", "applied %d migration(s)", n);
    return 0;
}

int main(int argc, char **argv)
{
    struct wk_config cfg;
    struct wk_worker *w = NULL;
    struct mf_admin *admin = NULL;
    char err[512];
    int status = 2;

    memset(&cfg, 0, sizeof cfg);
    int rc = mf_config_main(argc, argv, "stream-worker",
                            "validates meter readings (VEE) with durable per-meter state",
                            wk_config_rows, wk_config_nrows, &cfg, "migrate");
    if (rc != 0) {
        status = rc > 0 ? 0 : 2;
        goto out;
    }
    if (wk_config_load(&cfg, err, sizeof err) != MF_OK) {
        fprintf(stderr, "stream-worker: %s\n", err);
        goto out;
    }
    mf_log_init("stream-worker", cfg.log_level);
    if (argc > 1 && strcmp(argv[1], "migrate") == 0) {
        status = migrate(&cfg);
        goto out;
    }

    /* Threads (librdkafka, libpq refresher, libmicrohttpd) must not take our signals. */
    mf_signal_block();
    mf_metrics_init();
    mf_kafka_metrics_init();
    wk_worker_metrics_init();
    w = wk_worker_new(&cfg, err, sizeof err);
    if (!w) {
        MF_LOG_FATAL("main", "%s", err);
        status = 1;
        goto out;
    }
    admin = mf_admin_start(cfg.metrics_addr, wk_worker_ready, w, err, sizeof err);
    if (!admin) {
        MF_LOG_FATAL("main", "%s", err);
        status = 1;
        goto out;
    }
    MF_LOG_INFO("main", "metrics on port %u", mf_admin_port(admin));
    mf_signal_install();
    status = wk_worker_run(w);
    MF_LOG_INFO("main", "exiting with status %d", status);
out:
    mf_admin_destroy(admin);
    wk_worker_destroy(w);
    wk_config_release(&cfg);
    return status;
}
