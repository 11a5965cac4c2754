/*
 * wk_config: the stream-worker's environment variables, as one table.
 *
 * The rows drive parsing, the one-line start-up errors, --help and the
 * docs table (DESIGN §8). Every rule threshold of DESIGN §4 is a row of its
 * own; wk_rules reads them from struct wk_config through wk_rules_cfg_from().
 * Thread: main, at start-up.
 */
#ifndef WK_CONFIG_H
#define WK_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mf_config.h"

/* RULE_ROC_MODE: the rate-of-change rule (DESIGN §4 rule 6). */
enum wk_roc_mode { WK_ROC_SEED, WK_ROC_ADAPTIVE };

struct wk_config {
    char *brokers;
    int log_level;
    char *pg_dsn;
    char *metrics_addr;
    char *group_id;
    char *worker_id;
    char *topic_raw, *topic_validated, *topic_quarantine, *topic_dlq, *topic_alerts, *topic_state;
    int64_t registry_refresh_s;
    bool ts_check;
    int64_t batch_max;
    int64_t batch_ms;
    char *retry_backoff_ms; /* "1000,5000,15000" */
    bool eos;               /* WK_EOS: Kafka transactions */
    int64_t restore_timeout_s;
    int64_t shutdown_timeout_s;
    /* rule thresholds (DESIGN §4) */
    double spike_pct, drop_pct, roc_min_kw;
    int roc_mode; /* RULE_ROC_MODE: index into "seed|adaptive" (enum wk_roc_mode) */
    int64_t roc_warmup_s, roc_tau_s;
    double roc_spike_high, roc_spike_rise, roc_drop_k;
    int64_t gap_short_s, gap_long_s, zero_s, stuck_s, overload_n;
    double lowvar_cv;
    int64_t lowvar_days;
    int64_t future_s, backdated_s;
    double default_max_kw;
    int64_t default_interval_s;
    double unit_kw_below, unit_w_above;
};

/* The rows and their count. */
extern const struct mf_cfg_row wk_config_rows[];
extern const size_t wk_config_nrows;

/*
 * Loads the config from the environment (mf_config_load) and fills the
 * fields with no row (WORKER_ID's hostname default). MF_OK or MF_EDATA with
 * one line in errbuf. Call wk_config_release either way.
 */
int wk_config_load(struct wk_config *cfg, char *errbuf, size_t errlen);

/*
 * Checks across rows (backoff list, gap thresholds) and fills the derived
 * defaults (WORKER_ID's hostname) after mf_config_main loaded cfg.
 */
int wk_config_check(struct wk_config *cfg, char *errbuf, size_t errlen);

/* Fills the derived defaults (wk_config_check does it). */
void wk_config_finish(struct wk_config *cfg);

/* Frees the strings. */
void wk_config_release(struct wk_config *cfg);

/*
 * Parses WK_RETRY_BACKOFF_MS ("1000,5000,15000") into up to max delays.
 * Returns the count (0 = no retries) or -1 when malformed.
 */
int wk_config_backoffs(const char *s, int64_t *out, int max);

#endif
