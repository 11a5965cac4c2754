/*
 * gw_config: ingest-gw's environment variables (DESIGN §7, §8) as a config
 * table. The same rows parse, refuse bad values with one line naming the
 * variable, and print --help; gw_config_check adds what one row cannot
 * say. Thread: main, at start-up.
 */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mf_config.h"

struct gw_config {
    char *brokers;
    int log_level;
    char *http_addr;
    char *topic_raw;
    char *topic_grid;
    char *topic_weather;
    char *topic_vehicles;
    bool auth;
    char *tokens_file;
    char *tls_cert_file;
    char *tls_key_file;
    int64_t max_body_bytes;
    int64_t max_readings;
    int64_t max_inflight_bytes;
    int64_t ack_timeout_ms;
    int64_t retry_after_s;
    int64_t threads;
    int64_t max_connections;
    int64_t idle_timeout_s;
    int64_t request_timeout_s;
    int64_t drain_s;
};

extern const struct mf_cfg_row gw_config_rows[];
extern const size_t gw_config_nrows;

/* Checks across rows (GW_TOKENS_FILE with GW_AUTH=on); MF_OK or MF_EDATA with errbuf. */
int gw_config_check(struct gw_config *cfg, char *errbuf, size_t errlen);

/* mf_config_load, then gw_config_check (tests, benchmarks). */
int gw_config_load(struct gw_config *cfg, char *errbuf, size_t errlen);

/* Frees the strings. */
void gw_config_release(struct gw_config *cfg);

#endif
