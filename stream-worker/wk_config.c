/*
 * wk_config: the stream-worker's configuration table. Adding a variable is
 * one row here plus its field in struct wk_config; --help and the errors
 * follow from the row.
 */
#include "wk_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mf_common.h"

#define OFF(f) offsetof(struct wk_config, f)

const struct mf_cfg_row wk_config_rows[] = {
    MF_CFG_ROW_KAFKA_BROKERS(struct wk_config, brokers),
    MF_CFG_ROW_LOG_LEVEL(struct wk_config, log_level),
    MF_CFG_ROW_PG_DSN(struct wk_config, pg_dsn, "the meters registry"),
    MF_CFG_ROW_METRICS_ADDR(struct wk_config, metrics_addr),
    MF_CFG_ROW_GROUP_ID(struct wk_config, group_id, "stream-worker"),
    {"WORKER_ID", MF_CFG_STR, "", MF_CFG_UNBOUNDED, OFF(worker_id), 0, NULL,
     "this worker's name (client.id, DLQ header worker.id); empty = hostname"},
    MF_CFG_ROW_TOPIC(struct wk_config, topic_raw, RAW, "input: raw readings"),
    MF_CFG_ROW_TOPIC(struct wk_config, topic_validated, VALIDATED, "output: validated readings"),
    MF_CFG_ROW_TOPIC(struct wk_config, topic_quarantine, QUARANTINE, "output: rejected readings"),
    MF_CFG_ROW_TOPIC(struct wk_config, topic_dlq, DLQ,
                     "output: dead letters (original bytes, headers say why)"),
    MF_CFG_ROW_TOPIC(struct wk_config, topic_alerts, ALERTS, "output: alerts"),
    MF_CFG_ROW_TOPIC(struct wk_config, topic_state, STATE,
                     "output and restore: the compacted changelog of per-meter state"),
    {"REGISTRY_REFRESH_S", MF_CFG_INT, "60", 1, 86400, OFF(registry_refresh_s), 0, NULL,
     "seconds between reloads of the meters registry"},
    {"TS_CHECK", MF_CFG_BOOL, "on", MF_CFG_UNBOUNDED, OFF(ts_check), 0, NULL,
     "future_timestamp and backdated checks against the clock (off to replay history)"},
    {"WK_BATCH_MAX", MF_CFG_INT, "20000", 1, 1000000, OFF(batch_max), 0, NULL,
     "records per batch (outputs, state and offsets are written per batch)"},
    {"WK_BATCH_MS", MF_CFG_INT, "100", 1, 60000, OFF(batch_ms), 0, NULL,
     "longest time a batch collects records, ms"},
    {"WK_RETRY_BACKOFF_MS", MF_CFG_STR, "1000,5000,15000", MF_CFG_UNBOUNDED, OFF(retry_backoff_ms),
     0, NULL, "waits before retrying a record whose processing failed, then DLQ processing_failed"},
    {"WK_EOS", MF_CFG_BOOL, "off", MF_CFG_UNBOUNDED, OFF(eos), 0, NULL,
     "exactly once with Kafka transactions (outputs, states and offsets per batch in one "
     "transaction); off: the effectively-once protocol, for clusters without transactions"},
    {"WK_RESTORE_TIMEOUT_S", MF_CFG_INT, "120", 1, 3600, OFF(restore_timeout_s), 0, NULL,
     "longest time to read a partition's state from the changelog"},
    {"WK_SHUTDOWN_TIMEOUT_S", MF_CFG_INT, "25", 1, 600, OFF(shutdown_timeout_s), 0, NULL,
     "deadline for finishing the batch on SIGTERM"},
    {"RULE_SPIKE_PCT", MF_CFG_DBL, "500", 0, 1e9, OFF(spike_pct), 0, NULL,
     "rate of change: an increase of more than this % flags spike"},
    {"RULE_DROP_PCT", MF_CFG_DBL, "90", 0, 100, OFF(drop_pct), 0, NULL,
     "rate of change: a decrease of more than this % flags drop"},
    {"RULE_ROC_MIN_KW", MF_CFG_DBL, "0.05", 0, 1e9, OFF(roc_min_kw), 0, NULL,
     "rate of change applies only when the larger reading is at least this, kW"},
    {"RULE_ROC_MODE", MF_CFG_ENUM, "adaptive", MF_CFG_UNBOUNDED, OFF(roc_mode), 0, "seed|adaptive",
     "rate of change: seed = the percentages alone; adaptive = a spike must rise above the "
     "meter's own high for that quarter of the day, a drop fall below its own level"},
    {"RULE_ROC_WARMUP_S", MF_CFG_INT, "86400", 0, 1e9, OFF(roc_warmup_s), 0, NULL,
     "adaptive: the seed rule applies until a meter's readings cover this many seconds"},
    {"RULE_ROC_TAU_S", MF_CFG_INT, "604800", 60, 1e9, OFF(roc_tau_s), 0, NULL,
     "adaptive: time constant of a meter's level and spread (drops), seconds"},
    {"RULE_ROC_SPIKE_HIGH", MF_CFG_DBL, "1", 0, 1e9, OFF(roc_spike_high), 0, NULL,
     "adaptive: a spike lies above this times the meter's 99th percentile for that quarter of "
     "the UTC day"},
    {"RULE_ROC_SPIKE_RISE", MF_CFG_DBL, "3", 1, 1e9, OFF(roc_spike_rise), 0, NULL,
     "adaptive: and is more than this many times the previous reading"},
    {"RULE_ROC_DROP_K", MF_CFG_DBL, "1.5", 0, 1e9, OFF(roc_drop_k), 0, NULL,
     "adaptive: a drop must also lie more than this many spreads below the meter's level"},
    {"RULE_GAP_SHORT_S", MF_CFG_INT, "14400", 1, 1e9, OFF(gap_short_s), 0, NULL,
     "a gap this long or longer raises missing_short (shorter ones are interpolated)"},
    {"RULE_GAP_LONG_S", MF_CFG_INT, "86400", 1, 1e9, OFF(gap_long_s), 0, NULL,
     "a gap this long or longer raises missing_extended"},
    {"RULE_ZERO_S", MF_CFG_INT, "172800", 1, 1e9, OFF(zero_s), 0, NULL,
     "zero_value fault after this many seconds of 0 kW"},
    {"RULE_STUCK_S", MF_CFG_INT, "86400", 1, 1e9, OFF(stuck_s), 0, NULL,
     "stuck_value fault after this many seconds of the same non-zero value"},
    {"RULE_OVERLOAD_N", MF_CFG_INT, "6", 1, 1e9, OFF(overload_n), 0, NULL,
     "overload fault after this many readings above max_kw in a row"},
    {"RULE_LOWVAR_CV", MF_CFG_DBL, "0.01", 0, 1e9, OFF(lowvar_cv), 0, NULL,
     "low_variance fault when the coefficient of variation is below this"},
    {"RULE_LOWVAR_DAYS", MF_CFG_INT, "7", 1, 7, OFF(lowvar_days), 0, NULL,
     "full UTC days the low_variance coefficient covers"},
    {"RULE_FUTURE_S", MF_CFG_INT, "3600", 0, 1e9, OFF(future_s), 0, NULL,
     "a reading more than this far ahead of the clock is rejected future_timestamp"},
    {"RULE_BACKDATED_S", MF_CFG_INT, "3600", 0, 1e12, OFF(backdated_s), 0, NULL,
     "a reading more than this far behind the clock is flagged backdated"},
    {"RULE_DEFAULT_MAX_KW", MF_CFG_DBL, "20", 0, 1e12, OFF(default_max_kw), 0, NULL,
     "max_kw of a registry row that has none"},
    {"RULE_DEFAULT_INTERVAL_S", MF_CFG_INT, "60", 1, 86400, OFF(default_interval_s), 0, NULL,
     "interval of a reading when neither it nor the registry gives one"},
    {"RULE_UNIT_KW_BELOW", MF_CFG_DBL, "10", MF_CFG_UNBOUNDED, OFF(unit_kw_below), 0, NULL,
     "no unit: a value below this is taken as kW"},
    {"RULE_UNIT_W_ABOVE", MF_CFG_DBL, "1000", MF_CFG_UNBOUNDED, OFF(unit_w_above), 0, NULL,
     "no unit: a value above this is taken as W (between: unit_ambiguous)"},
};

const size_t wk_config_nrows = MF_ARRAY_LEN(wk_config_rows);

void wk_config_finish(struct wk_config *cfg)
{
    if (!cfg->worker_id || cfg->worker_id[0] == '\0') {
        char host[256];
        if (gethostname(host, sizeof host) != 0)
            snprintf(host, sizeof host, "stream-worker");
        host[sizeof host - 1] = '\0';
        free(cfg->worker_id);
        cfg->worker_id = mf_xstrdup(host);
    }
}

int wk_config_load(struct wk_config *cfg, char *errbuf, size_t errlen)
{
    if (mf_config_load(wk_config_rows, wk_config_nrows, cfg, errbuf, errlen) != MF_OK)
        return MF_EDATA;
    return wk_config_check(cfg, errbuf, errlen);
}

int wk_config_check(struct wk_config *cfg, char *errbuf, size_t errlen)
{
    int64_t b[8];
    if (wk_config_backoffs(cfg->retry_backoff_ms, b, 8) < 0) {
        snprintf(errbuf, errlen, "invalid WK_RETRY_BACKOFF_MS '%s': want ms,ms,...",
                 cfg->retry_backoff_ms);
        return MF_EDATA;
    }
    if (cfg->gap_long_s < cfg->gap_short_s) {
        snprintf(errbuf, errlen, "invalid RULE_GAP_LONG_S '%lld': below RULE_GAP_SHORT_S",
                 (long long)cfg->gap_long_s);
        return MF_EDATA;
    }
    wk_config_finish(cfg);
    return MF_OK;
}

void wk_config_release(struct wk_config *cfg)
{
    mf_config_release(wk_config_rows, wk_config_nrows, cfg);
}

int wk_config_backoffs(const char *s, int64_t *out, int max)
{
    int n = 0;
    if (!s || *s == '\0')
        return 0;
    for (const char *p = s;;) {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < 0 || n >= max)
            return -1;
        out[n++] = v;
        if (*end == '\0')
            return n;
        if (*end != ',')
            return -1;
        p = end + 1;
    }
}
