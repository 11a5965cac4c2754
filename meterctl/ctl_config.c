/*
 * ctl_config: the rows. meterctl talks to Kafka only in the review
 * commands still to come (DESIGN §14 approve and replay): no Kafka row yet.
 */
#include "ctl_config.h"

#include "mf_common.h"

const struct mf_cfg_row ctl_config_rows[] = {
    MF_CFG_ROW_PG_DSN(struct ctl_config, pg_dsn,
                      "the registries, holidays, maintenance windows and audit log"),
    MF_CFG_ROW_LOG_LEVEL(struct ctl_config, log_level),
};
const size_t ctl_config_nrows = MF_ARRAY_LEN(ctl_config_rows);
