/*
 * agg_watermark: max-event-time-minus-lateness with an idle jump.
 */
#include "agg_watermark.h"

#include "mf_common.h"

void agg_watermark_init(struct agg_watermark *w, int64_t stored, int64_t now_mono)
{
    w->wm = stored;
    w->last_seen_ms = now_mono;
}

static bool advance(struct agg_watermark *w, int64_t to)
{
    if (w->wm != AGG_WM_NONE && to <= w->wm)
        return false;
    w->wm = to;
    return true;
}

bool agg_watermark_observe(struct agg_watermark *w, int64_t ts, int64_t lateness_ms,
                           int64_t now_mono)
{
    w->last_seen_ms = now_mono;
    return advance(w, ts - lateness_ms);
}

bool agg_watermark_idle(struct agg_watermark *w, int64_t now_wall, int64_t now_mono,
                        int64_t lateness_ms, int64_t idle_ms)
{
    if (now_mono - w->last_seen_ms < idle_ms)
        return false;
    return advance(w, now_wall - lateness_ms);
}
