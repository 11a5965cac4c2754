/*
 * agg_state: what one aggregator holds in memory for its assigned
 * partitions, and the batch it is building.
 *
 * PostgreSQL is the truth; this is a cache of it plus the batch in flight:
 *   - per partition: the offset PostgreSQL stored (the fencing token of the
 *     next commit), the next offset to consume, the source positions
 *     (highest src applied per source partition) and the watermark;
 *   - per meter: its open windows (the window key and the content stored
 *     in PostgreSQL, 88 bytes each) and its latest reading for
 *     meter_current_status;
 *   - the batch: partials pre-merged per (meter, window) in a hash map, so
 *     no key reaches PostgreSQL twice in one batch.
 * Memory is bounded by the open windows and meters of the assigned
 * partitions plus a batch map sized once from batch_max.
 *
 * There is no rollback: when a batch's transaction fails or a rebalance
 * comes, the caller drops everything (agg_state_reset) and reloads from
 * PostgreSQL, which is cheaper to get right than undoing each change.
 * Thread: main only. While a batch commits (agg_committer) the commit
 * thread reads its arrays and meters: the state must not change until then.
 */
#ifndef AGG_STATE_H
#define AGG_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mf_contract.h"
#include "agg_funcs.h"
#include "agg_record.h"
#include "agg_watermark.h"
#include "agg_window.h"

struct agg_state;

/*
 * A pre-merged window partial of the batch. meter_id points into the state.
 * close: the watermark passed the window's end by the time the batch was
 * built, so the merge closes it too (one write instead of a merge and a
 * close); the window is also in the batch's closes, flagged merged.
 */
struct agg_entry {
    const char *meter_id;
    int64_t key; /* agg_window_key */
    int32_t part;
    bool close;
    /*
     * PostgreSQL cannot hold the window yet: it was not open and its end is
     * after the partition's stored watermark (so not a closed window late
     * data reopens). Such a row is appended (COPY), not merged.
     */
    bool fresh;
    /* Open before this batch (in memory). */
    bool known;
    struct agg_acc acc;
};

/*
 * A window whose end the watermark passed: to be marked closed and
 * published. merged: it has a partial in the batch (flagged close).
 * late: that partial belongs to a window closed before (its row exists,
 * closed), which the merge changes; acc is then only the partial.
 * Otherwise acc is the window's whole content, the batch's partial
 * included: a 1-hour window is written from it (012).
 */
struct agg_close {
    const char *meter_id;
    int64_t key;
    int32_t part;
    bool merged;
    bool late;
    struct agg_acc acc;
};

/*
 * Whether the commit publishes a close from its content in memory (true),
 * or from the row its merge returns: a 1-minute window the batch merged
 * into, an hour closed before that late data changes.
 */
static inline bool agg_close_from_memory(const struct agg_close *c)
{
    return agg_key_width(c->key) == AGG_W1M ? !c->merged : !c->late;
}

/* The latest reading of a meter in this batch (meter_current_status). */
struct agg_status {
    const char *meter_id;
    int64_t ts;
    double value_kw;
    int quality;
    enum mf_tier tier;
};

/* A source position to store (source_positions). */
struct agg_src_pos {
    int32_t part;
    struct mf_src src;
};

/* A partition touched by the batch: offsets to fence and store, watermark to store. */
struct agg_part_pos {
    int32_t part;
    int64_t expect; /* next_offset stored in PostgreSQL now; -1: no row */
    int64_t next;   /* next_offset to store; -1: none consumed yet */
    int64_t wm;     /* AGG_WM_NONE when none */
};

/* The batch as arrays; owned by the state, valid until the next mutating call. */
struct agg_batch {
    const struct agg_entry *entries;
    size_t nentries;
    const struct agg_close *closes;
    size_t ncloses;
    const struct agg_status *statuses;
    size_t nstatuses;
    const struct agg_src_pos *srcs;
    size_t nsrcs;
    const struct agg_part_pos *parts;
    size_t nparts;
    size_t nrecords; /* records applied (duplicates and stale ones excluded) */
};

enum agg_add_result {
    AGG_ADD_APPLIED = 0, /* merged into the batch */
    AGG_ADD_DUPLICATE,   /* src not above the stored position: a worker's repeat */
    AGG_ADD_STALE,       /* offset below the partition's next offset: already applied */
    AGG_ADD_UNASSIGNED,  /* partition not assigned (a record from before a rebalance) */
};

/*
 * A state whose batch holds at most batch_max records. lateness_ms and
 * idle_ms drive the watermarks. Never NULL; free with agg_state_destroy.
 */
struct agg_state *agg_state_new(size_t batch_max, int64_t lateness_ms, int64_t idle_ms);
void agg_state_destroy(struct agg_state *st);

/* Forgets every partition, meter, open window and the batch. */
void agg_state_reset(struct agg_state *st);

/*
 * Loading after an assignment: a partition with the offset and watermark
 * PostgreSQL stored (-1 / AGG_WM_NONE when none), a stored source
 * position, an open window (key) of a meter owned by partition part.
 */
void agg_state_assign(struct agg_state *st, int32_t part, int64_t stored_next, int64_t stored_wm,
                      int64_t now_mono);
void agg_state_load_src(struct agg_state *st, int32_t part, int32_t src_p, int64_t o, int32_t i);
void agg_state_load_open(struct agg_state *st, const char *meter_id, int32_t part, int64_t key,
                         const struct agg_acc *acc);

/* 1 if part is assigned. */
bool agg_state_assigned(const struct agg_state *st, int32_t part);

/*
 * Per-width retention: windows starting before cutoff_ms are not written
 * (their partitions are dropped; writing would only recreate them). 0: none.
 */
void agg_state_set_cutoff(struct agg_state *st, enum agg_width w, int64_t cutoff_ms);

/*
 * Adds one parsed record consumed at (part, offset). *late is set when its
 * 1-minute window had already closed; *expired gets bit w set for each
 * width w skipped for retention. The batch must not be full (agg_state_batch_full).
 */
enum agg_add_result agg_state_add(struct agg_state *st, int32_t part, int64_t offset,
                                  const struct agg_record *rec, int64_t now_mono, bool *late,
                                  int *expired);

/*
 * Notes a consumed offset whose record could not be parsed: it is skipped,
 * but the partition's next offset moves past it, so it is never read again.
 */
void agg_state_skip(struct agg_state *st, int32_t part, int64_t offset);

/* Runs the idle flush of every partition; true if any watermark moved. */
bool agg_state_tick(struct agg_state *st, int64_t now_wall, int64_t now_mono);

/* Records in the batch, and whether it reached batch_max. */
size_t agg_state_batch_records(const struct agg_state *st);
bool agg_state_batch_full(const struct agg_state *st);

/*
 * Finishes the batch: collects the windows whose end the watermark passed
 * (removing them from the open sets; those with a partial in the batch are
 * flagged close on their entry and merged in closes) and fills b. True if there is
 * anything to write (windows, closes or a moved offset; a watermark that
 * moved alone waits for the next write).
 */
bool agg_state_build(struct agg_state *st, struct agg_batch *b);

/* The batch's transaction committed: stored offsets/watermarks catch up, the batch empties. */
void agg_state_committed(struct agg_state *st);

/* The next offset of part to hand Kafka as a commit hint, or -1. */
int64_t agg_state_next_offset(const struct agg_state *st, int32_t part);

/* Newest event time applied so far (ms), or AGG_WM_NONE. */
int64_t agg_state_newest_event(const struct agg_state *st);

/* Open windows held, and the bytes the meters and open windows take. */
size_t agg_state_open_windows(const struct agg_state *st);
size_t agg_state_memory_bytes(const struct agg_state *st);

#endif
