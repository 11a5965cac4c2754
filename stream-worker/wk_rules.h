/*
 * wk_rules: the validation rules of DESIGN §4 (units, registry, timestamp,
 * physical limits, rate of change, gaps, faults, score) as a table of rows
 * run in order over one parsed reading and its meter's state.
 *
 * Pure: no I/O, no clock (the caller passes `now`), no allocation. The same
 * reading, registry row, state and `now` always give the same result and
 * the same new state, which is what makes a repeat after a crash identical
 * to its first copy. Parsing (rule 1) is the caller's (wk_process), since a
 * record that does not parse has no reading to run rules on.
 * Thread: any, on state the caller owns.
 */
#ifndef WK_RULES_H
#define WK_RULES_H

#include <stdbool.h>
#include <stdint.h>

#include "mf_contract.h"
#include "mf_reading.h"
#include "wk_config.h"
#include "wk_registry.h"
#include "wk_state.h"

/* Every flag and rejection reason, by its DESIGN name (wk_flags[] row order). */
enum wk_flag {
    WK_F_UNIT_CONVERTED,
    WK_F_UNIT_INFERRED,
    WK_F_UNIT_AMBIGUOUS,
    WK_F_UNIT_UNKNOWN,
    WK_F_UNKNOWN_METER,
    WK_F_INACTIVE_METER,
    WK_F_FUTURE_TIMESTAMP,
    WK_F_BACKDATED,
    WK_F_DUPLICATE,
    WK_F_OUT_OF_ORDER,
    WK_F_NEGATIVE_VALUE,
    WK_F_OVER_LIMIT,
    WK_F_SPIKE,
    WK_F_DROP,
    WK_F_MISSING_SHORT,
    WK_F_MISSING_EXTENDED,
    WK_F_FAULT_ZERO,
    WK_F_FAULT_STUCK,
    WK_F_FAULT_OVERLOAD,
    WK_F_FAULT_LOWVAR,
    WK_F_INTERPOLATED,
    WK_F_MANUAL_OVERRIDE, /* approved by a human (meterctl, DESIGN §14): rules 3-8 skipped */
    WK_F_COUNT
};

struct wk_flag_info {
    const char *name; /* as on the wire: "unit_converted", "fault:zero_value" */
    int penalty;      /* score points (DESIGN §4 rule 9) */
    bool reject;      /* a rejection reason: the reading goes to quarantine */
};
extern const struct wk_flag_info wk_flags[WK_F_COUNT];

/* Alert types (DESIGN §4 rules 7 and 8). */
enum wk_alert_type {
    WK_A_MISSING_SHORT,
    WK_A_MISSING_EXTENDED,
    WK_A_ZERO,
    WK_A_STUCK,
    WK_A_OVERLOAD,
    WK_A_LOWVAR,
    WK_A_COUNT
};

struct wk_alert_info {
    const char *type;     /* "stuck_value" */
    const char *severity; /* "warning" | "critical" */
    /* detail fields after "hours": wk_alert.value's and .limit's names, or NULL */
    const char *value_name, *limit_name;
};
extern const struct wk_alert_info wk_alert_types[WK_A_COUNT];

struct wk_alert {
    uint8_t type;    /* enum wk_alert_type */
    uint8_t cleared; /* 0 raised, 1 cleared */
    int64_t since;   /* start of the condition, ms */
    int64_t ts;      /* the reading that raised or cleared it, ms */
    double hours;    /* duration of the condition so far (or of the gap) */
    double value;    /* stuck: value_kw; overload: readings in a row; low_variance: cv */
    double limit;    /* overload: max_kw; low_variance: days */
};

#define WK_MAX_ALERTS 8 /* a gap pair + 4 faults, with room */

/* The rule thresholds in the units the rules use (ms, kW, fractions). */
struct wk_rules_cfg {
    bool ts_check;
    int64_t future_ms, backdated_ms;
    double spike_frac, drop_frac, roc_min_kw;
    enum wk_roc_mode roc_mode;
    int64_t roc_warmup_s, roc_tau_s;
    double roc_spike_high, roc_spike_rise, roc_drop_k;
    uint16_t roc_high_floor; /* RULE_ROC_MIN_KW as a struct wk_state roc_high */
    int64_t gap_short_ms, gap_long_ms, zero_ms, stuck_ms;
    uint32_t overload_n;
    double lowvar_cv;
    int lowvar_days;
    int32_t default_interval_s;
    double unit_kw_below, unit_w_above;
};

/* Derives the rules' thresholds from the loaded config. */
void wk_rules_cfg_from(struct wk_rules_cfg *rc, const struct wk_config *cfg);

/*
 * Where an output goes, as meterflow_worker_records_total{outcome} names it
 * (wk_outcome_names). A scored reading is VALIDATED or QUARANTINE; DLQ and
 * INTERPOLATED count the other outputs of a record.
 */
enum wk_outcome { WK_VALIDATED, WK_QUARANTINE, WK_DLQ, WK_INTERPOLATED, WK_OUTCOME_COUNT };
extern const char *const wk_outcome_names[WK_OUTCOME_COUNT];

struct wk_result {
    enum wk_outcome outcome; /* VALIDATED or QUARANTINE: the scored reading's topic */
    uint32_t flags;          /* bit (1u << enum wk_flag) per flag that fired, reasons included */
    int quality;             /* 0..100 */
    enum mf_tier tier;       /* of quality; quarantine with any reason */
    bool has_kw;             /* false when the unit could not be resolved */
    double value_kw;
    double energy_kwh;
    int32_t interval_s;
    enum mf_unit unit;  /* the unit applied (inferred ones too); NONE/OTHER when unresolved */
    bool touched_state; /* the meter's state changed (beyond its offset) */
    /* Interpolation (rule 7): n readings at t0 + k*interval_s, k = 1..n, on the straight
     * line from (t0, v0) to (t1, v1), each with quality interp_quality. */
    uint32_t n_interp;
    int64_t t0, t1;
    double v0, v1;
    int interp_quality;
    enum mf_tier interp_tier; /* of interp_quality: quarantine ones go to quarantine */
    int n_alerts;
    struct wk_alert alerts[WK_MAX_ALERTS]; /* in the order they are emitted */
};

/*
 * Runs the rules over reading r. reg is the meter's registry row (NULL:
 * unknown_meter). st is its state and must be non-NULL when reg is an
 * active meter (NULL otherwise is fine); the rules update it. now_ms is the
 * worker's clock for the timestamp rule. Fills *res entirely.
 */
void wk_rules_apply(const struct wk_rules_cfg *cfg, const struct mf_reading *r,
                    const struct wk_meter *reg, struct wk_state *st, int64_t now_ms,
                    struct wk_result *res);

/*
 * A reading a human approved (the raw record's header meter.override=approve,
 * DESIGN §4's last paragraph, §14): rule 2 only (a value needs a unit to
 * mean kW), then quality 70, tier standard, flag manual_override, to
 * validated. Rules 3-8 and the meter's state are not touched: an approval
 * is not part of the meter's history. A unit rule 2 cannot resolve still
 * rejects it (the approval must name the unit). Fills *res entirely.
 */
void wk_rules_override(const struct wk_rules_cfg *cfg, const struct mf_reading *r,
                       const struct wk_meter *reg, struct wk_result *res);

/* The time of interpolated reading k (1..n_interp) and its value. */
int64_t wk_interp_ts(const struct wk_result *res, uint32_t k);
double wk_interp_kw(const struct wk_result *res, uint32_t k);

#endif
