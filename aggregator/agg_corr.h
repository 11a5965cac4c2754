/*
 * agg_corr: the arithmetic of the neighborhood correlation fault (DESIGN
 * §13), with no I/O: each meter's last AGG_CORR_HOURS hourly energies
 * against the hour-by-hour median of its neighbours' (the other meters of
 * its neighborhood), by Pearson's r. The loading and the alerts are
 * agg_daily's.
 *
 * Who is judged and who is a neighbour:
 *   - eligible: the meter has all AGG_CORR_HOURS hours (a meter with too
 *     few readings is neither judged nor used);
 *   - a neighbour: eligible and not raised (a meter whose fault is raised
 *     is not used as a neighbour, but is judged, or it could never clear);
 *   - a neighborhood with fewer than AGG_CORR_MIN_METERS eligible meters
 *     judges nobody, and a meter with fewer than AGG_CORR_MIN_NEIGHBOURS
 *     neighbours besides itself is not judged.
 * r is never NaN: a constant series has no correlation to measure, so r is
 * 0 when one of the two is constant (a flat meter does not follow a
 * moving neighbourhood) and 1 when both are (both flat).
 * Thread: any (no state).
 */
#ifndef AGG_CORR_H
#define AGG_CORR_H

#include <stdbool.h>
#include <stddef.h>

#define AGG_CORR_HOURS          168
#define AGG_CORR_MIN_NEIGHBOURS 5
#define AGG_CORR_MIN_METERS     (AGG_CORR_MIN_NEIGHBOURS + 1)
#define AGG_CORR_RAISE_BELOW    0.3

struct agg_corr_meter {
    /* in */
    double e[AGG_CORR_HOURS]; /* hourly energy, oldest first */
    bool eligible;            /* all hours present */
    bool raised;              /* its neighborhood_correlation alert is raised */
    /* out (agg_corr_judge) */
    bool judged;
    double r;
};

/* Pearson's r of x and y (n >= 2), as above for constant series. */
double agg_corr_pearson(const double *x, const double *y, size_t n);

/*
 * The median of sorted[0..n) without one element equal to drop (the meter's
 * own value, when it is among them), or of all n when without_drop is
 * false. n - (without_drop ? 1 : 0) must be >= 1.
 */
double agg_corr_median(const double *sorted, size_t n, bool without_drop, double drop);

/*
 * Judges the n meters of one neighborhood (sets judged and r). Returns how
 * many were judged; *unjudged gets the eligible meters that were not.
 */
size_t agg_corr_judge(struct agg_corr_meter *m, size_t n, size_t *unjudged);

/* Whether a meter with this r is in fault. */
static inline bool agg_corr_fault(double r)
{
    return r < AGG_CORR_RAISE_BELOW;
}

#endif
