/*
 * sim_load: the simulated meters' load in kW at a moment.
 *
 * Residential: a night base, a morning peak (~07:30 on weekdays, later and
 * flatter at weekends), a midday shoulder and an evening peak (~19:00).
 * Commercial: a business-hours plateau on weekdays, near base at weekends.
 * Both carry a seasonal factor (winter higher), a per-meter scale and +-12 %
 * noise. Times are read as UTC clock time (the fleet lives at UTC+0).
 *
 * The shape is deliberately smooth: its largest/smallest ratio (about 3.8
 * for residential) times the noise stays under the worker's spike (+500 %)
 * and drop (-90 %) thresholds even across a 4 h gap, so every spike or drop
 * flag the worker raises comes from an injected one and scoring is exact.
 * Real 1-minute data has appliance steps (a kettle is 10x the base); this
 * model leaves them out for that reason.
 *
 * A meter's profile is its class's (the meters of a neighborhood share
 * one: sim_fleet places homes and businesses in neighborhoods of their
 * own) unless it was injected as atypical: a night-shift profile (active
 * from evening to early morning, quiet by day) or a meter wired to the
 * wrong premises (the other class's profile). Thread: any (pure).
 */
#ifndef SIM_LOAD_H
#define SIM_LOAD_H

#include <stdbool.h>
#include <stdint.h>

#define SIM_NOISE 0.12 /* multiplicative noise: a factor in [1 - N, 1 + N) */

enum sim_profile { SIM_P_HOME, SIM_P_BUSINESS, SIM_P_NIGHT };

/* The relative shape (about 0.3 .. 1.35), without season, scale or noise. */
double sim_load_shape(bool commercial, int64_t ts_ms);

/* The same for any profile (SIM_P_HOME and SIM_P_BUSINESS: sim_load_shape's). */
double sim_load_profile_shape(enum sim_profile profile, int64_t ts_ms);

/* Seasonal factor: 1.2 in mid-January, 0.8 in mid-July. */
double sim_load_season(int64_t ts_ms);

/*
 * A meter's load at ts_ms in kW: scale * shape * season * noise, the noise
 * a hash of (seed, meter, ts) so the same moment always reads the same.
 */
double sim_load_kw(uint64_t seed, uint32_t meter, enum sim_profile profile, double scale,
                   int64_t ts_ms);

/* The largest value sim_load_kw can return for this scale, any profile (the noise at its top). */
double sim_load_max_kw(double scale);

#endif
