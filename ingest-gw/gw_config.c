/*
 * gw_config: the rows. The shared variables come from mf_config.h's
 * MF_CFG_ROW_* (one name, default and help for the whole fleet).
 */
#include "gw_config.h"

#include <stdio.h>

#include "mf_common.h"

#define OFF(f) offsetof(struct gw_config, f)

const struct mf_cfg_row gw_config_rows[] = {
    MF_CFG_ROW_KAFKA_BROKERS(struct gw_config, brokers),
    MF_CFG_ROW_LOG_LEVEL(struct gw_config, log_level),
    {"HTTP_ADDR", MF_CFG_ADDR, "0.0.0.0:8080", MF_CFG_UNBOUNDED, OFF(http_addr), 0, NULL,
     "address of the API and of /metrics, /healthz, /readyz"},
    MF_CFG_ROW_TOPIC(struct gw_config, topic_raw, RAW, "output: the readings, keyed by meter_id"),
    MF_CFG_ROW_TOPIC(struct gw_config, topic_grid, GRID,
                     "output: grid feed readings (/v1/grid), keyed by feeder_id"),
    MF_CFG_ROW_TOPIC(struct gw_config, topic_weather, WEATHER,
                     "output: weather observations (/v1/weather), keyed by station_id"),
    MF_CFG_ROW_TOPIC(struct gw_config, topic_vehicles, VEHICLES,
                     "output: vehicle telemetry (/v1/vehicles), keyed by vehicle_id"),
    {"GW_AUTH", MF_CFG_BOOL, "on", MF_CFG_UNBOUNDED, OFF(auth), 0, NULL,
     "require bearer tokens (off only for trusted networks and tests)"},
    {"GW_TOKENS_FILE", MF_CFG_STR, "", MF_CFG_UNBOUNDED, OFF(tokens_file), 0, NULL,
     "file of '<sha256 hex of token> <name> <key glob> [scopes [rate]]' lines; required with "
     "GW_AUTH=on; reloaded on SIGHUP"},
    {"GW_TLS_CERT_FILE", MF_CFG_STR, "", MF_CFG_UNBOUNDED, OFF(tls_cert_file), 0, NULL,
     "PEM certificate (chain) for HTTPS on HTTP_ADDR; with GW_TLS_KEY_FILE; unset: plain HTTP"},
    {"GW_TLS_KEY_FILE", MF_CFG_STR, "", MF_CFG_UNBOUNDED, OFF(tls_key_file), 0, NULL,
     "PEM private key of GW_TLS_CERT_FILE"},
    {"GW_MAX_BODY_BYTES", MF_CFG_INT, "4194304", 1024, 1073741824, OFF(max_body_bytes), 0, NULL,
     "largest request body; larger ones get 413"},
    {"GW_MAX_READINGS", MF_CFG_INT, "10000", 1, 1000000, OFF(max_readings), 0, NULL,
     "most readings in one request; more get 413"},
    {"GW_MAX_INFLIGHT_BYTES", MF_CFG_INT, "67108864", 1048576, 68719476736, OFF(max_inflight_bytes),
     0, NULL,
     "most request-body bytes held at once (being read, parsed or waiting for Kafka); past it a "
     "request is answered 503 with Retry-After before its body is read (bounds memory)"},
    {"GW_ACK_TIMEOUT_MS", MF_CFG_INT, "10000", 100, 300000, OFF(ack_timeout_ms), 0, NULL,
     "longest wait for Kafka's ack before answering 503"},
    {"GW_RETRY_AFTER_S", MF_CFG_INT, "5", 1, 3600, OFF(retry_after_s), 0, NULL,
     "Retry-After seconds sent with 503"},
    {"GW_THREADS", MF_CFG_INT, "2", 1, 256, OFF(threads), 0, NULL, "HTTP event-loop threads"},
    {"GW_MAX_CONNECTIONS", MF_CFG_INT, "4096", 1, 1000000, OFF(max_connections), 0, NULL,
     "most concurrent client connections"},
    {"GW_IDLE_TIMEOUT_S", MF_CFG_INT, "60", 1, 3600, OFF(idle_timeout_s), 0, NULL,
     "a connection is closed when its next request line is not in this long after the last "
     "answer (or the connection's start)"},
    {"GW_REQUEST_TIMEOUT_S", MF_CFG_INT, "30", 1, 3600, OFF(request_timeout_s), 0, NULL,
     "a request's headers, body and answer must be done this long after its request line, "
     "else the connection is closed (a slow client; more than GW_ACK_TIMEOUT_MS)"},
    {"GW_DRAIN_S", MF_CFG_INT, "20", 0, 25, OFF(drain_s), 0, NULL,
     "on SIGTERM, how long in-flight requests may take to finish (the process exits within 30 s)"},
};
const size_t gw_config_nrows = MF_ARRAY_LEN(gw_config_rows);

int gw_config_check(struct gw_config *cfg, char *errbuf, size_t errlen)
{
    if (cfg->auth && !cfg->tokens_file[0]) {
        snprintf(errbuf, errlen, "missing GW_TOKENS_FILE: required with GW_AUTH=on");
        return MF_EDATA;
    }
    if (cfg->request_timeout_s * 1000 <= cfg->ack_timeout_ms) {
        snprintf(errbuf, errlen,
                 "invalid GW_REQUEST_TIMEOUT_S: %lld s must be longer than GW_ACK_TIMEOUT_MS "
                 "(%lld ms), or a request waiting for Kafka loses its 503",
                 (long long)cfg->request_timeout_s, (long long)cfg->ack_timeout_ms);
        return MF_EDATA;
    }
    return MF_OK;
}

int gw_config_load(struct gw_config *cfg, char *errbuf, size_t errlen)
{
    if (mf_config_load(gw_config_rows, gw_config_nrows, cfg, errbuf, errlen) != MF_OK)
        return MF_EDATA;
    return gw_config_check(cfg, errbuf, errlen);
}

void gw_config_release(struct gw_config *cfg)
{
    mf_config_release(gw_config_rows, gw_config_nrows, cfg);
}
