/*
 * api_config: analytics-api's environment variables (DESIGN §8, §12) as a
 * config table; api_config_check adds what one row cannot say. Thread:
 * main, at start-up.
 */
#ifndef API_CONFIG_H
#define API_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mf_config.h"

struct api_config {
    int log_level;
    char *pg_dsn;
    char *pg_dsn_read;
    char *addr;
    bool auth;
    char *tokens_file;
    char *tls_cert_file;
    char *tls_key_file;
    int64_t threads;
    int64_t max_connections;
    int64_t idle_timeout_s;
    int64_t request_timeout_s;
    int64_t pool;
    int64_t statement_timeout_ms;
    int64_t retry_after_s;
    bool cache;
    int64_t cache_realtime_s;
    int64_t cache_hourly_s;
    int64_t cache_daily_s;
    int64_t cache_max_bytes;
    char *cursor_key;
    char *chartjs_path;
};

extern const struct mf_cfg_row api_config_rows[];
extern const size_t api_config_nrows;

/* API_TOKENS_FILE with API_AUTH=on; MF_OK or MF_EDATA with errbuf. */
int api_config_check(struct api_config *cfg, char *errbuf, size_t errlen);

#endif
