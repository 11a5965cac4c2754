/*
 * ctl_config: meterctl's environment, the same rows as the daemons'
 * (common/mf_config.h), so PG_DSN, KAFKA_BROKERS, the TOPIC_* names and
 * LOG_LEVEL mean the same everywhere and the README's table is checked
 * against `meterctl --help`.
 */
#ifndef CTL_CONFIG_H
#define CTL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "mf_config.h"

struct ctl_config {
    char *pg_dsn;
    char *kafka_brokers;
    char *topic_raw;
    char *topic_grid;
    char *topic_weather;
    char *topic_vehicles;
    char *txn_id;
    int64_t kafka_timeout_ms;
    int log_level;
};

extern const struct mf_cfg_row ctl_config_rows[];
extern const size_t ctl_config_nrows;

#endif
