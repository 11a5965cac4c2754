/*
 * Unit tests for the meter simulator's library (tools/sim_*.c): the load
 * model's shape, the trouble bookkeeping (every truth entry matches what the
 * generator really sends), the expectations following the worker's
 * definitions, the CSV column mapping of the replay, and the /metrics parser.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sim_fleet.h"
#include "sim_gen.h"
#include "sim_load.h"
#include "sim_prom.h"
#include "sim_replay.h"
#include "sim_rscore.h"
#include "sim_truth.h"

#include "mf_common.h"

#define HOUR 3600000LL
#define MON  1710115200000LL /* 2024-03-11T00:00:00Z, a Monday */
#define SAT  (MON + 5 * 24 * HOUR)

/* ---------------------------------------------------------------- the load model */

static void test_shape_daily(void **state)
{
    (void)state;
    double night = sim_load_shape(false, MON + 3 * HOUR);
    double morning = sim_load_shape(false, MON + 7 * HOUR + HOUR / 2);
    double midday = sim_load_shape(false, MON + 13 * HOUR);
    double evening = sim_load_shape(false, MON + 19 * HOUR);
    assert_true(night < midday);
    assert_true(midday < morning);
    assert_true(morning < evening);
    assert_true(evening / night > 3.0); /* a real daily swing ... */
    assert_true(evening / night < 4.0); /* ... that stays under the spike rule with noise */
}

static void test_shape_weekend_and_season(void **state)
{
    (void)state;
    /* Weekend mornings start later: 07:30 lower, 09:30 higher than on a weekday. */
    assert_true(sim_load_shape(false, SAT + 7 * HOUR + HOUR / 2) <
                sim_load_shape(false, MON + 7 * HOUR + HOUR / 2));
    assert_true(sim_load_shape(false, SAT + 9 * HOUR + HOUR / 2) >
                sim_load_shape(false, MON + 9 * HOUR + HOUR / 2));
    /* Businesses: open on a weekday afternoon, near base at the weekend. */
    assert_true(sim_load_shape(true, MON + 14 * HOUR) >
                2.4 * sim_load_shape(true, SAT + 14 * HOUR));
    /* Winter above summer. */
    int64_t jan = 1705276800000LL, jul = 1721001600000LL; /* mid-January, mid-July 2024 */
    assert_true(sim_load_season(jan) > 1.15);
    assert_true(sim_load_season(jul) < 0.85);
}

/* Every clean step of every meter stays inside the worker's spike and drop thresholds. */
static void test_no_natural_spikes(void **state)
{
    (void)state;
    struct sim_params p;
    sim_params_default(&p);
    p.meters = 400;
    for (int t = 0; t < SIM_T_COUNT; t++)
        p.rate[t] = 0;
    struct sim_fleet *f = sim_fleet_new(&p);
    for (uint32_t i = 0; i < f->n; i++) {
        const struct sim_meter *m = &f->m[i];
        /* Also across a 4 h gap: the worker compares with the last real reading. */
        int64_t gap = 4 * 3600 / m->interval_s;
        for (int64_t k = 0; k + gap < m->n; k++) {
            double a = sim_gen_kw(&p, m, k), b = sim_gen_kw(&p, m, k + 1);
            double c = sim_gen_kw(&p, m, k + gap);
            assert_true(b - a <= 5.0 * a && c - a <= 5.0 * a); /* no spike (> +500 %) */
            assert_true(a - b <= 0.9 * a && a - c <= 0.9 * a); /* no drop (> -90 %) */
            assert_true(a > 0.05 && a < m->max_kw);
        }
    }
    sim_fleet_destroy(f);
}

/* ---------------------------------------------------------------- trouble bookkeeping */

struct seen {
    int64_t n, dups, backwards, missing, negatives, zeros, over, stuck_run;
    double max_jump, min_drop;
};

static void walk(const struct sim_params *p, const struct sim_meter *m, struct seen *s)
{
    struct sim_gen g;
    struct sim_reading r;
    int64_t last_ts = -1, expect_k = 0;
    double last_kw = -1;
    memset(s, 0, sizeof *s);
    s->min_drop = 1e9;
    sim_gen_init(&g, p, m);
    while (sim_gen_next(&g, &r)) {
        s->n++;
        if (r.ts_ms == last_ts)
            s->dups++;
        if (r.ts_ms < last_ts)
            s->backwards++;
        if (r.k > expect_k)
            s->missing += r.k - expect_k;
        if (r.k >= expect_k)
            expect_k = r.k + 1;
        if (r.kw < 0)
            s->negatives++;
        if (r.kw == 0)
            s->zeros++;
        if (r.kw > m->max_kw)
            s->over++;
        if (r.kw == m->tval && m->trouble == SIM_T_STUCK)
            s->stuck_run++;
        if (last_kw > 0 && r.kw > 0) {
            if (r.kw / last_kw > s->max_jump)
                s->max_jump = r.kw / last_kw;
            if (r.kw / last_kw < s->min_drop)
                s->min_drop = r.kw / last_kw;
        }
        last_ts = r.ts_ms;
        last_kw = r.kw;
    }
}

static void test_trouble_matches_plan(void **state)
{
    (void)state;
    struct sim_params p;
    sim_params_default(&p);
    p.meters = 3000;
    for (int t = SIM_T_STUCK; t <= SIM_T_CT_REVERSAL; t++)
        p.rate[t] = 0.02;
    struct sim_fleet *f = sim_fleet_new(&p);
    int kinds[SIM_T_COUNT] = {0};
    for (uint32_t i = 0; i < f->n; i++) {
        const struct sim_meter *m = &f->m[i];
        struct seen s;
        walk(&p, m, &s);
        kinds[m->trouble]++;
        switch (m->trouble) {
        case SIM_T_NONE:
        case SIM_T_INACTIVE:
        case SIM_T_UNKNOWN:
        case SIM_T_NIGHT_SHIFT: /* a profile, not a fault of the readings */
        case SIM_T_WRONG_PREMISES:
            assert_int_equal(s.n, m->n);
            assert_int_equal(s.dups + s.backwards + s.missing + s.negatives + s.zeros, 0);
            break;
        case SIM_T_STUCK:
            assert_int_equal(s.stuck_run, m->tlen);
            assert_true((m->tlen - 1) * m->interval_s >= 24 * 3600);
            assert_string_equal(sim_truth_expected_alert(&p, m), "stuck_value");
            break;
        case SIM_T_ZERO:
        case SIM_T_VACANT_ZERO:
            assert_int_equal(s.zeros, m->n);
            assert_int_equal(m->vacant, m->trouble == SIM_T_VACANT_ZERO);
            break;
        case SIM_T_OVERLOAD:
            assert_int_equal(s.over, 8);
            assert_true(m->max_kw < 20);
            break;
        case SIM_T_SPIKE:
            assert_true(s.max_jump > 6.0);
            assert_true(s.min_drop > 0.1); /* its recovery is no drop */
            assert_int_equal(s.over, 0);
            break;
        case SIM_T_DROP:
            assert_true(s.min_drop < 0.1);
            assert_true(s.max_jump > 6.0); /* the recovery: the truth expects this spike */
            break;
        case SIM_T_GAP_SHORT:
        case SIM_T_GAP_5H:
        case SIM_T_GAP_25H:
            assert_int_equal(s.missing, m->tlen);
            assert_int_equal(s.n, m->n - m->tlen);
            break;
        case SIM_T_NEGATIVE:
            assert_int_equal(s.negatives, 1);
            break;
        case SIM_T_DUPLICATE:
            assert_int_equal(s.dups, 1);
            assert_int_equal(s.n, m->n + 1);
            break;
        case SIM_T_OUT_OF_ORDER:
            assert_int_equal(s.backwards, 1);
            assert_int_equal(s.n, m->n);
            break;
        case SIM_T_GLITCH: /* 10..100x the load, from a real load */
            assert_true(s.max_jump > 5.0);
            assert_true(m->tval >= 10 * 0.1 * 0.99);
            assert_int_equal(s.n, m->n);
            break;
        case SIM_T_UNIT_SLIP:
            assert_true(s.max_jump > 500.0);
            assert_int_equal(s.n, m->n);
            break;
        case SIM_T_DROPOUT:
            assert_int_equal(s.zeros, m->tlen);
            assert_true(m->tlen >= 1 && m->tlen <= 3);
            break;
        case SIM_T_CT_REVERSAL:
            assert_int_equal(s.negatives, m->tlen);
            assert_true((m->tlen - 1) * m->interval_s < 6 * 3600 &&
                        m->tlen * m->interval_s >= 6 * 3600);
            break;
        default:
            fail();
        }
        if (m->trouble == SIM_T_GAP_SHORT)
            assert_null(sim_truth_expected_alert(&p, m));
        if (m->trouble == SIM_T_GAP_5H)
            assert_string_equal(sim_truth_expected_alert(&p, m), "missing_short");
        if (m->trouble == SIM_T_GAP_25H)
            assert_string_equal(sim_truth_expected_alert(&p, m), "missing_extended");
    }
    for (int t = SIM_T_STUCK; t <= SIM_T_CT_REVERSAL; t++)
        assert_true(kinds[t] > 0);
    sim_fleet_destroy(f);
}

/* The zero_value expectation follows the worker: first zero to current reading >= 48 h. */
static void test_zero_expectation(void **state)
{
    (void)state;
    struct sim_params p;
    sim_params_default(&p);
    p.meters = 2000;
    p.rate[SIM_T_ZERO] = 0.05;
    for (int hours = 24; hours <= 48; hours += 24) {
        p.end_ms = p.start_ms + hours * HOUR;
        struct sim_fleet *f = sim_fleet_new(&p);
        int zeros = 0;
        for (uint32_t i = 0; i < f->n; i++) {
            if (f->m[i].trouble != SIM_T_ZERO)
                continue;
            zeros++;
            const char *a = sim_truth_expected_alert(&p, &f->m[i]);
            if (hours == 48) /* the range's end is a reading: exactly 48 h of run */
                assert_string_equal(a, "zero_value");
            else
                assert_null(a);
        }
        assert_true(zeros > 0);
        sim_fleet_destroy(f);
    }
}

/* The truth file: one line per troubled meter, plus run, units and malformed. */
static void test_truth_file(void **state)
{
    (void)state;
    struct sim_params p;
    sim_params_default(&p);
    p.meters = 500;
    struct sim_fleet *f = sim_fleet_new(&p);
    struct sim_totals t;
    sim_truth_totals(f, &t);
    uint64_t n = 0, troubled = 0;
    for (uint32_t i = 0; i < f->n; i++) {
        struct sim_gen g;
        struct sim_reading r;
        sim_gen_init(&g, &p, &f->m[i]);
        while (sim_gen_next(&g, &r))
            n++;
        troubled += f->m[i].trouble != SIM_T_NONE;
    }
    assert_int_equal(t.readings, n);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_int_equal(sim_truth_write(f, out), MF_OK);
    fclose(out);
    uint64_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += buf[i] == '\n';
    assert_int_equal(lines, troubled + 4); /* run, units, correlation, malformed */
    assert_non_null(strstr(buf, "\"kind\":\"run\""));
    free(buf);
    sim_fleet_destroy(f);
}

static double pearson(const double *x, const double *y, int n)
{
    double mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;
    for (int i = 0; i < n; i++)
        mx += x[i] / n, my += y[i] / n;
    for (int i = 0; i < n; i++) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
        syy += (y[i] - my) * (y[i] - my);
    }
    return sxy / sqrt(sxx * syy);
}

/*
 * Neighborhoods share a profile (businesses in N-10, N-20 ..), the atypical
 * profiles do not follow their class's week (r < 0.3), and the history
 * comes first: hourly energies, the last a native interval before the range.
 */
static void test_neighborhoods_and_history(void **state)
{
    (void)state;
    struct sim_params p;
    sim_params_default(&p);
    p.meters = 2000;
    p.end_ms = p.start_ms + 30 * HOUR;
    p.history_h = 144;
    p.history_hoods = 20;
    struct sim_fleet *f = sim_fleet_new(&p);
    int atypical = 0, expected = 0, with_history = 0;
    for (uint32_t i = 0; i < p.meters; i++) {
        const struct sim_meter *m = &f->m[i];
        assert_int_equal(m->neighborhood % 10 == 0, m->commercial);
        assert_int_equal(m->region, 1 + (m->neighborhood - 1) / 10);
        bool hist = m->active && !m->vacant && m->neighborhood <= 20;
        assert_int_equal(m->hist, hist ? 144 : 0);
        with_history += hist;
        atypical += m->trouble == SIM_T_NIGHT_SHIFT || m->trouble == SIM_T_WRONG_PREMISES;
        struct sim_gen g;
        struct sim_reading r;
        int64_t last = INT64_MIN, n = 0;
        sim_gen_init(&g, &p, m);
        while (sim_gen_next(&g, &r) && n <= m->hist) {
            if (n < m->hist) {
                assert_true(r.k < 0);
                assert_int_equal(r.interval_s, 3600);
                assert_true(r.style == SIM_U_KWH || r.style == SIM_U_WH);
                assert_true(last == INT64_MIN || r.ts_ms - last == HOUR);
            } else {
                assert_int_equal(r.k, 0);
                assert_int_equal(r.ts_ms, p.start_ms);
                if (m->hist)
                    assert_int_equal(r.ts_ms - last, m->interval_s * 1000LL);
            }
            last = r.ts_ms;
            n++;
        }
    }
    assert_true(with_history > 500 && atypical > 10);
    assert_true(sim_fleet_first_ms(f) <= p.start_ms - 144 * HOUR);
    /* A week of each profile against its class's: the atypical ones fall far below 0.3. */
    double home[168], biz[168], night[168];
    for (int h = 0; h < 168; h++) {
        int64_t t = p.start_ms + h * HOUR;
        home[h] = sim_load_profile_shape(SIM_P_HOME, t);
        biz[h] = sim_load_profile_shape(SIM_P_BUSINESS, t);
        night[h] = sim_load_profile_shape(SIM_P_NIGHT, t);
    }
    assert_true(pearson(night, home, 168) < 0);
    assert_true(pearson(night, biz, 168) < 0);
    assert_true(pearson(biz, home, 168) < 0.25);
    /* The truth expects the alert only for atypical meters surely judged. */
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_int_equal(sim_truth_write(f, out), MF_OK);
    fclose(out);
    for (char *s = buf; (s = strstr(s, "\"alert\":\"neighborhood_correlation\"")) != NULL; s++)
        expected++;
    assert_true(expected > 5 && expected <= atypical);
    assert_non_null(strstr(buf, "\"kind\":\"correlation\",\"history_hours\":144"));
    free(buf);
    sim_fleet_destroy(f);
}

/* The registry depends on the seed and size only, never on the time range. */
static void test_registry_stable(void **state)
{
    (void)state;
    char *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    struct sim_params p;
    sim_params_default(&p);
    p.meters = 300;
    struct sim_fleet *f = sim_fleet_new(&p);
    FILE *out = open_memstream(&a, &alen);
    sim_fleet_write_registry(f, out);
    fclose(out);
    sim_fleet_destroy(f);
    p.end_ms = p.start_ms + 24 * HOUR;
    f = sim_fleet_new(&p);
    out = open_memstream(&b, &blen);
    sim_fleet_write_registry(f, out);
    fclose(out);
    sim_fleet_destroy(f);
    assert_int_equal(alen, blen);
    assert_memory_equal(a, b, alen);
    assert_true(strncmp(a, "meter_id,class,max_kw,interval_s,vacant,neighborhood,region,active\n",
                        67) == 0);
    free(a);
    free(b);
}

/* ---------------------------------------------------------------- CSV mapping */

static void test_csv_split(void **state)
{
    (void)state;
    char line[] = "\"\";\"MT_001\";\"a \"\"q\"\" b\";x\r\n";
    char *f[8];
    assert_int_equal(sim_csv_split(line, ';', f, 8), 4);
    assert_string_equal(f[0], "");
    assert_string_equal(f[1], "MT_001");
    assert_string_equal(f[2], "a \"q\" b");
    assert_string_equal(f[3], "x");
    char line2[] = "MAC000002,2013-01-01 00:00:00, 0.219 \n";
    assert_int_equal(sim_csv_split(line2, ',', f, 8), 3);
    assert_string_equal(f[2], "0.219"); /* common's CSV reader trims unquoted padding */
}

static void test_map_lcl(void **state)
{
    (void)state;
    struct sim_map m;
    char err[200];
    char hdr[] = "LCLid,tstp,energy(kWh/hh)";
    char *f[8];
    int n = sim_csv_split(hdr, ',', f, 8);
    assert_int_equal(sim_map_parse(&m,
                                   "meter_id=LCLid,ts=tstp,value=energy(kWh/hh),"
                                   "unit=const:kWh,interval_s=const:1800",
                                   err, sizeof err),
                     MF_OK);
    assert_int_equal(sim_map_resolve(&m, f, n, err, sizeof err), MF_OK);
    assert_int_equal(m.f[SIM_M_METER].col[0], 0);
    assert_int_equal(m.f[SIM_M_VALUE].col[0], 2);
    assert_true(m.f[SIM_M_UNIT].is_const);
    assert_string_equal(m.f[SIM_M_UNIT].konst, "kWh");
    /* Two columns for ts, and a column by number. */
    char hdr2[] = "Date;Time;Global_active_power";
    n = sim_csv_split(hdr2, ';', f, 8);
    assert_int_equal(
        sim_map_parse(&m, "meter_id=const:UCI-1,ts=Date+Time,value=#3", err, sizeof err), MF_OK);
    assert_int_equal(sim_map_resolve(&m, f, n, err, sizeof err), MF_OK);
    assert_int_equal(m.f[SIM_M_TS].col[0], 0);
    assert_int_equal(m.f[SIM_M_TS].col[1], 1);
    assert_int_equal(m.f[SIM_M_VALUE].col[0], 2);
    /* Errors name the problem. */
    assert_int_equal(sim_map_parse(&m, "meter_id=a,ts=b", err, sizeof err), MF_EDATA);
    assert_non_null(strstr(err, "value"));
    assert_int_equal(sim_map_parse(&m, "meter_id=Date,ts=Time,value=nope", err, sizeof err), MF_OK);
    assert_int_equal(sim_map_resolve(&m, f, n, err, sizeof err), MF_EDATA);
    assert_non_null(strstr(err, "nope"));
    assert_int_equal(sim_map_parse(&m, "meter=a", err, sizeof err), MF_EDATA);
}

static void test_parse_time_value(void **state)
{
    (void)state;
    int64_t ms;
    double v;
    char out[64];
    assert_int_equal(sim_parse_time("2013-01-01 00:30:00", NULL, &ms), MF_OK);
    assert_int_equal(ms, 1356998400000LL + 30 * 60000);
    assert_int_equal(sim_parse_time("2024-03-15T16:00:00+02:00", NULL, &ms), MF_OK);
    assert_int_equal(ms, 1710511200000LL);
    assert_int_equal(sim_parse_time("16/12/2006 17:24:00", "%d/%m/%Y %H:%M:%S", &ms), MF_OK);
    assert_int_equal(ms, 1166289840000LL);
    assert_int_equal(sim_parse_time("6/1/2007 01:02:03", "%d/%m/%Y %H:%M:%S", &ms), MF_OK);
    assert_int_equal(sim_parse_time("32/12/2006 17:24:00", "%d/%m/%Y %H:%M:%S", &ms), MF_EDATA);
    assert_int_equal(sim_parse_time("yesterday", NULL, &ms), MF_EDATA);

    assert_int_equal(sim_parse_value(" 0.219 ", false, &v, out, sizeof out), MF_OK);
    assert_true(v == 0.219);
    assert_string_equal(out, "0.219");
    assert_int_equal(sim_parse_value("71,7703349282297", true, &v, out, sizeof out), MF_OK);
    assert_string_equal(out, "71.7703349282297");
    assert_int_equal(sim_parse_value("?", false, &v, out, sizeof out), MF_EDATA);
    assert_int_equal(sim_parse_value("", false, &v, out, sizeof out), MF_EDATA);
    assert_int_equal(sim_parse_value("NA", false, &v, out, sizeof out), MF_EDATA);
    assert_int_equal(sim_parse_value("1,5", false, &v, out, sizeof out), MF_EDATA);
    assert_int_equal(sim_parse_value(".5", false, &v, out, sizeof out), MF_OK);
    assert_string_equal(out, "0.5"); /* a JSON number */
}

/* ---------------------------------------------------------------- /metrics */

static void test_prom_sum(void **state)
{
    (void)state;
    const char *text =
        "# HELP meterflow_worker_records_total x\n"
        "# TYPE meterflow_worker_records_total counter\n"
        "meterflow_worker_records_total{outcome=\"validated\"} 10\n"
        "meterflow_worker_records_total{outcome=\"quarantine\"} 2\n"
        "meterflow_worker_records_total_extra{outcome=\"validated\"} 99\n"
        "meterflow_kafka_consumer_lag{topic=\"meter.readings.raw\",partition=\"0\"} 5\n"
        "meterflow_kafka_consumer_lag{topic=\"meter.readings.validated\",partition=\"1\"} 7\n"
        "meterflow_build_info 1\n";
    bool found;
    assert_true(sim_prom_sum_text(text, "meterflow_worker_records_total", "outcome", "validated",
                                  false, &found) == 10);
    assert_true(found);
    assert_true(
        sim_prom_sum_text(text, "meterflow_worker_records_total", NULL, NULL, false, NULL) == 12);
    assert_true(sim_prom_sum_text(text, "meterflow_kafka_consumer_lag", "topic",
                                  "meter.readings.raw", true, NULL) == 7);
    assert_true(sim_prom_sum_text(text, "meterflow_worker_records_total", "outcome", "dlq", false,
                                  &found) == 0);
    assert_false(found);
    assert_true(sim_prom_sum_text(text, "meterflow_build_info", NULL, NULL, false, NULL) == 1);
}

/*
 * sim_rscore: a fault is detected by any flagged reading inside its time
 * range (ends included) and by no other; a spike or drop outside every
 * fault of its meter is a false flag; a repeated (meter, ts) counts once;
 * kinds that are not reading faults are ignored.
 */
static void test_rscore(void **state)
{
    (void)state;
    struct sim_rscore *rs = sim_rscore_new();
    struct sim_rscore_sum sum;
    assert_true(sim_rscore_inject(rs, "A", "glitch", 1000, 1000));
    assert_true(sim_rscore_inject(rs, "B", "dropout", 2000, 4000));
    assert_true(sim_rscore_inject(rs, "C", "unit_slip", 1000, 1000));
    assert_false(sim_rscore_inject(rs, "D", "gap_5h", 1000, 9000));
    assert_int_equal(sim_rscore_flag("spike"), SIM_RS_SPIKE);
    assert_int_equal(sim_rscore_flag("negative_value"), SIM_RS_NEGATIVE);
    assert_int_equal(sim_rscore_flag("interpolated"), 0);
    sim_rscore_reading(rs, "A", 0, 0);
    sim_rscore_reading(rs, "A", 1000, SIM_RS_SPIKE);
    sim_rscore_reading(rs, "A", 1000, SIM_RS_SPIKE); /* a repeat */
    sim_rscore_reading(rs, "A", 2000, SIM_RS_DROP);  /* the return: a false flag */
    sim_rscore_reading(rs, "B", 1000, 0);
    sim_rscore_reading(rs, "B", 4000, SIM_RS_DROP); /* the range's last reading */
    sim_rscore_reading(rs, "B", 5000, SIM_RS_SPIKE);
    sim_rscore_reading(rs, "C", 999, SIM_RS_OVER_LIMIT); /* beside the fault: not it */
    sim_rscore_reading(rs, "C", 1000, 0);
    sim_rscore_sum(rs, &sum);
    assert_int_equal(sum.readings, 8);
    assert_int_equal(sum.rate_flags, 4);
    assert_int_equal(sum.false_flags, 2);
    for (int k = 0; k < SIM_RS_KINDS; k++) {
        long want_inj = !strcmp(sum.kind[k], "glitch") || !strcmp(sum.kind[k], "dropout") ||
                        !strcmp(sum.kind[k], "unit_slip");
        long want_det = !strcmp(sum.kind[k], "glitch") || !strcmp(sum.kind[k], "dropout");
        assert_int_equal(sum.injected[k], want_inj);
        assert_int_equal(sum.detected[k], want_det);
    }
    sim_rscore_destroy(rs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shape_daily),
        cmocka_unit_test(test_shape_weekend_and_season),
        cmocka_unit_test(test_no_natural_spikes),
        cmocka_unit_test(test_trouble_matches_plan),
        cmocka_unit_test(test_zero_expectation),
        cmocka_unit_test(test_truth_file),
        cmocka_unit_test(test_registry_stable),
        cmocka_unit_test(test_csv_split),
        cmocka_unit_test(test_map_lcl),
        cmocka_unit_test(test_parse_time_value),
        cmocka_unit_test(test_prom_sum),
        cmocka_unit_test(test_rscore),
        cmocka_unit_test(test_neighborhoods_and_history),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
