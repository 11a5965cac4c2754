/* wk_run: the worker's start, loop and stop; the migrate subcommand. */
#include "wk_run.h"

#include "mf_http.h"
#include "mf_kafka.h"
#include "mf_log.h"
#include "mf_metrics.h"
#include "mf_pg.h"
#include "mf_signal.h"
#include "wk_worker.h"
#include "mf_common.h"

int wk_run_migrate(const struct wk_config *cfg)
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

int wk_run(const struct wk_config *cfg)
{
    char err[512];
    int status = 1;
    struct mf_admin *admin = NULL;

    mf_metrics_init();
    mf_kafka_metrics_init();
    wk_worker_metrics_init();
    struct wk_worker *w = wk_worker_new(cfg, err, sizeof err);
    if (!w) {
        MF_LOG_FATAL("main", "%s", err);
        goto out;
    }
    admin = mf_admin_start(cfg->metrics_addr, wk_worker_ready, w, err, sizeof err);
    if (!admin) {
        MF_LOG_FATAL("main", "%s", err);
        goto out;
    }
    MF_LOG_INFO("main", "metrics on port %u", mf_admin_port(admin));
    mf_signal_install();
    status = wk_worker_run(w);
    MF_LOG_INFO("main", "exiting with status %d", status);
out:
    mf_admin_destroy(admin);
    wk_worker_destroy(w);
    return status;
}

static int check(void *cfg, char *errbuf, size_t errlen)
{
    return wk_config_check(cfg, errbuf, errlen);
}

static int run(const void *cfg)
{
    return wk_run(cfg);
}

static int migrate(const void *cfg)
{
    return wk_run_migrate(cfg);
}

const struct mf_program wk_program = {
    "stream-worker",
    "validates meter readings (VEE) with durable per-meter state",
    wk_config_rows,
    &wk_config_nrows,
    sizeof(struct wk_config),
    offsetof(struct wk_config, log_level),
    check,
    run,
    migrate,
};
