/*
 * ss_config: source-sink's configuration (DESIGN §8): the shared rows
 * (Kafka, PostgreSQL, metrics, group, topics) and its own SS_* rows.
 */
#ifndef SS_CONFIG_H
#define SS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mf_config.h"

struct ss_config {
    char *kafka_brokers;
    int log_level;
    char *pg_dsn;
    char *metrics_addr;
    char *group_id;
    char *topic_grid;
    char *topic_weather;
    char *topic_vehicles;
    char *topic_dlq;
    char *topic_quarantine;
    char *topic_alerts;
    char *worker_id;
    int64_t batch_max;
    int64_t batch_ms;
    int64_t registry_refresh_s;
    int64_t review_retention_days;
    int64_t vehicle_retention_days; /* 0: keep every day */
};

extern const struct mf_cfg_row ss_config_rows[];
extern const size_t ss_config_nrows;

/* Checks across rows (the input topics distinct); MF_OK or MF_EDATA with errbuf. */
int ss_config_check(struct ss_config *cfg, char *errbuf, size_t errlen);

void ss_config_release(struct ss_config *cfg);

#endif
