/*
 * sim_rng: stateless, reproducible randomness for the meter simulator.
 *
 * Every random choice is a hash of (seed, meter, purpose, index), never a
 * draw from a shared stream, so a meter's readings are the same whichever
 * thread generates them and in whatever order, and the registry, the run
 * and the truth file agree without sharing state. splitmix64's finalizer
 * mixes well enough for load noise and trouble placement; it is not for
 * anything secret. Thread: any (no state).
 */
#ifndef SIM_RNG_H
#define SIM_RNG_H

#include <stdint.h>

/* Purposes: one stream of numbers per use, so adding a use moves nothing else. */
enum sim_rng_use {
    SIM_R_CLASS = 1,
    SIM_R_MAXKW,
    SIM_R_CADENCE,
    SIM_R_VACANT,
    SIM_R_ACTIVE,
    SIM_R_PLACE,
    SIM_R_UNIT,
    SIM_R_SCALE,
    SIM_R_TROUBLE,
    SIM_R_TROUBLE_AT,
    SIM_R_TROUBLE_LEN,
    SIM_R_NOISE,
    SIM_R_SHAPE,
};

/* A 64-bit hash of the four inputs (splitmix64 finalizer over a mix of them). */
uint64_t sim_hash(uint64_t seed, uint64_t meter, uint64_t use, uint64_t k);

/* A uniform double in [0, 1) from the same inputs. */
double sim_unif(uint64_t seed, uint64_t meter, uint64_t use, uint64_t k);

/* A uniform double in [lo, hi). */
double sim_range(uint64_t seed, uint64_t meter, uint64_t use, uint64_t k, double lo, double hi);

#endif
