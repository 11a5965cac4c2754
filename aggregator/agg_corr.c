/*
 * agg_corr: Pearson's r against leave-one-out median profiles.
 */
#include "agg_corr.h"

#include <math.h>
#include <stdlib.h>

#include "mf_alloc.h"

double agg_corr_pearson(const double *x, const double *y, size_t n)
{
    /* Two passes (means first): no cancellation of large sums of squares. */
    double mx = 0, my = 0;
    for (size_t i = 0; i < n; i++) {
        mx += x[i];
        my += y[i];
    }
    mx /= (double)n;
    my /= (double)n;
    double sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < n; i++) {
        double dx = x[i] - mx, dy = y[i] - my;
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if (sxx == 0 && syy == 0)
        return 1;
    if (sxx == 0 || syy == 0)
        return 0;
    double r = sxy / sqrt(sxx * syy);
    return r > 1 ? 1 : r < -1 ? -1 : r; /* rounding may step a hair outside */
}

/* The k-th smallest of sorted without the element at index skip (skip = n: none). */
static double kth(const double *sorted, size_t skip, size_t k)
{
    return sorted[k < skip ? k : k + 1];
}

double agg_corr_median(const double *sorted, size_t n, bool without_drop, double drop)
{
    size_t skip = n, m = n;
    if (without_drop) {
        /* Any element equal to drop: removing one of equals leaves the same multiset. */
        size_t lo = 0, hi = n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (sorted[mid] < drop)
                lo = mid + 1;
            else
                hi = mid;
        }
        skip = lo;
        m = n - 1;
    }
    if (m % 2)
        return kth(sorted, skip, m / 2);
    return (kth(sorted, skip, m / 2 - 1) + kth(sorted, skip, m / 2)) / 2;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

size_t agg_corr_judge(struct agg_corr_meter *m, size_t n, size_t *unjudged)
{
    size_t eligible = 0, pool = 0, judged = 0;
    for (size_t i = 0; i < n; i++) {
        m[i].judged = false;
        m[i].r = 0;
        if (m[i].eligible) {
            eligible++;
            if (!m[i].raised)
                pool++;
        }
    }
    *unjudged = eligible;
    if (eligible < AGG_CORR_MIN_METERS || pool < AGG_CORR_MIN_NEIGHBOURS)
        return 0;

    /* Per hour, the neighbours' energies sorted once; each meter drops its own. */
    double *sorted = mf_xmalloc(AGG_CORR_HOURS * pool * sizeof *sorted);
    for (size_t h = 0; h < AGG_CORR_HOURS; h++) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (m[i].eligible && !m[i].raised)
                sorted[h * pool + k++] = m[i].e[h];
        qsort(sorted + h * pool, pool, sizeof *sorted, cmp_double);
    }
    double profile[AGG_CORR_HOURS];
    for (size_t i = 0; i < n; i++) {
        if (!m[i].eligible)
            continue;
        bool in_pool = !m[i].raised;
        if (pool - (in_pool ? 1 : 0) < AGG_CORR_MIN_NEIGHBOURS)
            continue;
        for (size_t h = 0; h < AGG_CORR_HOURS; h++)
            profile[h] = agg_corr_median(sorted + h * pool, pool, in_pool, m[i].e[h]);
        m[i].r = agg_corr_pearson(m[i].e, profile, AGG_CORR_HOURS);
        m[i].judged = true;
        judged++;
    }
    free(sorted);
    *unjudged = eligible - judged;
    return judged;
}
