/*
 * agg_config: the rows.
 */
#include "agg_config.h"

#include <stdio.h>

#include "mf_time.h"
#include "mf_common.h"

#define OFF(f) offsetof(struct agg_config, f)

const struct mf_cfg_row agg_config_rows[] = {
    MF_CFG_ROW_KAFKA_BROKERS(struct agg_config, kafka_brokers),
    MF_CFG_ROW_LOG_LEVEL(struct agg_config, log_level),
    MF_CFG_ROW_PG_DSN(struct agg_config, pg_dsn, "the rollups, offsets and status"),
    MF_CFG_ROW_METRICS_ADDR(struct agg_config, metrics_addr),
    MF_CFG_ROW_GROUP_ID(struct agg_config, group_id, "aggregator"),
    MF_CFG_ROW_TOPIC(struct agg_config, topic_validated, VALIDATED,
                     "input: scored readings (DESIGN 3.2)"),
    MF_CFG_ROW_TOPIC(struct agg_config, topic_rollups_1m, ROLLUPS_1M,
                     "output: closed 1-minute windows (DESIGN 3.4)"),
    MF_CFG_ROW_TOPIC(struct agg_config, topic_rollups_1h, ROLLUPS_1H,
                     "output: closed 1-hour windows (DESIGN 3.4)"),
    MF_CFG_ROW_TOPIC(struct agg_config, topic_alerts, ALERTS,
                     "output: the daily analytics' alerts, quality_degradation and"
                     " neighborhood_correlation (DESIGN 13)"),
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
    {"FLEET_TZ", MF_CFG_STR, "UTC", MF_CFG_UNBOUNDED, OFF(fleet_tz), 0, NULL,
     "the fleet's time zone (IANA name): the local days of peak hours and the correlation, billing"
     " days of meters without tz"},
    {"FLEET_HEMISPHERE", MF_CFG_ENUM, "north", MF_CFG_UNBOUNDED, OFF(hemisphere), 0, "north|south",
     "the seasons of peak_periods (winter = Dec-Feb in the north, Jun-Aug south)"},
    {"AGG_DAILY_EVERY_S", MF_CFG_INT, "60", 0, 86400, OFF(daily_every_s), 0, NULL,
     "how often the daily analytics look for closed days and hours (peaks, quality and"
     " correlation alerts); 0: never"},
};
const size_t agg_config_nrows = MF_ARRAY_LEN(agg_config_rows);

int agg_config_check(struct agg_config *cfg, char *errbuf, size_t errlen)
{
    if (!mf_tz_known(cfg->fleet_tz)) {
        snprintf(errbuf, errlen, "FLEET_TZ: '%s' is not a time zone of the tz database",
                 cfg->fleet_tz);
        return MF_EFATAL;
    }
    return MF_OK;
}

void agg_config_release(struct agg_config *cfg)
{
    mf_config_release(agg_config_rows, agg_config_nrows, cfg);
}
