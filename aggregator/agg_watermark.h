/*
 * agg_watermark: the event-time watermark of one consumed partition
 * (DESIGN §5).
 *
 * watermark = max(event time seen) - lateness, and after idle_ms of wall
 * clock without a record it jumps to (wall clock - lateness), so windows of
 * quiet partitions and of replayed history still close. It never moves
 * backwards. A window [start, end) is closed once end <= watermark; a
 * reading whose 1-minute window is already closed is "late" (it still
 * merges, and its windows republish). Pure value type, clock passed in, so
 * tests drive it without sleeping. Thread: the owner's.
 */
#ifndef AGG_WATERMARK_H
#define AGG_WATERMARK_H

#include <stdbool.h>
#include <stdint.h>

/* No watermark yet: every window is open, nothing is late. */
#define AGG_WM_NONE INT64_MIN

struct agg_watermark {
    int64_t wm;           /* AGG_WM_NONE or ms */
    int64_t last_seen_ms; /* monotonic time of the last record (or of the reset) */
};

/* Starts with a stored watermark (AGG_WM_NONE if none) at monotonic time now_mono. */
void agg_watermark_init(struct agg_watermark *w, int64_t stored, int64_t now_mono);

/*
 * Notes a record with event time ts seen at monotonic time now_mono.
 * Returns true if the watermark moved.
 */
bool agg_watermark_observe(struct agg_watermark *w, int64_t ts, int64_t lateness_ms,
                           int64_t now_mono);

/*
 * The idle flush: if no record came for idle_ms, moves the watermark to
 * now_wall - lateness_ms (if that is ahead). Returns true if it moved.
 */
bool agg_watermark_idle(struct agg_watermark *w, int64_t now_wall, int64_t now_mono,
                        int64_t lateness_ms, int64_t idle_ms);

/* True if a window ending at end (exclusive) is closed under w. */
static inline bool agg_watermark_passed(const struct agg_watermark *w, int64_t end)
{
    return w->wm != AGG_WM_NONE && end <= w->wm;
}

#endif
