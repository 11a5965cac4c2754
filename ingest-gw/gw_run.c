/* gw_run: the gateway's start, wait and drain. */
#include "gw_run.h"

#include <stdio.h>
#include <unistd.h>

#include "gw_auth.h"
#include "gw_http.h"
#include "gw_publish.h"
#include "mf_authz.h"
#include "mf_kafka.h"
#include "mf_log.h"
#include "mf_metrics.h"
#include "mf_signal.h"
#include "mf_tls.h"
#include "mf_time.h"
#include "mf_common.h"

/*
 * SIGHUP: GW_TOKENS_FILE again. A file that does not load leaves the
 * tokens in force as they were (and says why); requests in flight keep
 * the entry they were admitted with.
 */
static void reload_tokens(const struct gw_config *cfg, struct mf_authz *auth)
{
    char err[512] = "";
    struct mf_tokens *t = auth ? gw_auth_load(cfg->tokens_file, err, sizeof err) : NULL;
    mf_authz_reloaded(auth, t, "GW_TOKENS_FILE", err);
}

int gw_run(const struct gw_config *cfg)
{
    char err[512];
    int status = 1;
    struct mf_authz *auth = NULL;
    struct gw_publisher *pub = NULL;
    struct gw_server *srv = NULL;
    int tls = cfg->tls_cert_file[0] || cfg->tls_key_file[0];

    if (tls && mf_tls_install(cfg->tls_cert_file, "GW_TLS_CERT_FILE", cfg->tls_key_file,
                              "GW_TLS_KEY_FILE", err, sizeof err) != MF_OK) {
        fprintf(stderr, "ingest-gw: %s\n", err);
        return 2;
    }

    if (cfg->auth) {
        struct mf_tokens *t = gw_auth_load(cfg->tokens_file, err, sizeof err);
        if (!t) {
            fprintf(stderr, "ingest-gw: %s\n", err);
            mf_tls_uninstall();
            return 2;
        }
        auth = mf_authz_new(t);
    }
    mf_metrics_init();
    mf_kafka_metrics_init();
    gw_http_metrics_init();

    char client_id[128], host[64] = "gw";
    gethostname(host, sizeof host - 1);
    snprintf(client_id, sizeof client_id, "ingest-gw-%s", host);
    /* Topic indexes are the item kinds' (gw_items.h). */
    struct gw_publisher_opts po = {
        cfg->brokers,
        {cfg->topic_raw, cfg->topic_grid, cfg->topic_weather, cfg->topic_vehicles},
        (int)cfg->ack_timeout_ms,
        client_id};
    if (!(pub = gw_publisher_new(&po, err, sizeof err))) {
        fprintf(stderr, "ingest-gw: %s\n", err);
        status = 2;
        goto out;
    }
    struct gw_server_opts so = {.addr = cfg->http_addr,
                                .max_body_bytes = (size_t)cfg->max_body_bytes,
                                .max_readings = (size_t)cfg->max_readings,
                                .max_inflight_bytes = (size_t)cfg->max_inflight_bytes,
                                .retry_after_s = (unsigned)cfg->retry_after_s,
                                .threads = (unsigned)cfg->threads,
                                .max_connections = (unsigned)cfg->max_connections,
                                .idle_timeout_s = (unsigned)cfg->idle_timeout_s,
                                .request_timeout_s = (unsigned)cfg->request_timeout_s,
                                .ack_timeout_ms = (int)cfg->ack_timeout_ms,
                                .tls = tls};
    if (!(srv = gw_server_start(&so, pub, auth, err, sizeof err))) {
        MF_LOG_FATAL("main", "%s", err);
        goto out;
    }
    mf_signal_install();
    MF_LOG_INFO("main", "listening on %s (port %u, %s), publishing to %s, auth %s", cfg->http_addr,
                gw_server_port(srv), tls ? "HTTPS" : "plain HTTP", cfg->topic_raw,
                auth ? "on" : "OFF (GW_AUTH=off: every client may write every meter)");

    while (!mf_stop_requested && !atomic_load(&mf_kafka_fatal)) {
        if (mf_reload_requested) {
            mf_reload_requested = 0;
            reload_tokens(cfg, auth);
            if (tls)
                mf_tls_reload(cfg->tls_cert_file, "GW_TLS_CERT_FILE", cfg->tls_key_file,
                              "GW_TLS_KEY_FILE");
        }
        usleep(100 * 1000);
    }

    /* Drain: new requests get 503; in-flight ones finish or time out. */
    MF_LOG_INFO("main", "shutting down: draining %zu in-flight requests", gw_server_inflight(srv));
    gw_server_drain(srv);
    int64_t deadline = mf_mono_ms() + cfg->drain_s * 1000;
    while (gw_server_inflight(srv) > 0 && mf_mono_ms() < deadline)
        usleep(20 * 1000);
    size_t lost = gw_publisher_destroy(pub, 5000);
    pub = NULL;
    /* Requests whose records were purged were resumed with a 503. */
    deadline = mf_mono_ms() + 2000;
    while (gw_server_inflight(srv) > 0 && mf_mono_ms() < deadline)
        usleep(20 * 1000);
    status = atomic_load(&mf_kafka_fatal) ? 1 : 0;
    MF_LOG_INFO("main", "stopped (%zu records unacknowledged)", lost);
out:
    gw_server_destroy(srv);
    gw_publisher_destroy(pub, 5000);
    mf_authz_destroy(auth);
    mf_tls_uninstall(); /* after the server: no handshake holds a pair now */
    return status;
}

static int check(void *cfg, char *errbuf, size_t errlen)
{
    return gw_config_check(cfg, errbuf, errlen);
}

static int run(const void *cfg)
{
    return gw_run(cfg);
}

const struct mf_program gw_program = {
    "ingest-gw",
    "HTTP gateway that publishes meter readings to Kafka",
    gw_config_rows,
    &gw_config_nrows,
    sizeof(struct gw_config),
    offsetof(struct gw_config, log_level),
    check,
    run,
    NULL, /* no migrate: the gateway keeps no tables */
};
