/*
 * wk_rules: DESIGN §4 rules 2..9 as rows. Each row reads the reading and
 * the meter's *previous* state and records flags, alerts and candidate
 * outputs in a context; only the last row ("remember") moves the meter's
 * last reading forward, so every rule compares against the same previous
 * reading whatever its position. A row returns STOP when a rejection makes
 * the later rules meaningless (no kW value, no meter, a time that would
 * rewind the meter's history).
 */
#include "wk_rules.h"

#include <math.h>
#include <string.h>

#include "mf_common.h"

#define MS_HOUR 3600000.0
#define MS_DAY  86400000

/* name, penalty, reject: DESIGN §4 rule 9's arithmetic lives in this column. */
const struct wk_flag_info wk_flags[WK_F_COUNT] = {
    [WK_F_UNIT_CONVERTED] = {"unit_converted", 5, false},
    [WK_F_UNIT_INFERRED] = {"unit_inferred", 15, false}, /* a validation warning */
    [WK_F_UNIT_AMBIGUOUS] = {"unit_ambiguous", 0, true},
    [WK_F_UNIT_UNKNOWN] = {"unit_unknown", 0, true},
    [WK_F_UNKNOWN_METER] = {"unknown_meter", 0, true},
    [WK_F_INACTIVE_METER] = {"inactive_meter", 0, true},
    [WK_F_FUTURE_TIMESTAMP] = {"future_timestamp", 0, true},
    [WK_F_BACKDATED] = {"backdated", 15, false}, /* a validation warning */
    [WK_F_DUPLICATE] = {"duplicate", 0, true},
    [WK_F_OUT_OF_ORDER] = {"out_of_order", 0, true},
    [WK_F_NEGATIVE_VALUE] = {"negative_value", 0, true},
    [WK_F_OVER_LIMIT] = {"over_limit", 0, true},
    [WK_F_SPIKE] = {"spike", 20, false},
    [WK_F_DROP] = {"drop", 20, false},
    [WK_F_MISSING_SHORT] = {"missing_short", 0, false},
    [WK_F_MISSING_EXTENDED] = {"missing_extended", 0, false},
    [WK_F_FAULT_ZERO] = {"fault:zero_value", 30, true},
    [WK_F_FAULT_STUCK] = {"fault:stuck_value", 30, true},
    [WK_F_FAULT_OVERLOAD] = {"fault:overload", 30, true},
    [WK_F_FAULT_LOWVAR] = {"fault:low_variance", 30, true},
    [WK_F_INTERPOLATED] = {"interpolated", 0, false},       /* 10 per started hour, see gaps */
    [WK_F_MANUAL_OVERRIDE] = {"manual_override", 0, false}, /* quality 70, see wk_rules_override */
};

const struct wk_alert_info wk_alert_types[WK_A_COUNT] = {
    [WK_A_MISSING_SHORT] = {"missing_short", "warning", NULL, NULL},
    [WK_A_MISSING_EXTENDED] = {"missing_extended", "critical", NULL, NULL},
    [WK_A_ZERO] = {"zero_value", "warning", NULL, NULL},
    [WK_A_STUCK] = {"stuck_value", "warning", "value_kw", NULL},
    [WK_A_OVERLOAD] = {"overload", "critical", "readings", "max_kw"},
    [WK_A_LOWVAR] = {"low_variance", "warning", "cv", "days"},
};

static uint16_t roc_high_code(double kw);

void wk_rules_cfg_from(struct wk_rules_cfg *rc, const struct wk_config *cfg)
{
    memset(rc, 0, sizeof *rc);
    rc->ts_check = cfg->ts_check;
    rc->future_ms = cfg->future_s * 1000;
    rc->backdated_ms = cfg->backdated_s * 1000;
    rc->spike_frac = cfg->spike_pct / 100.0;
    rc->drop_frac = cfg->drop_pct / 100.0;
    rc->roc_min_kw = cfg->roc_min_kw;
    rc->roc_mode = (enum wk_roc_mode)cfg->roc_mode;
    rc->roc_warmup_s = cfg->roc_warmup_s;
    rc->roc_tau_s = cfg->roc_tau_s;
    rc->roc_spike_high = cfg->roc_spike_high;
    rc->roc_spike_rise = cfg->roc_spike_rise;
    rc->roc_drop_k = cfg->roc_drop_k;
    rc->roc_high_floor = roc_high_code(cfg->roc_min_kw);
    rc->gap_short_ms = cfg->gap_short_s * 1000;
    rc->gap_long_ms = cfg->gap_long_s * 1000;
    rc->zero_ms = cfg->zero_s * 1000;
    rc->stuck_ms = cfg->stuck_s * 1000;
    rc->overload_n = (uint32_t)cfg->overload_n;
    rc->lowvar_cv = cfg->lowvar_cv;
    rc->lowvar_days = (int)cfg->lowvar_days;
    rc->default_interval_s = (int32_t)cfg->default_interval_s;
    rc->unit_kw_below = cfg->unit_kw_below;
    rc->unit_w_above = cfg->unit_w_above;
}

const char *const wk_outcome_names[WK_OUTCOME_COUNT] = {
    [WK_VALIDATED] = "validated",
    [WK_QUARANTINE] = "quarantine",
    [WK_DLQ] = "dlq",
    [WK_INTERPOLATED] = "interpolated",
};

int64_t wk_interp_ts(const struct wk_result *res, uint32_t k)
{
    return res->t0 + (int64_t)k * res->interval_s * 1000;
}

double wk_interp_kw(const struct wk_result *res, uint32_t k)
{
    double f = (double)(wk_interp_ts(res, k) - res->t0) / (double)(res->t1 - res->t0);
    return res->v0 + (res->v1 - res->v0) * f;
}

/* ---------------------------------------------------------------- the context */

struct ctx {
    const struct wk_rules_cfg *cfg;
    const struct mf_reading *r;
    const struct wk_meter *reg;
    struct wk_state *st;
    int64_t now;
    struct wk_result *res;
    bool in_limits;    /* rule 5 passed */
    uint32_t n_interp; /* rule 7's candidate, kept only if nothing rejects the reading */
    int interp_quality;
    bool long_gap; /* rule 7 saw a gap of RULE_GAP_SHORT_S or more */
    int64_t t0;    /* the previous reading, the interpolation's start */
    double v0;
};

enum { NEXT, STOP };

static void flag(struct ctx *c, enum wk_flag f)
{
    c->res->flags |= 1u << f;
}

static void alert(struct ctx *c, enum wk_alert_type type, int cleared, const struct wk_alert *a)
{
    struct wk_result *res = c->res;
    MF_ASSERT(res->n_alerts < WK_MAX_ALERTS);
    struct wk_alert *out = &res->alerts[res->n_alerts++];
    *out = *a;
    out->type = (uint8_t)type;
    out->cleared = (uint8_t)cleared;
    out->ts = c->r->ts_ms;
}

static bool has_last(const struct ctx *c)
{
    return c->st && (c->st->flags & WK_ST_HAS_LAST);
}

/* ---------------------------------------------------------------- rules 2..7 */

/* Rule 2: units to kW; energy units become average power over the interval. */
static int rule_units(struct ctx *c)
{
    const struct mf_reading *r = c->r;
    struct wk_result *res = c->res;
    double v = r->value, per_h = 3600.0 / res->interval_s;
    enum mf_unit u = r->unit;

    if (u == MF_UNIT_NONE) {
        if (v < c->cfg->unit_kw_below) {
            u = MF_UNIT_KW;
        } else if (v > c->cfg->unit_w_above) {
            u = MF_UNIT_W;
        } else {
            flag(c, WK_F_UNIT_AMBIGUOUS);
            return STOP;
        }
        flag(c, WK_F_UNIT_INFERRED);
        flag(c, WK_F_UNIT_CONVERTED);
    }
    switch (u) {
    case MF_UNIT_W:
        res->value_kw = v / 1000.0;
        break;
    case MF_UNIT_KW:
        res->value_kw = v;
        break;
    case MF_UNIT_MW:
        res->value_kw = v * 1000.0;
        break;
    case MF_UNIT_WH:
        res->value_kw = v / 1000.0 * per_h;
        break;
    case MF_UNIT_KWH:
        res->value_kw = v * per_h;
        break;
    case MF_UNIT_MWH:
        res->value_kw = v * 1000.0 * per_h;
        break;
    case MF_UNIT_NONE:
    case MF_UNIT_OTHER:
    default:
        res->unit = MF_UNIT_OTHER;
        flag(c, WK_F_UNIT_UNKNOWN);
        return STOP;
    }
    if (u != MF_UNIT_KW)
        flag(c, WK_F_UNIT_CONVERTED);
    res->unit = u;
    res->has_kw = true;
    res->energy_kwh = res->value_kw * res->interval_s / 3600.0;
    return NEXT;
}

/* Rule 3: the meter must be registered and active. */
static int rule_registry(struct ctx *c)
{
    if (!c->reg) {
        flag(c, WK_F_UNKNOWN_METER);
        return STOP;
    }
    if (!c->reg->active) {
        flag(c, WK_F_INACTIVE_METER);
        return STOP;
    }
    MF_ASSERT(c->st != NULL); /* the caller creates the state of an active meter */
    return NEXT;
}

/* Rule 4: against the clock, then against the meter's last reading. */
static int rule_timestamp(struct ctx *c)
{
    int64_t ts = c->r->ts_ms;

    if (c->cfg->ts_check) {
        if (ts > c->now + c->cfg->future_ms) {
            flag(c, WK_F_FUTURE_TIMESTAMP);
            return STOP;
        }
        if (ts < c->now - c->cfg->backdated_ms)
            flag(c, WK_F_BACKDATED);
    }
    if (has_last(c) && ts <= c->st->last_ts) {
        /* Rejected without touching last_ts: history never moves backwards. */
        flag(c, ts == c->st->last_ts ? WK_F_DUPLICATE : WK_F_OUT_OF_ORDER);
        return STOP;
    }
    return NEXT;
}

/* Rule 5: physical limits. Not a STOP: the faults still count the reading. */
static int rule_limits(struct ctx *c)
{
    double kw = c->res->value_kw;
    if (kw < 0)
        flag(c, WK_F_NEGATIVE_VALUE);
    else if (kw > c->reg->max_kw)
        flag(c, WK_F_OVER_LIMIT);
    else
        c->in_limits = true;
    return NEXT;
}

/*
 * Rule 6, seed: the change against the previous reading alone. Strictly
 * more than the percentage: exactly 500 % is not a spike.
 */
static enum wk_flag seed_rate(const struct ctx *c, double prev, double cur)
{
    if (cur - prev > prev * c->cfg->spike_frac)
        return WK_F_SPIKE;
    if (prev - cur > prev * c->cfg->drop_frac)
        return WK_F_DROP;
    return WK_F_COUNT;
}

/* The meter's statistics cover RULE_ROC_WARMUP_S of readings. */
static bool roc_warm(const struct ctx *c)
{
    return (double)c->st->roc_n * c->res->interval_s >= (double)c->cfg->roc_warmup_s;
}

/* The quarter of the UTC day a reading falls in: its own high (struct wk_state roc_high). */
static int roc_band(int64_t ts_ms)
{
    return (int)((ts_ms / (MS_DAY / WK_ROC_BANDS)) % WK_ROC_BANDS);
}

/*
 * Rule 6, adaptive: a change the seed rule flags as a drop is flagged only
 * when the new reading also lies more than RULE_ROC_DROP_K spreads below the
 * meter's level (a fall to the meter's usual low is normal life). A rise is
 * a spike when the new reading is above RULE_ROC_SPIKE_HIGH times the
 * meter's own high for that quarter of the UTC day (its 99th percentile
 * there) and more than RULE_ROC_SPIKE_RISE times the previous reading. A
 * kettle on a 0.1 kW base is a 20-fold rise, but one the household makes
 * most days, so it stays below its high; a register glitch of 10x-100x at
 * 3 a.m. lies above the night's high even when it would be a usual evening
 * value. Seed rises of more than 500 % that stay below the high are no
 * spikes; a glitch after a high reading needs only the RISE factor. The
 * high is floored at RULE_ROC_MIN_KW. Until the meter's statistics cover
 * RULE_ROC_WARMUP_S and the quarter has a high, the seed rule decides.
 */
static enum wk_flag adaptive_rate(const struct ctx *c, double prev, double cur, double high)
{
    enum wk_flag f = seed_rate(c, prev, cur);
    if (!roc_warm(c) || high == 0)
        return f;
    if (cur > c->cfg->roc_spike_high * fmax(high, c->cfg->roc_min_kw) &&
        cur > c->cfg->roc_spike_rise * prev)
        return WK_F_SPIKE;
    double s = fmax(c->st->roc_spread, c->cfg->roc_min_kw);
    if (f == WK_F_DROP && cur < c->st->roc_level - c->cfg->roc_drop_k * s)
        return WK_F_DROP;
    return WK_F_COUNT;
}

/*
 * The spread's learning caps a reading's distance from the level at this
 * many spreads once warm, so one glitch widens it no more than a large
 * normal change does.
 */
#define ROC_CAP_K 9.0

/*
 * The meter's level and spread move towards an in-limits reading: the level
 * by a step of weight * spread towards it (a stochastic median: one glitch
 * moves it one small step, whatever its size), the spread towards the
 * reading's distance from the level, capped at ROC_CAP_K spreads once warm.
 * The weight is interval / RULE_ROC_TAU_S (an exponential memory of that
 * time constant, whatever the cadence), but at least 1/n, so the first
 * readings are averaged rather than forgotten.
 */
static void roc_learn_level(struct wk_state *st, const struct ctx *c, double x)
{
    if (st->roc_n == 0) {
        st->roc_level = (float)x;
        st->roc_spread = 0;
        return;
    }
    double level = st->roc_level, spread = st->roc_spread;
    double w = fmin(
        fmax((double)c->res->interval_s / (double)c->cfg->roc_tau_s, 1.0 / (st->roc_n + 1.0)), 1.0);
    double floor_s = fmax(spread, c->cfg->roc_min_kw), dev = fabs(x - level);
    if (roc_warm(c))
        dev = fmin(dev, ROC_CAP_K * floor_s);
    spread += w * (dev - spread);
    level += w * floor_s * (x > level ? 1 : x < level ? -1 : 0);
    /* The median step may overshoot a reading near the level: never past it. */
    if ((x - st->roc_level) * (x - level) < 0)
        level = x;
    st->roc_level = (float)level;
    st->roc_spread = (float)spread;
}

/*
 * The quarter's high is a running 99th percentile in the log domain: up
 * ROC_HIGH_UP units for a reading above it, down ROC_HIGH_DOWN for one at or
 * below, so it settles where 1 reading in 100 lies above it (UP = 99 DOWN).
 * Whole units keep it exact and scale-free (a 0.1 kW flat and a 30 kW shop
 * move alike); a step of 2/1024 of a doubling gives a memory of some 500
 * readings of that quarter (six weeks at half-hourly). During the warm-up
 * it is the quarter's largest reading, so it starts above its percentile
 * (no flood of spikes from a meter that is new) and settles down from
 * there; it never falls below RULE_ROC_MIN_KW. A meter restored warm from a
 * version 2 record starts each quarter's high at the old spike line of the
 * level-and-spread rule (level + 9 spreads), above its percentile, too.
 */
#define ROC_HIGH_UNIT 1024.0
#define ROC_HIGH_ZERO 32768.0 /* the code of 1 kW */
#define ROC_HIGH_DOWN 2
#define ROC_HIGH_UP   (99 * ROC_HIGH_DOWN)

static uint16_t roc_high_code(double kw)
{
    double v = kw > 0 ? ROC_HIGH_ZERO + rint(log2(kw) * ROC_HIGH_UNIT) : 1;
    return (uint16_t)fmin(fmax(v, 1), UINT16_MAX);
}

/* The high's value in kW; 0 when the quarter has none yet. */
static double roc_high_kw(uint16_t code)
{
    return code ? exp2(((double)code - ROC_HIGH_ZERO) / ROC_HIGH_UNIT) : 0;
}

static void roc_learn_high(const struct ctx *c, uint16_t *code, double x, double high, bool warm)
{
    int v = *code, floor = c->cfg->roc_high_floor;
    if (v == 0 && warm) {
        /* A warm meter without this quarter's high (restored from a version 2
         * record): start at the level-and-spread rule's old spike line. */
        double s = fmax(c->st->roc_spread, c->cfg->roc_min_kw);
        v = roc_high_code(fmax(x, c->st->roc_level + ROC_CAP_K * s));
    } else if (!warm) {
        v = x > high ? roc_high_code(x) : v; /* the largest reading so far */
    } else {
        v += x > high ? ROC_HIGH_UP : -ROC_HIGH_DOWN;
    }
    *code = (uint16_t)(v < floor ? floor : v > UINT16_MAX ? UINT16_MAX : v);
}

/*
 * Rule 6: rate of change against the previous reading, both within limits.
 * Both modes keep the statistics, so switching RULE_ROC_MODE needs no new
 * warm-up; only in-limits readings teach them.
 */
static int rule_rate(struct ctx *c)
{
    if (!c->in_limits)
        return NEXT;
    struct wk_state *st = c->st;
    double cur = c->res->value_kw;
    uint16_t *code = &st->roc_high[roc_band(c->r->ts_ms)];
    double high = roc_high_kw(*code);
    if (has_last(c) && (st->flags & WK_ST_LAST_OK)) {
        double prev = st->last_kw;
        if (fmax(prev, cur) >= c->cfg->roc_min_kw) {
            enum wk_flag f = c->cfg->roc_mode == WK_ROC_SEED ? seed_rate(c, prev, cur)
                                                             : adaptive_rate(c, prev, cur, high);
            if (f != WK_F_COUNT)
                flag(c, f);
        }
    }
    roc_learn_high(c, code, cur, high, roc_warm(c));
    roc_learn_level(st, c, cur);
    if (st->roc_n < UINT32_MAX)
        st->roc_n++;
    return NEXT;
}

/* Rule 7: gaps. D = ts - last_ts - interval; under half an interval is jitter. */
static int rule_gaps(struct ctx *c)
{
    if (!has_last(c))
        return NEXT;
    int64_t step = c->r->ts_ms - c->st->last_ts;
    int64_t iv = (int64_t)c->res->interval_s * 1000;
    int64_t d = step - iv;

    if (2 * d < iv)
        return NEXT;
    if (d < c->cfg->gap_short_ms) {
        /* Missing slots: the reading is round(step / iv) intervals after the last one. */
        int64_t n = (step + iv / 2) / iv - 1;
        int64_t started_h = (d + 3599999) / 3600000;
        int q = 100 - 10 * (int)started_h;
        if (n >= 1 && (c->st->flags & WK_ST_LAST_OK)) {
            c->n_interp = (uint32_t)n;
            c->t0 = c->st->last_ts;
            c->v0 = c->st->last_kw;
            c->interp_quality = q < 0 ? 0 : q;
        }
        return NEXT;
    }
    c->long_gap = true;
    struct wk_alert a = {0};
    a.since = c->st->last_ts;
    a.hours = (double)d / MS_HOUR;
    enum wk_alert_type t = d < c->cfg->gap_long_ms ? WK_A_MISSING_SHORT : WK_A_MISSING_EXTENDED;
    flag(c, t == WK_A_MISSING_SHORT ? WK_F_MISSING_SHORT : WK_F_MISSING_EXTENDED);
    /* The gap is over when we learn of it: raised and cleared by the same reading. */
    alert(c, t, 0, &a);
    alert(c, t, 1, &a);
    return NEXT;
}

/* ---------------------------------------------------------------- rule 8: faults */

/*
 * Each fault advances its run with the current reading and says whether
 * its condition holds now; a->since/hours/value/limit describe the run (for
 * a clearing alert: the run that just ended).
 */
typedef int wk_fault_fn(struct ctx *c, struct wk_alert *a);

static int fault_zero(struct ctx *c, struct wk_alert *a)
{
    struct wk_state *st = c->st;
    int64_t ts = c->r->ts_ms;

    /* After a reported gap nobody knows what the meter read: the run starts again. */
    if (c->long_gap)
        st->flags &= (uint8_t)~WK_ST_ZERO_RUN;
    if (c->res->value_kw == 0) {
        if (!(st->flags & WK_ST_ZERO_RUN)) {
            st->flags |= WK_ST_ZERO_RUN;
            st->zero_since = ts;
        }
        a->since = st->zero_since;
        a->hours = (double)(ts - st->zero_since) / MS_HOUR;
        return !c->reg->vacant && ts - st->zero_since >= c->cfg->zero_ms;
    }
    a->since = st->zero_since;
    a->hours = (double)(ts - st->zero_since) / MS_HOUR;
    st->flags &= (uint8_t)~WK_ST_ZERO_RUN;
    return 0;
}

/*
 * "The same value": equal up to floating-point rounding (relative 1e-9),
 * so 1250 W and 1.25 kW are the same, while a meter whose last digit
 * moves is not stuck.
 */
static bool same_value(double a, double b)
{
    return fabs(a - b) <= 1e-9 * fmax(fabs(a), fabs(b));
}

static int fault_stuck(struct ctx *c, struct wk_alert *a)
{
    struct wk_state *st = c->st;
    int64_t ts = c->r->ts_ms;
    double v = c->res->value_kw;

    if (v != 0 && has_last(c) && !c->long_gap && same_value(v, st->last_kw)) {
        if (!(st->flags & WK_ST_STUCK_RUN)) {
            st->flags |= WK_ST_STUCK_RUN;
            st->stuck_since = st->last_ts; /* the run began with the previous reading */
        }
        a->since = st->stuck_since;
        a->hours = (double)(ts - st->stuck_since) / MS_HOUR;
        a->value = v;
        return ts - st->stuck_since >= c->cfg->stuck_ms;
    }
    a->since = st->stuck_since;
    a->hours = (double)(ts - st->stuck_since) / MS_HOUR;
    a->value = st->last_kw;
    st->flags &= (uint8_t)~WK_ST_STUCK_RUN;
    return 0;
}

static int fault_overload(struct ctx *c, struct wk_alert *a)
{
    struct wk_state *st = c->st;

    if (c->res->value_kw > c->reg->max_kw) {
        if (st->over_n == 0)
            st->over_since = c->r->ts_ms;
        if (st->over_n < UINT32_MAX)
            st->over_n++;
        a->since = st->over_since;
        a->value = st->over_n;
        a->limit = c->reg->max_kw;
        a->hours = (double)(c->r->ts_ms - st->over_since) / MS_HOUR;
        return st->over_n >= c->cfg->overload_n;
    }
    a->since = st->over_since;
    a->value = st->over_n;
    a->limit = c->reg->max_kw;
    a->hours = (double)(c->r->ts_ms - st->over_since) / MS_HOUR;
    st->over_n = 0;
    return 0;
}

/* Days since the epoch of a ms time (ts >= 0: mf_time refuses earlier ones). */
static int32_t day_of(int64_t ts)
{
    return (int32_t)(ts / MS_DAY);
}

/*
 * low_variance: daily {n, mean, m2} buckets by UTC day. The condition is
 * evaluated when a reading opens a new day, over the full days before it,
 * so it changes at most once a day; readings are in time order here (rule
 * 4 rejected the others), so days only move forward.
 */
static int fault_lowvar(struct ctx *c, struct wk_alert *a)
{
    struct wk_state *st = c->st;
    int32_t day = day_of(c->r->ts_ms);
    int cond = (st->faults & WK_FAULT_LOWVAR) != 0;
    int days = c->cfg->lowvar_days;

    if (!(st->flags & WK_ST_HAS_DAYS)) {
        st->flags |= WK_ST_HAS_DAYS;
        st->day = st->first_day = day;
        memset(st->b, 0, sizeof st->b);
        memset(st->b_n, 0, sizeof st->b_n);
    } else if (day > st->day) {
        for (int32_t d = st->day + 1; d <= day && d <= st->day + WK_BUCKETS; d++) {
            memset(&st->b[d % WK_BUCKETS], 0, sizeof st->b[0]);
            st->b_n[d % WK_BUCKETS] = 0;
        }
        st->day = day;
        cond = 0;
        /* Only once the meter's history covers the whole window. */
        if (st->first_day <= day - days) {
            double n = 0, mean = 0, m2 = 0;
            for (int32_t d = day - days; d < day; d++) {
                const struct wk_bucket *b = &st->b[d % WK_BUCKETS];
                if (st->b_n[d % WK_BUCKETS] == 0)
                    continue; /* a day without readings adds nothing */
                /* Chan et al.: merge (n, mean, m2) of two sets. */
                double nb = st->b_n[d % WK_BUCKETS], delta = (double)b->mean - mean, nt = n + nb;
                mean += delta * nb / nt;
                m2 += (double)b->m2 + delta * delta * n * nb / nt;
                n = nt;
            }
            if (n >= 2 && mean > 0) {
                double cv = sqrt(m2 / n) / mean;
                a->value = cv;
                cond = cv < c->cfg->lowvar_cv;
            }
        }
        if (cond && !(st->faults & WK_FAULT_LOWVAR))
            st->lv_since = day - days;
    }
    struct wk_bucket *b = &st->b[day % WK_BUCKETS];
    uint16_t *bn = &st->b_n[day % WK_BUCKETS];
    double v = c->res->value_kw;
    if (*bn < WK_BUCKET_N_MAX) {
        ++*bn;
        double delta = v - b->mean;
        b->mean = (float)(b->mean + delta / *bn);
        b->m2 = (float)(b->m2 + delta * (v - b->mean));
    }
    a->since = (int64_t)st->lv_since * MS_DAY;
    a->limit = days;
    a->hours = (double)(c->r->ts_ms - a->since) / MS_HOUR;
    return cond;
}

static const struct wk_fault {
    enum wk_alert_type alert;
    uint8_t bit;
    enum wk_flag reason;
    wk_fault_fn *fn;
} faults[] = {
    {WK_A_ZERO, WK_FAULT_ZERO, WK_F_FAULT_ZERO, fault_zero},
    {WK_A_STUCK, WK_FAULT_STUCK, WK_F_FAULT_STUCK, fault_stuck},
    {WK_A_OVERLOAD, WK_FAULT_OVERLOAD, WK_F_FAULT_OVERLOAD, fault_overload},
    {WK_A_LOWVAR, WK_FAULT_LOWVAR, WK_F_FAULT_LOWVAR, fault_lowvar},
};

/* Rule 8: every fault sees every in-order reading, rejected or not, so a run can end. */
static int rule_faults(struct ctx *c)
{
    struct wk_state *st = c->st;
    for (size_t i = 0; i < MF_ARRAY_LEN(faults); i++) {
        const struct wk_fault *f = &faults[i];
        struct wk_alert a = {0};
        int cond = f->fn(c, &a);
        int active = (st->faults & f->bit) != 0;
        if (cond && !active) {
            st->faults |= f->bit;
            alert(c, f->alert, 0, &a);
        } else if (!cond && active) {
            st->faults &= (uint8_t)~f->bit;
            alert(c, f->alert, 1, &a);
        }
        if (cond)
            flag(c, f->reason);
    }
    return NEXT;
}

/* Last row: the reading becomes the meter's previous one. */
static int rule_remember(struct ctx *c)
{
    struct wk_state *st = c->st;
    st->last_ts = c->r->ts_ms;
    st->last_kw = c->res->value_kw;
    st->flags |= WK_ST_HAS_LAST;
    if (c->in_limits)
        st->flags |= WK_ST_LAST_OK;
    else
        st->flags &= (uint8_t)~WK_ST_LAST_OK;
    c->res->touched_state = true;
    return NEXT;
}

typedef int wk_rule_fn(struct ctx *c);

static const struct wk_rule {
    const char *name;
    wk_rule_fn *fn;
} rules[] = {
    {"units", rule_units},   {"registry", rule_registry},   {"timestamp", rule_timestamp},
    {"limits", rule_limits}, {"rate_of_change", rule_rate}, {"gaps", rule_gaps},
    {"faults", rule_faults}, {"remember", rule_remember},
};

/* ---------------------------------------------------------------- rule 9 and the driver */

/* The reading's interval: its own, else the registry's, else the default. */
static void start(struct wk_result *res, const struct wk_rules_cfg *cfg, const struct mf_reading *r,
                  const struct wk_meter *reg)
{
    memset(res, 0, sizeof *res);
    res->interval_s = r->interval_s            ? r->interval_s
                      : reg && reg->interval_s ? reg->interval_s
                                               : cfg->default_interval_s;
}

/* Rule 9: the score from the penalty column; any reason rejects. */
static bool score(struct wk_result *res)
{
    int q = 100;
    bool rejected = false;
    for (int f = 0; f < WK_F_COUNT; f++) {
        if (!(res->flags & (1u << f)))
            continue;
        q -= wk_flags[f].penalty;
        rejected |= wk_flags[f].reject;
    }
    res->quality = q < 0 ? 0 : q;
    res->tier = mf_tier_of(res->quality, rejected);
    res->outcome = res->tier == MF_TIER_QUARANTINE ? WK_QUARANTINE : WK_VALIDATED;
    return rejected;
}

#define WK_OVERRIDE_QUALITY 70 /* DESIGN §14: what a human's approval is worth */

void wk_rules_override(const struct wk_rules_cfg *cfg, const struct mf_reading *r,
                       const struct wk_meter *reg, struct wk_result *res)
{
    struct ctx c = {cfg, r, reg, NULL, 0, res, false, 0, 0, false, 0, 0};

    start(res, cfg, r, reg);
    int next = rule_units(&c);
    flag(&c, WK_F_MANUAL_OVERRIDE);
    if (next == STOP) {
        score(res);
        return;
    }
    res->quality = WK_OVERRIDE_QUALITY;
    res->tier = MF_TIER_STANDARD;
    res->outcome = WK_VALIDATED;
}

void wk_rules_apply(const struct wk_rules_cfg *cfg, const struct mf_reading *r,
                    const struct wk_meter *reg, struct wk_state *st, int64_t now_ms,
                    struct wk_result *res)
{
    struct ctx c = {cfg, r, reg, st, now_ms, res, false, 0, 0, false, 0, 0};

    start(res, cfg, r, reg);
    for (size_t i = 0; i < MF_ARRAY_LEN(rules); i++)
        if (rules[i].fn(&c) == STOP)
            break;

    bool rejected = score(res);
    /* Fill a gap only between two readings we trust: this one must be accepted. */
    if (c.n_interp && !rejected && c.in_limits) {
        res->n_interp = c.n_interp;
        res->interp_quality = c.interp_quality;
        res->interp_tier = mf_tier_of(c.interp_quality, false);
        res->t0 = c.t0;
        res->v0 = c.v0;
        res->t1 = r->ts_ms;
        res->v1 = res->value_kw;
    }
}
