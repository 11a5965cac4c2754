/*
 * ingest-gw: HTTP readings into Kafka, answered only after Kafka's ack.
 * main() wires configuration, logging, the publisher, the HTTP server and
 * the signals, then waits; the work happens in gw_http and gw_publish.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "gw_auth.h"
#include "gw_http.h"
#include "gw_publish.h"
#include "mf_config.h"
#include "mf_kafka.h"
#include "mf_log.h"
#include "mf_metrics.h"
#include "mf_signal.h"
#include "mf_time.h"
#include "mf_common.h"

struct gw_config {
    char *brokers;
    int log_level;
    char *http_addr;
    char *topic_raw;
    bool auth;
    char *tokens_file;
    int64_t max_body_bytes;
    int64_t max_readings;
    int64_t ack_timeout_ms;
    int64_t retry_after_s;
    int64_t threads;
    int64_t max_connections;
    int64_t drain_s;
};

#define OFF(f) offsetof(struct gw_config, f)
static const struct mf_cfg_row config_rows[] = {
    {"KAFKA_BROKERS", MF_CFG_STR, "localhost:9092", 0, -1, OFF(brokers), 0, NULL,
     "Kafka bootstrap servers, host:port[,host:port...]"},
    {"LOG_LEVEL", MF_CFG_ENUM, "info", 0, -1, OFF(log_level), 0, "debug|info|warn|error",
     "lowest level logged"},
    {"HTTP_ADDR", MF_CFG_ADDR, "0.0.0.0:8080", 0, -1, OFF(http_addr), 0, NULL,
     "address of the API and of /metrics, /healthz, /readyz"},
    {"TOPIC_RAW", MF_CFG_STR, "meter.readings.raw", 0, -1, OFF(topic_raw), 0, NULL,
     "topic the readings are published to"},
    {"GW_AUTH", MF_CFG_BOOL, "on", 0, -1, OFF(auth), 0, NULL,
     "require bearer tokens (off only for trusted networks and tests)"},
    {"GW_TOKENS_FILE", MF_CFG_STR, "", 0, -1, OFF(tokens_file), 0, NULL,
     "file of '<sha256 hex of token> <name> <meter-id glob>' lines; required with GW_AUTH=on"},
    {"GW_MAX_BODY_BYTES", MF_CFG_INT, "4194304", 1024, 1073741824, OFF(max_body_bytes), 0, NULL,
     "largest request body; larger ones get 413"},
    {"GW_MAX_READINGS", MF_CFG_INT, "10000", 1, 1000000, OFF(max_readings), 0, NULL,
     "most readings in one request; more get 413"},
    {"GW_ACK_TIMEOUT_MS", MF_CFG_INT, "10000", 100, 300000, OFF(ack_timeout_ms), 0, NULL,
     "longest wait for Kafka's ack before answering 503"},
    {"GW_RETRY_AFTER_S", MF_CFG_INT, "5", 1, 3600, OFF(retry_after_s), 0, NULL,
     "Retry-After seconds sent with 503"},
    {"GW_THREADS", MF_CFG_INT, "2", 1, 256, OFF(threads), 0, NULL, "HTTP event-loop threads"},
    {"GW_MAX_CONNECTIONS", MF_CFG_INT, "4096", 1, 1000000, OFF(max_connections), 0, NULL,
     "most concurrent client connections"},
    {"GW_DRAIN_S", MF_CFG_INT, "20", 0, 25, OFF(drain_s), 0, NULL,
     "on SIGTERM, how long in-flight requests may take to finish (the process exits within 30 s)"},
};

int main(int argc, char **argv)
{
    struct gw_config cfg = {0};
    char err[512];
    int status = 1;
    struct gw_auth *auth = NULL;
    struct gw_publisher *pub = NULL;
    struct gw_server *srv = NULL;

    int rc = mf_config_main(argc, argv, "ingest-gw",
                            "HTTP gateway that publishes meter readings to Kafka", config_rows,
                            MF_ARRAY_LEN(config_rows), &cfg, NULL);
    if (rc != 0) {
        status = rc > 0 ? 0 : 2;
        goto out;
    }
    mf_log_init("ingest-gw", cfg.log_level);
    if (cfg.auth && !cfg.tokens_file[0]) {
        fprintf(stderr, "ingest-gw: missing GW_TOKENS_FILE: required with GW_AUTH=on\n");
        status = 2;
        goto out;
    }
    if (cfg.auth && !(auth = gw_auth_load(cfg.tokens_file, err, sizeof err))) {
        fprintf(stderr, "ingest-gw: %s\n", err);
        status = 2;
        goto out;
    }

    mf_metrics_init();
    mf_kafka_metrics_init();
    gw_http_metrics_init();

    /* Threads created from here on inherit a mask without our signals. */
    mf_signal_block();
    char client_id[128], host[64] = "gw";
    gethostname(host, sizeof host - 1);
    snprintf(client_id, sizeof client_id, "ingest-gw-%s", host);
    struct gw_publisher_opts po = {cfg.brokers, cfg.topic_raw, (int)cfg.ack_timeout_ms,
                                   client_id};
    if (!(pub = gw_publisher_new(&po, err, sizeof err))) {
        fprintf(stderr, "ingest-gw: %s\n", err);
        status = 2;
        goto out;
    }
    struct gw_server_opts so = {cfg.http_addr,           (size_t)cfg.max_body_bytes,
                                (size_t)cfg.max_readings, (unsigned)cfg.retry_after_s,
                                (unsigned)cfg.threads,    (unsigned)cfg.max_connections};
    if (!(srv = gw_server_start(&so, pub, auth, err, sizeof err))) {
        MF_LOG_FATAL("main", "%s", err);
        goto out;
    }
    mf_signal_install();
    MF_LOG_INFO("main", "listening on %s (port %u), publishing to %s, auth %s", cfg.http_addr,
                gw_server_port(srv), cfg.topic_raw,
                auth ? "on" : "OFF (GW_AUTH=off: every client may write every meter)");

    while (!mf_stop_requested && !atomic_load(&mf_kafka_fatal))
        usleep(100 * 1000);

    /* Drain: new requests get 503; in-flight ones finish or time out. */
    MF_LOG_INFO("main", "shutting down: draining %zu in-flight requests",
                gw_server_inflight(srv));
    gw_server_drain(srv);
    int64_t deadline = mf_mono_ms() + cfg.drain_s * 1000;
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
    gw_auth_destroy(auth);
    mf_config_release(config_rows, MF_ARRAY_LEN(config_rows), &cfg);
    return status;
}
