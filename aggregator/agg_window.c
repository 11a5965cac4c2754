/*
 * agg_window: the window widths table.
 */
#include "agg_window.h"

#include "mf_common.h"

const struct agg_width_spec agg_widths[AGG_NWIDTHS] = {
    [AGG_W1M] = {"1m", "rollup_1m", 60 * 1000},
    [AGG_W1H] = {"1h", "rollup_1h", 60 * 60 * 1000},
};
