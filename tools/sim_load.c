/*
 * sim_load: sums of Gaussian bumps over the hour of day for homes, a
 * product of two logistic steps for businesses. Bumps wrap around midnight
 * so 23:00 and 01:00 are two hours apart, not 22.
 */
#include "sim_load.h"

#include <math.h>

#include "sim_rng.h"

#include "mf_common.h"

#define MS_DAY 86400000LL
#define PI     3.14159265358979323846

/* A bump of height 1 at hour mu, width s, on the 24 h circle. */
static double bump(double h, double mu, double s)
{
    double d = fabs(h - mu);
    if (d > 12)
        d = 24 - d;
    return exp(-0.5 * (d / s) * (d / s));
}

static double step_up(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

/* 0 = Monday .. 6 = Sunday; 1970-01-01 was a Thursday. */
static int weekday(int64_t ts_ms)
{
    return (int)(((ts_ms / MS_DAY) + 3) % 7);
}

double sim_load_shape(bool commercial, int64_t ts_ms)
{
    double h = (double)(ts_ms % MS_DAY) / 3600000.0;
    bool weekend = weekday(ts_ms) >= 5;

    if (commercial) {
        double open = step_up((h - 7.5) / 0.6) * step_up((18.5 - h) / 0.6);
        return 0.3 + (weekend ? 0.1 : 0.7) * open;
    }
    if (weekend)
        return 1.03 * (0.36 + 0.55 * bump(h, 9.5, 1.5) + 0.40 * bump(h, 13.5, 2.5) +
                       0.90 * bump(h, 19.0, 2.0));
    return 0.35 + 0.75 * bump(h, 7.5, 1.0) + 0.25 * bump(h, 13.0, 2.5) + 0.95 * bump(h, 19.0, 1.8);
}

double sim_load_profile_shape(enum sim_profile profile, int64_t ts_ms)
{
    if (profile != SIM_P_NIGHT)
        return sim_load_shape(profile == SIM_P_BUSINESS, ts_ms);
    /* Up at night (around 02:00) and in the afternoon, asleep in the morning: r < 0 vs a home's. */
    double h = (double)(ts_ms % MS_DAY) / 3600000.0;
    return 0.35 + 0.9 * bump(h, 2.0, 2.5) + 0.5 * bump(h, 14.5, 1.5);
}

double sim_load_season(int64_t ts_ms)
{
    double doy = fmod((double)ts_ms / (double)MS_DAY, 365.2425); /* day of the year, roughly */
    return 1.0 + 0.2 * cos(2 * PI * (doy - 15.0) / 365.2425);
}

double sim_load_kw(uint64_t seed, uint32_t meter, enum sim_profile profile, double scale,
                   int64_t ts_ms)
{
    double noise = sim_range(seed, meter, SIM_R_NOISE, (uint64_t)ts_ms, 1 - SIM_NOISE,
                             1 + SIM_NOISE);
    return scale * sim_load_profile_shape(profile, ts_ms) * sim_load_season(ts_ms) * noise;
}

double sim_load_max_kw(double scale)
{
    /* Shape peaks: 1.0 (business), about 1.25 (night), 1.35 (home, weekend evening). */
    return scale * 1.36 * 1.2 * (1 + SIM_NOISE);
}
