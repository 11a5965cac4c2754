/*
 * sim_cscore: the neighborhood_correlation fault (DESIGN §13) scored
 * against the truth: the atypical profiles the simulator injected
 * (night_shift, wrong_premises) against the meters the aggregator raised
 * the alert for. Detected and missed count the atypical meters the truth
 * expects judged (sim_truth); a false alarm is a raise for any meter
 * without an atypical profile, and those are also listed by the trouble
 * they carry (a 10-100x glitch in one hour can pull a meter's week away
 * from its neighbours'). The judged count comes from the aggregator's own
 * gauge, so the false-alarm rate is of the meters it really judged.
 * Thread: one struct per thread.
 */
#ifndef SIM_CSCORE_H
#define SIM_CSCORE_H

#include <stdbool.h>
#include <stdio.h>

struct sim_cscore;

struct sim_cscore *sim_cscore_new(void);
void sim_cscore_destroy(struct sim_cscore *cs);

/* A truth line's meter: its kind ("none" for none), and whether the truth expects the alert. */
void sim_cscore_truth(struct sim_cscore *cs, const char *meter, const char *kind, bool expected);

/* The truth's "correlation" line: how many meters it expects judged at least. */
void sim_cscore_judged_at_least(struct sim_cscore *cs, long n);

/* A neighborhood_correlation record from meter.alerts (raised or cleared). */
void sim_cscore_alert(struct sim_cscore *cs, const char *meter, bool raised);

/*
 * Prints the score (judged: the aggregator's count, or < 0 when unknown)
 * and, with kv, a "score.correlation ..." line for scripts.
 */
void sim_cscore_print(struct sim_cscore *cs, double judged, FILE *out, bool kv);

#endif
