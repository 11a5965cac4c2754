/*
 * sim_truth: what was injected and what the fleet should make of it.
 *
 * The truth file is JSON lines. The first line describes the run
 *   {"kind":"run","seed":42,"meters":5000,"start":"...","end":"...","readings":N,...}
 * then one line per injected trouble
 *   {"meter_id":"MTR-00012","kind":"stuck","start":"...","end":"...",
 *    "expect":{"alert":"stuck_value","flags":{}},"note":"..."}
 * and summary lines for what is not per meter ("units", "malformed").
 * "expect" follows the worker's own definitions and its default RULE_*
 * thresholds (sim_params), e.g. a zero run is measured from its first
 * reading's time to the current reading's time and alarms at >= 48 h, so a
 * zero meter whose readings span less than that is expected NOT to alarm:
 * scoring is then fair to the worker. Thread: main.
 */
#ifndef SIM_TRUTH_H
#define SIM_TRUTH_H

#include <stdint.h>
#include <stdio.h>

#include "sim_fleet.h"

/* Readings the run sends, by style, and in total (a full pass over every generator). */
struct sim_totals {
    uint64_t readings;
    uint64_t by_style[SIM_U_COUNT];
    uint64_t by_trouble[SIM_T_COUNT]; /* meters with each trouble */
};

void sim_truth_totals(const struct sim_fleet *f, struct sim_totals *t);

/*
 * The alert type a meter's trouble should raise by the worker's rules, or
 * NULL for none (no such alert expected, e.g. a vacant zero meter or a
 * stuck run shorter than RULE_STUCK_S).
 */
const char *sim_truth_expected_alert(const struct sim_params *p, const struct sim_meter *m);

/* Writes the whole truth file. MF_OK or MF_EFATAL (write error). */
int sim_truth_write(const struct sim_fleet *f, FILE *out);

#endif
