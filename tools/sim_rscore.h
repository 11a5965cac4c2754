/*
 * sim_rscore: reading-level scoring of the faults a rate-of-change rule
 * exists for (DESIGN §4 rules 5 and 6): which injected faults the worker
 * flagged, and how many good readings it flagged spike or drop.
 *
 * Fed the injected faults (meter, kind, time of the first and last
 * affected reading: the truth file's lines, or the fleet itself) and every
 * scored reading the worker emitted with its flags (validated and
 * quarantine, not interpolated; a repeat of a (meter, ts) counts once). A
 * fault is detected when any of its readings carries spike, drop,
 * over_limit or negative_value. A false flag is a spike or drop on a
 * reading outside every injected fault of its meter, counted per thousand
 * scored readings: the return from a dropout flagged spike is one (the
 * reading is good). Used by `meter-sim score` (the demo) and by
 * test_wk_roc (the rules in process). Thread: one owner.
 */
#ifndef SIM_RSCORE_H
#define SIM_RSCORE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* A scored reading's flags that matter here. */
enum {
    SIM_RS_SPIKE = 1 << 0,
    SIM_RS_DROP = 1 << 1,
    SIM_RS_OVER_LIMIT = 1 << 2,
    SIM_RS_NEGATIVE = 1 << 3,
};

/* The flag bit of a worker flag name ("spike"), or 0 when it is none of these. */
unsigned sim_rscore_flag(const char *name);

struct sim_rscore;

struct sim_rscore *sim_rscore_new(void);
void sim_rscore_destroy(struct sim_rscore *rs);

/*
 * An injected fault of truth kind `kind` ("glitch"). Kinds that are not
 * reading-level faults (gaps, stuck runs...) are ignored; returns whether
 * it was taken.
 */
bool sim_rscore_inject(struct sim_rscore *rs, const char *meter, const char *kind,
                       int64_t first_ts_ms, int64_t last_ts_ms);

/* One scored reading and its SIM_RS_* flags. */
void sim_rscore_reading(struct sim_rscore *rs, const char *meter, int64_t ts_ms, unsigned flags);

#define SIM_RS_KINDS 7

struct sim_rscore_sum {
    const char *kind[SIM_RS_KINDS];
    long injected[SIM_RS_KINDS], detected[SIM_RS_KINDS];
    long readings;    /* scored readings (repeats once) */
    long rate_flags;  /* of them flagged spike or drop */
    long false_flags; /* of those, outside every injected fault */
};

/* Scores what was fed so far. */
void sim_rscore_sum(struct sim_rscore *rs, struct sim_rscore_sum *out);

/* Prints the table (and "score.reading.<kind> ..." lines with kv). */
void sim_rscore_print(const struct sim_rscore_sum *s, FILE *out, bool kv);

#endif
