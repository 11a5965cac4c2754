/*
 * ctl_config: the rows. Kafka is used only by the review commands that
 * publish (quarantine approve, dlq replay) and is not reached by the others.
 */
#include "ctl_config.h"

#include "mf_common.h"

#define OFF(f) offsetof(struct ctl_config, f)

const struct mf_cfg_row ctl_config_rows[] = {
    MF_CFG_ROW_PG_DSN(struct ctl_config, pg_dsn,
                      "the registries, holidays, maintenance windows, review stores, alerts "
                      "and audit log"),
    MF_CFG_ROW_KAFKA_BROKERS(struct ctl_config, kafka_brokers),
    MF_CFG_ROW_TOPIC(struct ctl_config, topic_raw, RAW,
                     "output: approved readings and replayed DLQ records (DESIGN 14)"),
    MF_CFG_ROW_TOPIC(struct ctl_config, topic_grid, GRID,
                     "output: replayed DLQ records that came from it"),
    MF_CFG_ROW_TOPIC(struct ctl_config, topic_weather, WEATHER,
                     "output: replayed DLQ records that came from it"),
    MF_CFG_ROW_TOPIC(struct ctl_config, topic_vehicles, VEHICLES,
                     "output: replayed DLQ records that came from it"),
    {"CTL_TRANSACTIONAL_ID", MF_CFG_STR, "meterctl", MF_CFG_UNBOUNDED, OFF(txn_id), 0, NULL,
     "the Kafka transactional id of approvals and replays: a rerun fences a killed "
     "meterctl's open transaction with it"},
    {"CTL_KAFKA_TIMEOUT_MS", MF_CFG_INT, "30000", 1000, 600000, OFF(kafka_timeout_ms), 0, NULL,
     "how long an approval or replay waits for Kafka before giving up (nothing recorded)"},
    MF_CFG_ROW_LOG_LEVEL(struct ctl_config, log_level),
};
const size_t ctl_config_nrows = MF_ARRAY_LEN(ctl_config_rows);
