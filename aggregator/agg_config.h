/*
 * agg_config: the aggregator's environment variables (DESIGN §8) as a
 * config table. The same rows parse, refuse bad values with one line, and
 * print --help. Thread: main, at start-up.
 */
#ifndef AGG_CONFIG_H
#define AGG_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "mf_config.h"

struct agg_config {
    char *kafka_brokers;
    int log_level; /* index into "debug|info|warn|error" = enum mf_log_level */
    char *pg_dsn;
    char *metrics_addr;
    char *group_id;
    char *topic_validated;
    char *topic_rollups_1m;
    char *topic_rollups_1h;
    char *topic_alerts;
    int64_t lateness_s;
    int64_t idle_flush_s;
    int64_t batch_max;
    int64_t batch_ms;
    int64_t retention_1m_days;
    int64_t retention_1h_days;
    int64_t partitions_ahead_days;
    char *fleet_tz;
    int hemisphere; /* index into "north|south" */
    int64_t daily_every_s;
};

extern const struct mf_cfg_row agg_config_rows[];
extern const size_t agg_config_nrows;

/* FLEET_TZ must name a zone of the tz database (never silently UTC). */
int agg_config_check(struct agg_config *cfg, char *errbuf, size_t errlen);

/* Frees the strings. */
void agg_config_release(struct agg_config *cfg);

#endif
