/*
 * sim_fleet: builds the meters from the parameters. Registry fields come
 * first and depend only on (seed, meter number, registry rates), so the
 * same registry results whatever time range a run later uses; trouble
 * placement depends on the range, since it is counted in readings.
 */
#include "sim_fleet.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sim_load.h"
#include "sim_rng.h"

#include "mf_common.h"

#define MS_HOUR 3600000LL

const char *const sim_style_names[SIM_U_COUNT] = {"kW", "W", "kWh", "Wh", "none"};

const struct sim_trouble_info sim_troubles[SIM_T_COUNT] = {
    [SIM_T_NONE] = {"none", 0, "no trouble"},
    [SIM_T_STUCK] = {"stuck", 0.004, "the same non-zero value for --stuck-hours (stuck_value)"},
    [SIM_T_ZERO] = {"zero", 0.003, "0 kW for the whole range, not vacant (zero_value at 48 h)"},
    [SIM_T_VACANT_ZERO] = {"vacant_zero", 0.004, "a vacant meter reading 0 (must not alarm)"},
    [SIM_T_OVERLOAD] = {"overload", 0.004, "over max_kw for 8 readings (overload at 6)"},
    [SIM_T_SPIKE] = {"spike", 0.01, "one reading 8x the one before (flag spike)"},
    [SIM_T_DROP] = {"drop", 0.01, "one reading 0.05x the one before (flag drop, then spike)"},
    [SIM_T_GAP_SHORT] = {"gap_short", 0.01, "1..3 h of readings missing (interpolated)"},
    [SIM_T_GAP_5H] = {"gap_5h", 0.004, "5 h of readings missing (missing_short)"},
    [SIM_T_GAP_25H] = {"gap_25h", 0.003, "25 h of readings missing (missing_extended)"},
    [SIM_T_NEGATIVE] = {"negative", 0.005, "one reading negated (negative_value)"},
    [SIM_T_DUPLICATE] = {"duplicate", 0.01, "one reading sent twice (duplicate)"},
    [SIM_T_OUT_OF_ORDER] = {"out_of_order", 0.01, "one reading sent after the next one"},
    [SIM_T_GLITCH] = {"glitch", 0.01, "register glitch: one reading 10..100x the load (spike)"},
    [SIM_T_UNIT_SLIP] = {"unit_slip", 0.005, "one W value sent as kW, 1000x (over_limit)"},
    [SIM_T_DROPOUT] = {"dropout", 0.01, "1..3 readings of 0 kW, then the load again (drop)"},
    [SIM_T_CT_REVERSAL] = {"ct_reversal", 0.003, "CT clamp reversed: 6 h negated (negative_value)"},
    [SIM_T_NIGHT_SHIFT] = {"night_shift", 0.01,
                           "a night-shift profile (neighborhood_correlation, with history)"},
    [SIM_T_WRONG_PREMISES] = {"wrong_premises", 0.01,
                              "wired to premises of the other class (neighborhood_correlation)"},
    [SIM_T_INACTIVE] = {"inactive", 0.004, "registered with active=false (inactive_meter)"},
    [SIM_T_UNKNOWN] = {"unknown", 10, "meters not in the registry (a count; unknown_meter)"},
};

void sim_params_default(struct sim_params *p)
{
    memset(p, 0, sizeof *p);
    p->seed = 42;
    p->meters = 5000;
    p->start_ms = 1710115200000LL; /* 2024-03-11T00:00:00Z, a Monday */
    p->end_ms = p->start_ms + 48 * MS_HOUR;
    p->ncad = 3;
    p->cad_s[0] = 60, p->cad_frac[0] = 0.02;
    p->cad_s[1] = 900, p->cad_frac[1] = 0.48;
    p->cad_s[2] = 3600, p->cad_frac[2] = 0.50;
    p->unit_frac[SIM_U_KW] = 0.70;
    p->unit_frac[SIM_U_W] = 0.10;
    p->unit_frac[SIM_U_KWH] = 0.08;
    p->unit_frac[SIM_U_WH] = 0.07;
    p->unit_frac[SIM_U_NONE] = 0.05;
    for (int t = 0; t < SIM_T_COUNT; t++)
        p->rate[t] = sim_troubles[t].def_rate;
    p->vacant_frac = 0.01;
    p->low_max_frac = 0.10;
    p->commercial_frac = 0.10;
    p->stuck_hours = 26;
    p->malformed = 20;
    p->zero_ms = 48 * MS_HOUR;
    p->stuck_ms = 24 * MS_HOUR;
    p->gap_short_ms = 4 * MS_HOUR;
    p->gap_long_ms = 24 * MS_HOUR;
    p->overload_n = 6;
}

/* ---------------------------------------------------------------- option lists */

/* Calls fn(key, keylen, value) for each "key=value" of a comma list. */
typedef int pair_fn(struct sim_params *p, const char *key, size_t klen, double v, char *errbuf,
                    size_t errlen);

static int each_pair(struct sim_params *p, const char *list, pair_fn *fn, char *errbuf,
                     size_t errlen)
{
    const char *s = list;
    while (*s) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        const char *eq = memchr(s, '=', len);
        if (!eq) {
            snprintf(errbuf, errlen, "invalid list item '%.*s': want key=value", (int)len, s);
            return MF_EDATA;
        }
        char num[64];
        size_t nlen = len - (size_t)(eq + 1 - s);
        if (nlen == 0 || nlen >= sizeof num) {
            snprintf(errbuf, errlen, "invalid list item '%.*s': bad number", (int)len, s);
            return MF_EDATA;
        }
        memcpy(num, eq + 1, nlen);
        num[nlen] = '\0';
        char *end;
        errno = 0;
        double v = strtod(num, &end);
        if (*end || errno || !isfinite(v) || v < 0) {
            snprintf(errbuf, errlen, "invalid list item '%.*s': bad number", (int)len, s);
            return MF_EDATA;
        }
        if (fn(p, s, (size_t)(eq - s), v, errbuf, errlen) != MF_OK)
            return MF_EDATA;
        s += len;
        if (*s == ',')
            s++;
    }
    return MF_OK;
}

static int unit_pair(struct sim_params *p, const char *key, size_t klen, double v, char *errbuf,
                     size_t errlen)
{
    for (int u = 0; u < SIM_U_COUNT; u++) {
        if (strlen(sim_style_names[u]) == klen && strncasecmp(key, sim_style_names[u], klen) == 0) {
            p->unit_frac[u] = v;
            return MF_OK;
        }
    }
    snprintf(errbuf, errlen, "unknown unit style '%.*s' (want kW, W, kWh, Wh, none)", (int)klen,
             key);
    return MF_EDATA;
}

static int trouble_pair(struct sim_params *p, const char *key, size_t klen, double v, char *errbuf,
                        size_t errlen)
{
    for (int t = 1; t < SIM_T_COUNT; t++) {
        if (strlen(sim_troubles[t].name) == klen && strncmp(key, sim_troubles[t].name, klen) == 0) {
            p->rate[t] = v;
            return MF_OK;
        }
    }
    snprintf(errbuf, errlen, "unknown trouble '%.*s'", (int)klen, key);
    return MF_EDATA;
}

static int cadence_pair(struct sim_params *p, const char *key, size_t klen, double v, char *errbuf,
                        size_t errlen)
{
    char tmp[16];
    if (klen == 0 || klen >= sizeof tmp || p->ncad >= SIM_MAX_CADENCES) {
        snprintf(errbuf, errlen, "invalid cadence '%.*s'", (int)klen, key);
        return MF_EDATA;
    }
    memcpy(tmp, key, klen);
    tmp[klen] = '\0';
    char *end;
    long s = strtol(tmp, &end, 10);
    if (*end || s < 1 || s > 86400) {
        snprintf(errbuf, errlen, "invalid cadence '%s': want seconds 1..86400", tmp);
        return MF_EDATA;
    }
    p->cad_s[p->ncad] = (int32_t)s;
    p->cad_frac[p->ncad++] = v;
    return MF_OK;
}

int sim_params_units(struct sim_params *p, const char *list, char *errbuf, size_t errlen)
{
    return each_pair(p, list, unit_pair, errbuf, errlen);
}

int sim_params_troubles(struct sim_params *p, const char *list, char *errbuf, size_t errlen)
{
    return each_pair(p, list, trouble_pair, errbuf, errlen);
}

int sim_params_cadences(struct sim_params *p, const char *list, char *errbuf, size_t errlen)
{
    p->ncad = 0;
    if (each_pair(p, list, cadence_pair, errbuf, errlen) != MF_OK)
        return MF_EDATA;
    if (p->ncad == 0) {
        snprintf(errbuf, errlen, "invalid cadence list '%s': empty", list);
        return MF_EDATA;
    }
    return MF_OK;
}

/* ---------------------------------------------------------------- building */

/* Picks an index by cumulative weights (normalized, so they need not sum to 1). */
static int pick(const double *w, int n, double u)
{
    double total = 0, acc = 0;
    for (int i = 0; i < n; i++)
        total += w[i];
    if (total <= 0)
        return 0;
    for (int i = 0; i < n; i++) {
        acc += w[i] / total;
        if (u < acc)
            return i;
    }
    return n - 1;
}

static void registry_fields(const struct sim_params *p, struct sim_meter *m)
{
    uint64_t s = p->seed;
    uint32_t i = m->idx;

    snprintf(m->id, sizeof m->id, "MTR-%05u", i + 1);
    m->registered = true;
    m->commercial = sim_unif(s, i, SIM_R_CLASS, 0) < p->commercial_frac;
    m->interval_s = p->cad_s[pick(p->cad_frac, p->ncad, sim_unif(s, i, SIM_R_CADENCE, 0))];
    m->vacant = sim_unif(s, i, SIM_R_VACANT, 0) < p->vacant_frac;
    m->active = sim_unif(s, i, SIM_R_ACTIVE, 0) >= p->rate[SIM_T_INACTIVE];
    /*
     * Homes and businesses have neighborhoods of their own, so a
     * neighborhood's meters share a profile: businesses N-10, N-20 .. N-50
     * (one per region), homes the other 45.
     */
    double place = sim_unif(s, i, SIM_R_PLACE, 0);
    if (m->commercial) {
        m->neighborhood = 10 * (1 + (int)(place * 5));
    } else {
        int k = (int)(place * 45); /* 0..44: skip every tenth */
        m->neighborhood = 1 + k + k / 9;
    }
    m->region = 1 + (m->neighborhood - 1) / 10;
    m->max_kw = 20;
    if (m->commercial) {
        m->scale = sim_range(s, i, SIM_R_SCALE, 0, 3.0, 8.0);
    } else {
        m->scale = sim_range(s, i, SIM_R_SCALE, 0, 0.5, 1.8);
        if (sim_unif(s, i, SIM_R_MAXKW, 0) < p->low_max_frac)
            m->max_kw = 8 + 0.5 * floor(sim_unif(s, i, SIM_R_MAXKW, 1) * 15); /* 8 .. 15 */
    }
    MF_ASSERT(sim_load_max_kw(m->scale) < 0.8 * m->max_kw);
}

enum sim_profile sim_meter_profile(const struct sim_meter *m)
{
    if (m->trouble == SIM_T_NIGHT_SHIFT)
        return SIM_P_NIGHT;
    if (m->trouble == SIM_T_WRONG_PREMISES)
        return m->commercial ? SIM_P_HOME : SIM_P_BUSINESS;
    return m->commercial ? SIM_P_BUSINESS : SIM_P_HOME;
}

int64_t sim_fleet_first_ms(const struct sim_fleet *f)
{
    int64_t first = f->p.start_ms;
    for (uint32_t i = 0; i < f->n; i++) {
        const struct sim_meter *m = &f->m[i];
        int64_t t = f->p.start_ms - (int64_t)m->interval_s * 1000 - (m->hist - 1) * MS_HOUR;
        if (m->hist > 0 && t < first)
            first = t;
    }
    return first;
}

/* A meter's clean load (no trouble) at reading k. */
static double clean_kw(const struct sim_params *p, const struct sim_meter *m, int64_t k)
{
    return sim_load_kw(p->seed, m->idx, sim_meter_profile(m), m->scale,
                       p->start_ms + k * (int64_t)m->interval_s * 1000);
}

/* A start index in [lo, hi] (inclusive), or -1 when the range is empty. */
static int64_t place(const struct sim_params *p, const struct sim_meter *m, int64_t lo, int64_t hi)
{
    if (hi < lo)
        return -1;
    return lo + (int64_t)(sim_unif(p->seed, m->idx, SIM_R_TROUBLE_AT, 0) * (double)(hi - lo + 1));
}

/* Readings that cover `ms` of missing time at this cadence (rounded up). */
static int64_t readings_for(const struct sim_meter *m, int64_t ms)
{
    int64_t iv = (int64_t)m->interval_s * 1000;
    return (ms + iv - 1) / iv;
}

/*
 * Searches from a random index for a reading where a rate-of-change trouble
 * does what it says: the reading before it is real load (>= 0.05 kW, the
 * worker's floor), the injected value stays within max_kw, and the reading
 * after it does not trip the opposite flag by accident.
 */
static int64_t place_rate(const struct sim_params *p, const struct sim_meter *m, bool spike)
{
    if (m->n < 3)
        return -1;
    int64_t span = m->n - 2, first = place(p, m, 1, m->n - 2);
    for (int64_t j = 0; j < span; j++) {
        int64_t k = 1 + (first - 1 + j) % span;
        double prev = clean_kw(p, m, k - 1), next = clean_kw(p, m, k + 1);
        if (prev < 0.1)
            continue;
        if (spike && 8 * prev <= 0.9 * m->max_kw && next >= 0.85 * prev)
            return k;
        if (!spike && next >= 0.4 * prev)
            return k;
    }
    return -1;
}

/*
 * Searches from a random index for the first of tlen faulty readings of a
 * meter fault (glitch, unit slip, dropout): the reading before and the
 * first faulty one are real load (>= 0.1 kW), so the fault changes
 * something a rule can see, and a clean reading follows.
 */
static int64_t place_fault(const struct sim_params *p, const struct sim_meter *m, int64_t tlen)
{
    if (m->n < tlen + 2)
        return -1;
    int64_t span = m->n - 1 - tlen, first = place(p, m, 1, m->n - 1 - tlen);
    for (int64_t j = 0; j < span; j++) {
        int64_t k = 1 + (first - 1 + j) % span;
        if (clean_kw(p, m, k - 1) >= 0.1 && clean_kw(p, m, k) >= 0.1)
            return k;
    }
    return -1;
}

static void plan_trouble(const struct sim_params *p, struct sim_meter *m)
{
    uint64_t s = p->seed;
    uint32_t i = m->idx;
    int64_t k = -1;

    m->trouble = SIM_T_NONE;
    if (!m->active) {
        m->trouble = SIM_T_INACTIVE;
        return;
    }
    double u = sim_unif(s, i, SIM_R_TROUBLE, 0);
    if (m->vacant) {
        /* Vacant meters carry only the trouble that must not alarm. */
        if (u < p->rate[SIM_T_VACANT_ZERO] / (p->vacant_frac > 0 ? p->vacant_frac : 1))
            m->trouble = SIM_T_VACANT_ZERO;
    } else if (m->max_kw < 20 &&
               u < p->rate[SIM_T_OVERLOAD] /
                       ((1 - p->commercial_frac) * (p->low_max_frac > 0 ? p->low_max_frac : 1))) {
        m->trouble = SIM_T_OVERLOAD;
    } else {
        static const enum sim_trouble general[] = {
            SIM_T_STUCK,
            SIM_T_ZERO,
            SIM_T_SPIKE,
            SIM_T_DROP,
            SIM_T_GAP_SHORT,
            SIM_T_GAP_5H,
            SIM_T_GAP_25H,
            SIM_T_NEGATIVE,
            SIM_T_DUPLICATE,
            SIM_T_OUT_OF_ORDER,
            /* after the others, so adding them moved no meter's earlier trouble */
            SIM_T_GLITCH,
            SIM_T_UNIT_SLIP,
            SIM_T_DROPOUT,
            SIM_T_CT_REVERSAL,
            SIM_T_NIGHT_SHIFT,
            SIM_T_WRONG_PREMISES,
        };
        double v = sim_unif(s, i, SIM_R_TROUBLE, 1), acc = 0;
        for (size_t g = 0; g < MF_ARRAY_LEN(general); g++) {
            acc += p->rate[general[g]];
            if (v < acc) {
                m->trouble = (uint8_t)general[g];
                break;
            }
        }
    }

    switch (m->trouble) {
    case SIM_T_STUCK:
        m->tlen = readings_for(m, (int64_t)(p->stuck_hours * 3600000.0)) + 1;
        if (m->tlen > m->n - 1)
            m->tlen = m->n - 1; /* shorter than asked: the truth says whether it should alarm */
        k = place(p, m, 1, m->n - m->tlen);
        if (k >= 0)
            m->tval = round(clean_kw(p, m, k) * 1000) / 1000; /* what a kW meter prints */
        break;
    case SIM_T_ZERO:
    case SIM_T_VACANT_ZERO:
        k = 0, m->tlen = m->n;
        break;
    case SIM_T_OVERLOAD:
        m->tlen = 8;
        k = place(p, m, 1, m->n - 1 - m->tlen);
        break;
    case SIM_T_SPIKE:
    case SIM_T_DROP:
        m->tlen = 1;
        k = place_rate(p, m, m->trouble == SIM_T_SPIKE);
        break;
    case SIM_T_GAP_SHORT:
        m->tlen = readings_for(m,
                               (1 + (int64_t)(sim_unif(s, i, SIM_R_TROUBLE_LEN, 0) * 3)) * MS_HOUR);
        if (m->tlen * m->interval_s * 1000LL >= p->gap_short_ms)
            m->tlen = (p->gap_short_ms - 1) / (m->interval_s * 1000LL);
        k = m->tlen >= 1 ? place(p, m, 1, m->n - 1 - m->tlen) : -1;
        break;
    case SIM_T_GAP_5H:
        m->tlen = readings_for(m, 5 * MS_HOUR);
        k = place(p, m, 1, m->n - 1 - m->tlen);
        break;
    case SIM_T_GAP_25H:
        m->tlen = readings_for(m, 25 * MS_HOUR);
        k = place(p, m, 1, m->n - 1 - m->tlen);
        break;
    case SIM_T_NEGATIVE:
        m->tlen = 1;
        k = place(p, m, 1, m->n - 2);
        break;
    case SIM_T_DUPLICATE:
        m->tlen = 1;
        k = place(p, m, 0, m->n - 1);
        break;
    case SIM_T_OUT_OF_ORDER:
        m->tlen = 2;
        k = place(p, m, 1, m->n - 3);
        break;
    case SIM_T_GLITCH:
        m->tlen = 1;
        k = place_fault(p, m, 1);
        /* 10..100x, log-uniform: a register glitch's size has no typical scale. */
        if (k >= 0)
            m->tval = clean_kw(p, m, k) *
                      exp(sim_range(s, i, SIM_R_TROUBLE_LEN, 1, log(10.0), log(100.0)));
        break;
    case SIM_T_UNIT_SLIP:
        m->tlen = 1;
        k = place_fault(p, m, 1);
        break;
    case SIM_T_DROPOUT:
        m->tlen = 1 + (int64_t)(sim_unif(s, i, SIM_R_TROUBLE_LEN, 0) * 3);
        k = place_fault(p, m, m->tlen);
        break;
    case SIM_T_CT_REVERSAL:
        m->tlen = readings_for(m, 6 * MS_HOUR);
        if (m->tlen > m->n - 2)
            m->tlen = m->n - 2;
        k = place_fault(p, m, m->tlen);
        break;
    default:
        return;
    }
    if (k < 0 || m->tlen < 1) {
        m->trouble = SIM_T_NONE; /* does not fit in this range */
        m->ta = m->tlen = 0;
        return;
    }
    m->ta = k;
}

struct sim_fleet *sim_fleet_new(const struct sim_params *p)
{
    struct sim_fleet *f = mf_xcalloc(1, sizeof *f);
    uint32_t unknown = (uint32_t)p->rate[SIM_T_UNKNOWN];

    f->p = *p;
    f->n = p->meters + unknown;
    f->m = mf_xcalloc(f->n ? f->n : 1, sizeof *f->m);
    for (uint32_t i = 0; i < f->n; i++) {
        struct sim_meter *m = &f->m[i];
        m->idx = i;
        if (i < p->meters) {
            registry_fields(p, m);
        } else {
            snprintf(m->id, sizeof m->id, "UNK-%05u", i - p->meters + 1);
            m->active = true;
            m->interval_s = 3600;
            m->max_kw = 20;
            m->scale = 1;
        }
        m->n = p->end_ms >= p->start_ms ? (p->end_ms - p->start_ms) / (m->interval_s * 1000LL) + 1
                                        : 0;
        if (m->registered && m->active && !m->vacant && p->history_h > 0 &&
            (p->history_hoods <= 0 || m->neighborhood <= p->history_hoods))
            m->hist = p->history_h;
        if (m->registered) {
            plan_trouble(p, m);
        } else {
            m->trouble = SIM_T_UNKNOWN;
            m->ta = 0, m->tlen = m->n;
        }
        m->style = (uint8_t)pick(p->unit_frac, SIM_U_COUNT, sim_unif(p->seed, i, SIM_R_UNIT, 0));
        /* No unit means "infer from the size": keep such meters below 10 kW, always. */
        if (m->style == SIM_U_NONE &&
            (m->commercial || m->trouble == SIM_T_SPIKE || m->trouble == SIM_T_OVERLOAD ||
             m->trouble == SIM_T_GLITCH || m->trouble == SIM_T_UNIT_SLIP))
            m->style = SIM_U_KW;
    }
    return f;
}

void sim_fleet_destroy(struct sim_fleet *f)
{
    if (!f)
        return;
    free(f->m);
    free(f);
}

int sim_fleet_write_registry(const struct sim_fleet *f, FILE *out)
{
    fprintf(out, "meter_id,class,max_kw,interval_s,vacant,neighborhood,region,active\n");
    for (uint32_t i = 0; i < f->n; i++) {
        const struct sim_meter *m = &f->m[i];
        if (!m->registered)
            continue;
        fprintf(out, "%s,%s,%g,%d,%s,N-%02d,R-%d,%s\n", m->id,
                m->commercial ? "commercial" : "residential", m->max_kw, (int)m->interval_s,
                m->vacant ? "true" : "false", m->neighborhood, m->region,
                m->active ? "true" : "false");
    }
    return fflush(out) == 0 && !ferror(out) ? MF_OK : MF_EFATAL;
}

const struct sim_meter *sim_fleet_find(const struct sim_fleet *f, const char *id)
{
    for (uint32_t i = 0; i < f->n; i++)
        if (strcmp(f->m[i].id, id) == 0)
            return &f->m[i];
    return NULL;
}
