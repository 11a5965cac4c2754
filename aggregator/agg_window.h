/*
 * agg_window: the two tumbling event-time window widths (1 minute, 1 hour)
 * and how a timestamp maps to its window.
 *
 * Windows are cut in UTC on the epoch-ms integer line, so time zones and
 * DST cannot move a boundary. A window is [start, start + width); its key
 * packs start and width into one int64 (start is a multiple of 60000, so
 * the low bit is free). Times before the epoch are refused at the parser
 * (mf_time), never here. Thread: any (no state).
 */
#ifndef AGG_WINDOW_H
#define AGG_WINDOW_H

#include <stdint.h>

enum agg_width { AGG_W1M = 0, AGG_W1H = 1 };
#define AGG_NWIDTHS 2

struct agg_width_spec {
    const char *name;  /* "1m", "1h": the rollup's "width" and agg_outbox_keys.width */
    const char *table; /* rollup_1m, rollup_1h */
    int64_t ms;        /* window length */
};

extern const struct agg_width_spec agg_widths[AGG_NWIDTHS];

/* Start of the window of width w holding ts (ts >= 0). */
static inline int64_t agg_window_start(enum agg_width w, int64_t ts)
{
    return ts - ts % agg_widths[w].ms;
}

/* A window as one int64: start * 2 + width. */
static inline int64_t agg_window_key(enum agg_width w, int64_t start)
{
    return start * 2 + (int64_t)w;
}
static inline enum agg_width agg_key_width(int64_t key)
{
    return (enum agg_width)(key & 1);
}
static inline int64_t agg_key_start(int64_t key)
{
    return key >> 1;
}
/* Exclusive end of the window a key names. */
static inline int64_t agg_key_end(int64_t key)
{
    return agg_key_start(key) + agg_widths[agg_key_width(key)].ms;
}

#endif
