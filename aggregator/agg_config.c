/*
 * agg_config: the rows.
 */
#include "agg_config.h"

#include "mf_common.h"

#define OFF(f) offsetof(struct agg_config, f)
#define UNBOUNDED 1, 0 /* min > max: no bounds */

const struct mf_cfg_row agg_config_rows[] = {
    {"KAFKA_BROKERS", MF_CFG_STR, "localhost:9092", UNBOUNDED, OFF(kafka_brokers), 0, NULL,
     "Kafka bootstrap servers; any librdkafka property as KAFKA_<PROP> (_ -> .)"},
    {"LOG_LEVEL", MF_CFG_ENUM, "info", UNBOUNDED, OFF(log_level), 0, "debug|info|warn|error",
     "lowest level logged (JSON lines on stderr)"},
    {"PG_DSN", MF_CFG_STR, NULL, UNBOUNDED, OFF(pg_dsn), MF_CFG_REQUIRED | MF_CFG_SECRET, NULL,
     "PostgreSQL connection string (libpq DSN or URI); never logged"},
    {"METRICS_ADDR", MF_CFG_ADDR, "0.0.0.0:9100", UNBOUNDED, OFF(metrics_addr), 0, NULL,
     "host:port of /metrics, /healthz and /readyz"},
    {"GROUP_ID", MF_CFG_STR, "aggregator", UNBOUNDED, OFF(group_id), 0, NULL,
     "Kafka consumer group; also keys sink_offsets, source_positions and agg_* rows"},
    {"TOPIC_VALIDATED", MF_CFG_STR, "meter.readings.validated", UNBOUNDED, OFF(topic_validated),
     0, NULL, "input: scored readings (DESIGN 3.2)"},
    {"TOPIC_ROLLUPS_1M", MF_CFG_STR, "meter.rollups.1m", UNBOUNDED, OFF(topic_rollups_1m), 0,
     NULL, "output: closed 1-minute windows (DESIGN 3.4)"},
    {"TOPIC_ROLLUPS_1H", MF_CFG_STR, "meter.rollups.1h", UNBOUNDED, OFF(topic_rollups_1h), 0,
     NULL, "output: closed 1-hour windows (DESIGN 3.4)"},
    {"TOPIC_ALERTS", MF_CFG_STR, "meter.alerts", UNBOUNDED, OFF(topic_alerts), 0, NULL,
     "alerts topic (reserved: the aggregator raises no alerts yet)"},
    {"AGG_LATENESS_S", MF_CFG_INT, "120", 0, 7 * 86400, OFF(lateness_s), 0, NULL,
     "watermark = newest event time - this; a window closes when the watermark passes its end"},
    {"AGG_IDLE_FLUSH_S", MF_CFG_INT, "30", 1, 86400, OFF(idle_flush_s), 0, NULL,
     "after this long without a record, a partition's watermark jumps to wall clock - lateness"},
    {"AGG_BATCH_MAX", MF_CFG_INT, "20000", 1, 1000000, OFF(batch_max), 0, NULL,
     "records per PostgreSQL transaction at most"},
    {"AGG_BATCH_MS", MF_CFG_INT, "500", 1, 60000, OFF(batch_ms), 0, NULL,
     "a batch is written at most this long after its first record"},
    {"AGG_RETENTION_1M_DAYS", MF_CFG_INT, "0", 0, 100000, OFF(retention_1m_days), 0, NULL,
     "drop rollup_1m partitions older than this many days (0: keep forever)"},
    {"AGG_RETENTION_1H_DAYS", MF_CFG_INT, "0", 0, 100000, OFF(retention_1h_days), 0, NULL,
     "drop rollup_1h partitions older than this many days (0: keep forever)"},
    {"AGG_PARTITIONS_AHEAD_DAYS", MF_CFG_INT, "2", 0, 365, OFF(partitions_ahead_days), 0, NULL,
     "create rollup partitions this many days ahead of the wall clock"},
};
const size_t agg_config_nrows = MF_ARRAY_LEN(agg_config_rows);
