/*
 * ss_config: the rows. Shared variables come from mf_config.h's
 * MF_CFG_ROW_* (one name, default and help for the whole fleet).
 */
#include "ss_config.h"

#include <stdio.h>
#include <string.h>

#include "mf_common.h"

#define OFF(f) offsetof(struct ss_config, f)

const struct mf_cfg_row ss_config_rows[] = {
    MF_CFG_ROW_KAFKA_BROKERS(struct ss_config, kafka_brokers),
    MF_CFG_ROW_LOG_LEVEL(struct ss_config, log_level),
    MF_CFG_ROW_PG_DSN(struct ss_config, pg_dsn, "the registries, the source tables and offsets"),
    MF_CFG_ROW_METRICS_ADDR(struct ss_config, metrics_addr),
    MF_CFG_ROW_GROUP_ID(struct ss_config, group_id, "source-sink"),
    MF_CFG_ROW_TOPIC(struct ss_config, topic_grid, GRID, "input: grid feed readings (DESIGN 11.1)"),
    MF_CFG_ROW_TOPIC(struct ss_config, topic_weather, WEATHER,
                     "input: weather observations (DESIGN 11.2)"),
    MF_CFG_ROW_TOPIC(struct ss_config, topic_vehicles, VEHICLES,
                     "input: vehicle telemetry (DESIGN 11.3)"),
    MF_CFG_ROW_TOPIC(struct ss_config, topic_dlq, DLQ,
                     "output: records refused, with headers saying why (DESIGN 2); input: "
                     "every DLQ record into dlq_records (DESIGN 14)"),
    MF_CFG_ROW_TOPIC(struct ss_config, topic_quarantine, QUARANTINE,
                     "input: quarantined readings into quarantine_readings (DESIGN 14)"),
    MF_CFG_ROW_TOPIC(struct ss_config, topic_alerts, ALERTS,
                     "input: alerts into the alerts table (DESIGN 3.3)"),
    {"SS_ID", MF_CFG_STR, "source-sink", MF_CFG_UNBOUNDED, OFF(worker_id), 0, NULL,
     "this replica's name in the DLQ's worker.id header"},
    {"SS_BATCH_MAX", MF_CFG_INT, "20000", 1, 1000000, OFF(batch_max), 0, NULL,
     "records per PostgreSQL transaction at most"},
    {"SS_BATCH_MS", MF_CFG_INT, "500", 1, 60000, OFF(batch_ms), 0, NULL,
     "a batch is written at most this long after its first record"},
    {"REGISTRY_REFRESH_S", MF_CFG_INT, "60", 1, 86400, OFF(registry_refresh_s), 0, NULL,
     "reload the feeders, stations and vehicles this often (and on an unknown id)"},
    {"REVIEW_RETENTION_DAYS", MF_CFG_INT, "30", 1, 3650, OFF(review_retention_days), 0, NULL,
     "days kept in quarantine_readings and dlq_records (DESIGN 14), by day partition"},
    {"VEHICLE_RETENTION_DAYS", MF_CFG_INT, "0", 0, 100000, OFF(vehicle_retention_days), 0, NULL,
     "days kept in vehicle_telemetry_history, by day partition; 0 keeps every day"},
};
const size_t ss_config_nrows = MF_ARRAY_LEN(ss_config_rows);

int ss_config_check(struct ss_config *cfg, char *errbuf, size_t errlen)
{
    /* The topic a record came from says its kind: two kinds on one topic cannot work. */
    const char *const t[] = {cfg->topic_grid,       cfg->topic_weather, cfg->topic_vehicles,
                             cfg->topic_quarantine, cfg->topic_dlq,     cfg->topic_alerts};
    for (size_t i = 0; i < MF_ARRAY_LEN(t); i++)
        for (size_t j = i + 1; j < MF_ARRAY_LEN(t); j++)
            if (strcmp(t[i], t[j]) == 0) {
                snprintf(errbuf, errlen,
                         "invalid TOPIC_GRID, TOPIC_WEATHER, TOPIC_VEHICLES, TOPIC_QUARANTINE, "
                         "TOPIC_DLQ, TOPIC_ALERTS: each needs its own topic ('%s' twice)",
                         t[i]);
                return MF_EDATA;
            }
    return MF_OK;
}

void ss_config_release(struct ss_config *cfg)
{
    mf_config_release(ss_config_rows, ss_config_nrows, cfg);
}
