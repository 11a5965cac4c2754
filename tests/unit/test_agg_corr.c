/*
 * Unit tests for the neighborhood correlation's arithmetic (agg_corr):
 * Pearson's r and the leave-one-out median against reference computations
 * written here the slow, obvious way (long double sums of the definition;
 * a copy without the element, sorted), on deterministic pseudo-random
 * series with ties; constant series (never NaN); who is judged and who is
 * a neighbour; a night-shift meter and a wrong-premises meter among
 * neighbours sharing a profile.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agg_corr.h"

static uint64_t rng = 88172645463325252ULL;
static double unif(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static long double ref_pearson(const double *x, const double *y, size_t n)
{
    long double mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < n; i++) {
        mx += x[i];
        my += y[i];
    }
    mx /= n;
    my /= n;
    for (size_t i = 0; i < n; i++) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
        syy += (y[i] - my) * (y[i] - my);
    }
    return sxy / sqrtl(sxx * syy);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of v without v[skip] (skip >= n: all), by copying and sorting. */
static double ref_median(const double *v, size_t n, size_t skip)
{
    double c[64] = {0};
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (i != skip)
            c[k++] = v[i];
    qsort(c, k, sizeof *c, cmp);
    return k % 2 ? c[k / 2] : (c[k / 2 - 1] + c[k / 2]) / 2;
}

static void test_pearson_reference(void **state)
{
    (void)state;
    double x[AGG_CORR_HOURS], y[AGG_CORR_HOURS];
    for (int round = 0; round < 200; round++) {
        double mix = unif();
        for (size_t i = 0; i < AGG_CORR_HOURS; i++) {
            x[i] = 1000 + unif(); /* a large offset: cancellation would show */
            y[i] = mix * x[i] + (1 - mix) * unif() * (round % 2 ? -1 : 1);
        }
        assert_float_equal(agg_corr_pearson(x, y, AGG_CORR_HOURS),
                           (double)ref_pearson(x, y, AGG_CORR_HOURS), 1e-9);
    }
    for (size_t i = 0; i < AGG_CORR_HOURS; i++) {
        x[i] = sin((double)i / 4);
        y[i] = 3 * x[i] + 7;
    }
    assert_float_equal(agg_corr_pearson(x, y, AGG_CORR_HOURS), 1, 1e-12);
    for (size_t i = 0; i < AGG_CORR_HOURS; i++)
        y[i] = -2 * x[i];
    assert_float_equal(agg_corr_pearson(x, y, AGG_CORR_HOURS), -1, 1e-12);
}

static void test_pearson_constant_never_nan(void **state)
{
    (void)state;
    double x[AGG_CORR_HOURS], c[AGG_CORR_HOURS], z[AGG_CORR_HOURS];
    for (size_t i = 0; i < AGG_CORR_HOURS; i++) {
        x[i] = unif();
        c[i] = 0.25;
        z[i] = 0;
    }
    assert_true(agg_corr_pearson(c, x, AGG_CORR_HOURS) == 0);
    assert_true(agg_corr_pearson(x, c, AGG_CORR_HOURS) == 0);
    assert_true(agg_corr_pearson(c, z, AGG_CORR_HOURS) == 1);
    assert_true(agg_corr_pearson(z, z, AGG_CORR_HOURS) == 1);
    assert_false(agg_corr_fault(agg_corr_pearson(z, z, AGG_CORR_HOURS)));
    assert_true(agg_corr_fault(agg_corr_pearson(c, x, AGG_CORR_HOURS)));
}

static void test_median_reference(void **state)
{
    (void)state;
    double v[40], s[40];
    for (int round = 0; round < 500; round++) {
        size_t n = 2 + (size_t)(unif() * 38);
        for (size_t i = 0; i < n; i++)
            v[i] = (double)(int)(unif() * 6); /* ties on purpose */
        memcpy(s, v, n * sizeof *v);
        qsort(s, n, sizeof *s, cmp);
        assert_true(agg_corr_median(s, n, false, 0) == ref_median(v, n, n));
        for (size_t skip = 0; skip < n; skip++)
            assert_true(agg_corr_median(s, n, true, v[skip]) == ref_median(v, n, skip));
    }
}

/* The street's daily profile (morning and evening peaks) with some noise, or a night shift's. */
static void profile(struct agg_corr_meter *m, bool night, double noise)
{
    memset(m, 0, sizeof *m);
    m->eligible = true;
    for (size_t h = 0; h < AGG_CORR_HOURS; h++) {
        size_t hod = h % 24;
        double day = (hod >= 17 && hod <= 21 ? 1.5 : 0) + (hod >= 7 && hod <= 9 ? 0.8 : 0);
        m->e[h] = 0.3 + (night ? (hod <= 5 ? 1.8 : 0) : day) + noise * unif();
    }
}

/* The reference: each judged meter's r recomputed from its neighbours' medians. */
static void check_against_reference(const struct agg_corr_meter *m, size_t n)
{
    double col[64];
    double prof[AGG_CORR_HOURS];
    for (size_t i = 0; i < n; i++) {
        if (!m[i].judged)
            continue;
        for (size_t h = 0; h < AGG_CORR_HOURS; h++) {
            size_t k = 0;
            for (size_t j = 0; j < n; j++)
                if (j != i && m[j].eligible && !m[j].raised)
                    col[k++] = m[j].e[h];
            prof[h] = ref_median(col, k, k);
        }
        assert_float_equal(m[i].r, (double)ref_pearson(m[i].e, prof, AGG_CORR_HOURS), 1e-9);
    }
}

static void test_judge_atypical_meters(void **state)
{
    (void)state;
    struct agg_corr_meter m[12];
    size_t unjudged;
    for (size_t i = 0; i < 10; i++)
        profile(&m[i], false, 0.4);
    profile(&m[10], true, 0.4); /* night shift */
    for (size_t h = 0; h < AGG_CORR_HOURS; h++)
        m[11].e[h] = unif() * 2; /* wrong premises: nothing like the street */
    m[11].eligible = true;
    m[11].raised = false;
    assert_int_equal(agg_corr_judge(m, 12, &unjudged), 12);
    assert_int_equal(unjudged, 0);
    for (size_t i = 0; i < 10; i++)
        assert_false(agg_corr_fault(m[i].r));
    assert_true(agg_corr_fault(m[10].r));
    assert_true(agg_corr_fault(m[11].r));
    check_against_reference(m, 12);

    /* Raised: judged (so it can clear) but nobody's neighbour. */
    m[10].raised = true;
    assert_int_equal(agg_corr_judge(m, 12, &unjudged), 12);
    check_against_reference(m, 12);
    /* Too few readings: neither judged nor a neighbour. */
    m[11].eligible = false;
    assert_int_equal(agg_corr_judge(m, 12, &unjudged), 11);
    assert_false(m[11].judged);
    check_against_reference(m, 12);
}

static void test_judge_small_neighborhoods(void **state)
{
    (void)state;
    struct agg_corr_meter m[8];
    size_t unjudged;
    for (size_t i = 0; i < 8; i++)
        profile(&m[i], false, 0.2);
    /* 5 eligible meters: nobody judged, all counted. */
    m[5].eligible = m[6].eligible = m[7].eligible = false;
    assert_int_equal(agg_corr_judge(m, 8, &unjudged), 0);
    assert_int_equal(unjudged, 5);
    for (size_t i = 0; i < 8; i++)
        assert_false(m[i].judged);
    /* 6 eligible: each has 5 others. */
    m[5].eligible = true;
    assert_int_equal(agg_corr_judge(m, 8, &unjudged), 6);
    assert_int_equal(unjudged, 0);
    check_against_reference(m, 8);
    /* 6 eligible, one raised: the raised one has 5 neighbours, the others 4. */
    m[0].raised = true;
    assert_int_equal(agg_corr_judge(m, 8, &unjudged), 1);
    assert_int_equal(unjudged, 5);
    assert_true(m[0].judged);
    check_against_reference(m, 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pearson_reference),
        cmocka_unit_test(test_pearson_constant_never_nan),
        cmocka_unit_test(test_median_reference),
        cmocka_unit_test(test_judge_atypical_meters),
        cmocka_unit_test(test_judge_small_neighborhoods),
    };
    return cmocka_run_group_tests_name("agg_corr", tests, NULL, NULL);
}
