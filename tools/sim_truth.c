/*
 * sim_truth: the expectations, one function per question. The flag counts
 * mirror the worker's rules for a clean meter around the injected reading:
 * under the seed's rate-of-change rule a drop is followed by a spike (the
 * recovery is a >500 % rise against the dropped reading), and an
 * out-of-order pair first leaves a one-reading gap
 * that the worker fills by interpolation, then the late reading is
 * rejected out_of_order.
 */
#include "sim_truth.h"

#include <string.h>

#include "sim_gen.h"

#include "mf_time.h"

#include "mf_common.h"

void sim_truth_totals(const struct sim_fleet *f, struct sim_totals *t)
{
    memset(t, 0, sizeof *t);
    for (uint32_t i = 0; i < f->n; i++) {
        const struct sim_meter *m = &f->m[i];
        struct sim_gen g;
        struct sim_reading r;
        sim_gen_init(&g, &f->p, m);
        while (sim_gen_next(&g, &r)) {
            t->readings++;
            t->by_style[r.style]++;
        }
        t->by_trouble[m->trouble]++;
    }
}

static int64_t span_ms(const struct sim_meter *m, int64_t readings)
{
    return (readings - 1) * (int64_t)m->interval_s * 1000;
}

const char *sim_truth_expected_alert(const struct sim_params *p, const struct sim_meter *m)
{
    int64_t gap = m->tlen * (int64_t)m->interval_s * 1000; /* D = step - interval */

    switch (m->trouble) {
    case SIM_T_STUCK:
        /* The run starts at its first reading; it alarms once a reading is stuck_ms later. */
        return span_ms(m, m->tlen) >= p->stuck_ms ? "stuck_value" : NULL;
    case SIM_T_ZERO:
        return !m->vacant && span_ms(m, m->tlen) >= p->zero_ms ? "zero_value" : NULL;
    case SIM_T_OVERLOAD:
        return (uint32_t)m->tlen >= p->overload_n ? "overload" : NULL;
    case SIM_T_GAP_5H:
    case SIM_T_GAP_25H:
    case SIM_T_GAP_SHORT:
        if (gap < p->gap_short_ms)
            return NULL;
        return gap < p->gap_long_ms ? "missing_short" : "missing_extended";
    default:
        return NULL;
    }
}

/*
 * The expected flag counts of one meter, as a JSON object body ("" for
 * none): the counts the workers' counters must match exactly. spike and
 * drop are scored per reading instead (sim_rscore): the adaptive rule
 * (DESIGN §4 rule 6) flags by the meter's own history, which the truth
 * does not model; their counts here are what the seed's rule does.
 */
static void expected_flags(const struct sim_params *p, const struct sim_meter *m, char *out,
                           size_t len)
{
    bool over = sim_gen_kw(p, m, m->ta) > m->max_kw;
    switch (m->trouble) {
    case SIM_T_GLITCH:
    case SIM_T_UNIT_SLIP:
        snprintf(out, len, over ? "\"over_limit\":1" : "");
        break;
    case SIM_T_CT_REVERSAL:
        snprintf(out, len, "\"negative_value\":%lld", (long long)m->tlen);
        break;
    case SIM_T_OVERLOAD:
        snprintf(out, len, "\"over_limit\":%lld", (long long)m->tlen);
        break;
    case SIM_T_SPIKE:
        snprintf(out, len, "\"spike\":1");
        break;
    case SIM_T_DROP:
        snprintf(out, len, "\"drop\":1,\"spike\":1");
        break;
    case SIM_T_GAP_SHORT:
        snprintf(out, len, "\"interpolated\":%lld", (long long)m->tlen);
        break;
    case SIM_T_NEGATIVE:
        snprintf(out, len, "\"negative_value\":1");
        break;
    case SIM_T_DUPLICATE:
        snprintf(out, len, "\"duplicate\":1");
        break;
    case SIM_T_OUT_OF_ORDER:
        snprintf(out, len, "\"out_of_order\":1,\"interpolated\":1");
        break;
    case SIM_T_INACTIVE:
        snprintf(out, len, "\"inactive_meter\":%lld", (long long)m->n);
        break;
    case SIM_T_UNKNOWN:
        snprintf(out, len, "\"unknown_meter\":%lld", (long long)m->n);
        break;
    default:
        out[0] = '\0';
        break;
    }
}

/* ---------------------------------------------------------------- the correlation */

/*
 * Whether the aggregator surely judges this meter and uses it as a
 * neighbour (DESIGN §13): history, and a trouble that leaves its 168
 * hours whole and raises no lasting alert of the worker's. Kinds that may
 * or may not (a gap, a quarantined reading in an hourly meter's hour, a
 * zero run) are left out: the truth then undercounts, never overcounts.
 */
static bool corr_sure(const struct sim_meter *m)
{
    if (m->hist <= 0)
        return false;
    switch (m->trouble) {
    case SIM_T_NONE:
    case SIM_T_NIGHT_SHIFT:
    case SIM_T_WRONG_PREMISES:
    case SIM_T_SPIKE:
    case SIM_T_DROP:
    case SIM_T_DUPLICATE:
    case SIM_T_GLITCH:
    case SIM_T_DROPOUT:
        return true;
    default:
        return false;
    }
}

#define NHOODS 51 /* N-01..N-50 (sim_fleet), by number */

/* Per neighborhood, the meters surely judged (corr_sure). */
static void corr_counts(const struct sim_fleet *f, uint32_t *sure)
{
    memset(sure, 0, NHOODS * sizeof *sure);
    for (uint32_t i = 0; i < f->n; i++)
        if (f->m[i].registered && corr_sure(&f->m[i]) && f->m[i].neighborhood < NHOODS)
            sure[f->m[i].neighborhood]++;
}

/* An atypical meter is expected to raise neighborhood_correlation when surely judged. */
static bool corr_expected(const struct sim_meter *m, const uint32_t *sure)
{
    return (m->trouble == SIM_T_NIGHT_SHIFT || m->trouble == SIM_T_WRONG_PREMISES) &&
           corr_sure(m) && m->neighborhood < NHOODS && sure[m->neighborhood] >= 6;
}

static const char *note_of(const struct sim_params *p, const struct sim_meter *m, const char *alert,
                           char *buf, size_t len)
{
    buf[0] = '\0';
    if (m->trouble == SIM_T_ZERO && !alert)
        snprintf(buf, len, "zero run spans %.1f h < %.0f h: not expected to alarm",
                 (double)span_ms(m, m->tlen) / 3600000.0, (double)p->zero_ms / 3600000.0);
    else if (m->trouble == SIM_T_STUCK && !alert)
        snprintf(buf, len, "stuck run spans %.1f h < %.0f h: not expected to alarm",
                 (double)span_ms(m, m->tlen) / 3600000.0, (double)p->stuck_ms / 3600000.0);
    else if (m->trouble == SIM_T_VACANT_ZERO)
        snprintf(buf, len, "vacant meter: zeros must not alarm");
    else if ((m->trouble == SIM_T_NIGHT_SHIFT || m->trouble == SIM_T_WRONG_PREMISES) && !alert)
        snprintf(buf, len, "%s: not judged (needs 168 hours and 6 meters in its neighborhood)",
                 m->hist > 0 ? "too few neighbours with history" : "no history");
    return buf;
}

int sim_truth_write(const struct sim_fleet *f, FILE *out)
{
    const struct sim_params *p = &f->p;
    struct sim_totals t;
    char s0[MF_TIME_STRLEN], s1[MF_TIME_STRLEN];

    uint32_t sure[NHOODS];
    sim_truth_totals(f, &t);
    corr_counts(f, sure);
    mf_time_format(p->start_ms, s0);
    mf_time_format(p->end_ms, s1);
    fprintf(out,
            "{\"kind\":\"run\",\"seed\":%llu,\"meters\":%u,\"start\":\"%s\",\"end\":\"%s\","
            "\"readings\":%llu,\"malformed\":%u,\"rules\":{\"zero_s\":%lld,\"stuck_s\":%lld,"
            "\"gap_short_s\":%lld,\"gap_long_s\":%lld,\"overload_n\":%u}}\n",
            (unsigned long long)p->seed, p->meters, s0, s1, (unsigned long long)t.readings,
            p->malformed, (long long)(p->zero_ms / 1000), (long long)(p->stuck_ms / 1000),
            (long long)(p->gap_short_ms / 1000), (long long)(p->gap_long_ms / 1000), p->overload_n);

    for (uint32_t i = 0; i < f->n; i++) {
        const struct sim_meter *m = &f->m[i];
        if (m->trouble == SIM_T_NONE)
            continue;
        const char *alert = corr_expected(m, sure) ? "neighborhood_correlation"
                                                   : sim_truth_expected_alert(p, m);
        char flags[128], note[128];
        expected_flags(p, m, flags, sizeof flags);
        mf_time_format(sim_gen_ts(p, m, m->ta), s0);
        mf_time_format(sim_gen_ts(p, m, m->ta + (m->tlen > 0 ? m->tlen - 1 : 0)), s1);
        fprintf(out,
                "{\"meter_id\":\"%s\",\"kind\":\"%s\",\"start\":\"%s\",\"end\":\"%s\","
                "\"interval_s\":%d,\"expect\":{\"alert\":%s%s%s,\"flags\":{%s}},"
                "\"note\":\"%s\"}\n",
                m->id, sim_troubles[m->trouble].name, s0, s1, (int)m->interval_s, alert ? "\"" : "",
                alert ? alert : "null", alert ? "\"" : "", flags,
                note_of(p, m, alert, note, sizeof note));
    }

    /* Every conversion flags unit_converted; a missing unit also unit_inferred (rule 2). */
    uint64_t converted = t.readings - t.by_style[SIM_U_KW];
    fprintf(out,
            "{\"kind\":\"units\",\"expect\":{\"alert\":null,\"flags\":{\"unit_converted\":%llu,"
            "\"unit_inferred\":%llu}},\"readings\":{\"kW\":%llu,\"W\":%llu,\"kWh\":%llu,"
            "\"Wh\":%llu,\"none\":%llu}}\n",
            (unsigned long long)converted, (unsigned long long)t.by_style[SIM_U_NONE],
            (unsigned long long)t.by_style[SIM_U_KW], (unsigned long long)t.by_style[SIM_U_W],
            (unsigned long long)t.by_style[SIM_U_KWH], (unsigned long long)t.by_style[SIM_U_WH],
            (unsigned long long)t.by_style[SIM_U_NONE]);
    /* The meters the correlation judges at least (corr_sure, in neighborhoods of 6 or more). */
    uint64_t judged = 0, hist = 0;
    for (uint32_t i = 0; i < f->n; i++) {
        const struct sim_meter *m = &f->m[i];
        hist += m->hist > 0;
        judged += corr_sure(m) && m->neighborhood < NHOODS && sure[m->neighborhood] >= 6;
    }
    fprintf(out,
            "{\"kind\":\"correlation\",\"history_hours\":%d,\"history_hoods\":%d,"
            "\"meters_with_history\":%llu,\"judged_at_least\":%llu}\n",
            p->history_h, p->history_hoods, (unsigned long long)hist, (unsigned long long)judged);
    fprintf(out, "{\"kind\":\"malformed\",\"expect\":{\"alert\":null,\"dlq\":%u}}\n", p->malformed);
    return fflush(out) == 0 && !ferror(out) ? MF_OK : MF_EFATAL;
}
