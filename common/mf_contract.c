/*
 * mf_contract: the tier rule and names of DESIGN §3.2.
 */
#include "mf_contract.h"

#include <string.h>

#include "mf_common.h"

const char *const mf_tier_names[MF_TIER_COUNT] = {"premium", "standard", "quarantine"};

enum mf_tier mf_tier_of(int quality, bool rejected)
{
    if (rejected || quality < MF_QUALITY_STANDARD)
        return MF_TIER_QUARANTINE;
    return quality >= MF_QUALITY_PREMIUM ? MF_TIER_PREMIUM : MF_TIER_STANDARD;
}

const char *mf_tier_name(enum mf_tier t)
{
    MF_ASSERT((unsigned)t < MF_TIER_COUNT);
    return mf_tier_names[t];
}

int mf_tier_parse(const char *s, enum mf_tier *t)
{
    for (int i = 0; i < MF_TIER_COUNT; i++) {
        if (strcmp(s, mf_tier_names[i]) == 0) {
            *t = (enum mf_tier)i;
            return MF_OK;
        }
    }
    return MF_EDATA;
}
