/*
 * sim_gen: the trouble is applied where the reading is made, from the plan
 * sim_fleet put in the meter (ta, tlen, tval), so generating a reading
 * needs no history: any thread can regenerate any meter.
 */
#include "sim_gen.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sim_load.h"
#include "sim_rng.h"

#include "mf_time.h"

#include "mf_common.h"

#define MS_HOUR 3600000LL

int64_t sim_gen_ts(const struct sim_params *p, const struct sim_meter *m, int64_t k)
{
    if (k < 0)
        return p->start_ms - (int64_t)m->interval_s * 1000 + (k + 1) * MS_HOUR;
    return p->start_ms + k * (int64_t)m->interval_s * 1000;
}

static double clean(const struct sim_params *p, const struct sim_meter *m, int64_t k)
{
    return sim_load_kw(p->seed, m->idx, sim_meter_profile(m), m->scale, sim_gen_ts(p, m, k));
}

static bool in_trouble(const struct sim_meter *m, int64_t k)
{
    return k >= m->ta && k < m->ta + m->tlen;
}

double sim_gen_kw(const struct sim_params *p, const struct sim_meter *m, int64_t k)
{
    if (k < 0)
        return clean(p, m, k); /* history: the trouble is in the range */
    switch (m->trouble) {
    case SIM_T_ZERO:
    case SIM_T_VACANT_ZERO:
        return 0;
    case SIM_T_STUCK:
        return in_trouble(m, k) ? m->tval : clean(p, m, k);
    case SIM_T_OVERLOAD:
        if (in_trouble(m, k))
            return m->max_kw *
                   sim_range(p->seed, m->idx, SIM_R_TROUBLE_LEN, (uint64_t)k, 1.25, 1.45);
        break;
    case SIM_T_SPIKE:
        if (k == m->ta)
            return 8 * clean(p, m, k - 1);
        break;
    case SIM_T_DROP:
        if (k == m->ta)
            return 0.05 * clean(p, m, k - 1);
        break;
    case SIM_T_NEGATIVE:
        if (k == m->ta)
            return -clean(p, m, k);
        break;
    case SIM_T_GLITCH:
        if (k == m->ta)
            return m->tval;
        break;
    case SIM_T_UNIT_SLIP:
        if (k == m->ta)
            return 1000 * clean(p, m, k); /* the W figure, labelled kW */
        break;
    case SIM_T_DROPOUT:
        if (in_trouble(m, k))
            return 0;
        break;
    case SIM_T_CT_REVERSAL:
        if (in_trouble(m, k))
            return -clean(p, m, k);
        break;
    default:
        break;
    }
    return clean(p, m, k);
}

/* The value in the reading's unit, at that unit's resolution. */
static void format_value(const struct sim_reading *r, char *out, size_t len)
{
    double hours = r->interval_s / 3600.0, kw = r->kw;
    switch (r->style) {
    case SIM_U_W:
        snprintf(out, len, "%.1f", kw * 1000);
        break;
    case SIM_U_KWH:
        snprintf(out, len, "%.6f", kw * hours);
        break;
    case SIM_U_WH:
        snprintf(out, len, "%.3f", kw * 1000 * hours);
        break;
    case SIM_U_KW:
    case SIM_U_NONE:
    default:
        snprintf(out, len, "%.3f", kw);
        break;
    }
    /* "-0.000" would read back as a negative zero: a meter prints 0. */
    if (strcmp(out, "-0.000") == 0 || strcmp(out, "-0.0") == 0 || strcmp(out, "-0.000000") == 0)
        snprintf(out, len, "0");
}

static void make(struct sim_gen *g, int64_t k, struct sim_reading *r)
{
    r->m = g->m;
    r->k = k;
    r->ts_ms = sim_gen_ts(g->p, g->m, k);
    r->kw = sim_gen_kw(g->p, g->m, k);
    /* History: an hour's energy, as a head-end's hourly register gives it. */
    r->style = k >= 0 ? g->m->style : g->m->style == SIM_U_WH ? SIM_U_WH : SIM_U_KWH;
    r->interval_s = k >= 0 ? g->m->interval_s : 3600;
    format_value(r, r->value, sizeof r->value);
}

void sim_gen_init(struct sim_gen *g, const struct sim_params *p, const struct sim_meter *m)
{
    memset(g, 0, sizeof *g);
    g->p = p;
    g->m = m;
    g->k = -m->hist;
}

int sim_gen_next(struct sim_gen *g, struct sim_reading *r)
{
    const struct sim_meter *m = g->m;

    if (g->qi < g->qn) {
        *r = g->q[g->qi++];
        return 1;
    }
    g->qi = g->qn = 0;
    while (g->k < m->n) {
        int64_t k = g->k++;
        switch (m->trouble) {
        case SIM_T_GAP_SHORT:
        case SIM_T_GAP_5H:
        case SIM_T_GAP_25H:
            if (in_trouble(m, k))
                continue; /* never sent */
            break;
        case SIM_T_DUPLICATE:
            if (k == m->ta) {
                make(g, k, &g->q[0]);
                g->q[1] = g->q[0]; /* the very same reading again, as a resend is */
                g->qn = 2;
            }
            break;
        case SIM_T_OUT_OF_ORDER:
            if (k == m->ta) {
                make(g, k + 1, &g->q[0]); /* the newer one overtakes */
                make(g, k, &g->q[1]);
                g->qn = 2;
                g->k++;
            }
            break;
        default:
            break;
        }
        if (g->qn == 0) {
            make(g, k, r);
            return 1;
        }
        *r = g->q[g->qi++];
        return 1;
    }
    return 0;
}

int sim_reading_json(const struct sim_reading *r, struct mf_buf *out)
{
    char ts[MF_TIME_STRLEN];
    const struct sim_meter *m = r->m;
    int rc = 0;

    mf_time_format(r->ts_ms, ts);
    rc |= mf_buf_appendf(out, "{\"meter_id\":\"%s\",\"ts\":\"%s\",\"value\":%s", m->id, ts,
                         r->value);
    if (r->style != SIM_U_NONE)
        rc |= mf_buf_appendf(out, ",\"unit\":\"%s\"", sim_style_names[r->style]);
    if (r->style == SIM_U_KWH || r->style == SIM_U_WH)
        rc |= mf_buf_appendf(out, ",\"interval_s\":%d", (int)r->interval_s);
    rc |= mf_buf_appendc(out, '}');
    return rc ? MF_EDATA : MF_OK;
}

const char sim_csv_header[] = "meter_id,ts,value,unit,interval_s\n";

int sim_reading_csv(const struct sim_reading *r, struct mf_buf *out)
{
    char ts[MF_TIME_STRLEN];
    const struct sim_meter *m = r->m;
    bool energy = r->style == SIM_U_KWH || r->style == SIM_U_WH;

    mf_time_format(r->ts_ms, ts);
    if (energy)
        return mf_buf_appendf(out, "%s,%s,%s,%s,%d\n", m->id, ts, r->value,
                              sim_style_names[r->style], (int)r->interval_s);
    return mf_buf_appendf(out, "%s,%s,%s,%s,\n", m->id, ts, r->value,
                          r->style == SIM_U_NONE ? "" : sim_style_names[r->style]);
}
