/*
 * sim_rng: splitmix64 as a hash. Each input is folded in with a multiply by
 * a distinct odd constant before the finalizer, so (meter 1, k 2) and
 * (meter 2, k 1) do not collide.
 */
#include "sim_rng.h"

#include "mf_common.h"

static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t sim_hash(uint64_t seed, uint64_t meter, uint64_t use, uint64_t k)
{
    uint64_t z = mix(seed + 0x9e3779b97f4a7c15ULL);
    z = mix(z ^ (meter * 0xd6e8feb86659fd93ULL));
    z = mix(z ^ (use * 0xa0761d6478bd642fULL));
    return mix(z ^ (k * 0xe7037ed1a0b428dbULL));
}

double sim_unif(uint64_t seed, uint64_t meter, uint64_t use, uint64_t k)
{
    /* The top 53 bits: every double in [0, 1) on a 2^-53 grid. */
    return (double)(sim_hash(seed, meter, use, k) >> 11) * 0x1.0p-53;
}

double sim_range(uint64_t seed, uint64_t meter, uint64_t use, uint64_t k, double lo, double hi)
{
    return lo + (hi - lo) * sim_unif(seed, meter, use, k);
}
