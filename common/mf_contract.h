/*
 * mf_contract: the constants of DESIGN §3 that more than one program
 * reads or writes, defined once: the quality tiers with their thresholds
 * and wire names, and the source position `src` = {p, o, i}.
 *
 * The worker decides a reading's tier and writes it; the aggregator reads
 * it back by name and counts premium and standard readings per window; so
 * both take the names and the rule from here. Thread: any.
 */
#ifndef MF_CONTRACT_H
#define MF_CONTRACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* DESIGN §3.2: premium >= 90, standard 70..89, quarantine < 70 or any rejection reason. */
#define MF_QUALITY_PREMIUM  90
#define MF_QUALITY_STANDARD 70

/* The tiers, in mf_tier_names order. */
enum mf_tier { MF_TIER_PREMIUM, MF_TIER_STANDARD, MF_TIER_QUARANTINE, MF_TIER_COUNT };

/* "premium", "standard", "quarantine": the wire names (and meter_current_status.tier). */
extern const char *const mf_tier_names[MF_TIER_COUNT];

/* The tier of a quality score 0..100; any rejection reason makes it quarantine. */
enum mf_tier mf_tier_of(int quality, bool rejected);

/* The wire name of t (a valid tier). */
const char *mf_tier_name(enum mf_tier t);

/* The tier named s (NUL-terminated), exactly as on the wire: MF_OK and *t, or MF_EDATA. */
int mf_tier_parse(const char *s, enum mf_tier *t);

/*
 * A record's source position (DESIGN §3.2 "src"): partition and offset of
 * the raw record, and the index among that record's outputs. Outputs are
 * ordered by (p, o, i), and a repeat after a crash has the same src.
 */
struct mf_src {
    int32_t p;
    int64_t o;
    int32_t i;
};

/* <0, 0, >0 as a is before, equal to, after b in (p, o, i) order. */
static inline int mf_src_cmp(struct mf_src a, struct mf_src b)
{
    if (a.p != b.p)
        return a.p < b.p ? -1 : 1;
    if (a.o != b.o)
        return a.o < b.o ? -1 : 1;
    return a.i < b.i ? -1 : a.i > b.i ? 1 : 0;
}

#endif
