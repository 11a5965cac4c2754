/*
 * agg_commit: one batch into PostgreSQL as ONE transaction (DESIGN §5).
 *
 * agg_commit_write, in order:
 *   - the fence: each touched partition's stored next_offset in
 *     sink_offsets must still be the one this process loaded or last wrote
 *     (else another aggregator took the partition, or our own commit's
 *     answer was lost): then nothing is written (MF_ERETRY);
 *   - the previous batch's outbox rows, if its publish was acknowledged;
 *   - the new 1-minute windows that stay open: one binary COPY straight
 *     into rollup_1m; while PostgreSQL writes them (the larger part of the
 *     commit) this thread builds the other COPY streams and lists the
 *     windows closed from memory;
 *   - the hours' partials that are not merged (agg_hour_parts, for the
 *     region load) and the windows to merge (agg_stage: 1-minute windows
 *     not new, late data into a closed hour), binary-COPYed (agg_copy) into
 *     temp tables and merged by INSERT ... ON CONFLICT DO UPDATE with
 *     agg_funcs' SQL merge (a width with nothing to merge sends no
 *     statement); a window the watermark already passed is closed by that
 *     merge (born closed, or revision 0 -> 1), a closed window changed by
 *     late data gets the next revision;
 *   - the other 1-minute windows the watermark passed: nothing written to
 *     their rows (011); the outbox takes one span of window_start per
 *     partition (013), or their keys while rows from before 011 are open
 *     (those are closed by an UPDATE); the hours it passed: written once
 *     (012);
 *   - every window closed or changed after closing recorded in the outbox
 *     (agg_outbox) in the same transaction and appended to the caller's
 *     rows to publish after the commit (merged ones by RETURNING, binary;
 *     the others from the content the state holds);
 *   - meter_current_status (a late reading never replaces a newer one; an
 *     INSERT only when a meter had no row), source_positions with
 *     agg_watermarks and the spans (one statement), and last
 *     region_load_1h.
 * The statements are built once from constant fragments and the agg_funcs
 * columns; the staging tables are created once per session (temp, not
 * WAL-logged, emptied at every commit by ON COMMIT DELETE ROWS).
 *
 * Ownership: the handle borrows pg, which must outlive it; the batch stays
 * the caller's; rows are appended to the caller's agg_rows.
 * Thread: whichever owns the agg_pg connection: main, or the commit thread
 * while a batch is in flight (agg_committer).
 */
#ifndef AGG_COMMIT_H
#define AGG_COMMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agg_copy.h"
#include "agg_pg.h"
#include "agg_state.h"

struct agg_commit;

/* A handle over pg (borrowed), its statements built. Never NULL. */
struct agg_commit *agg_commit_new(struct agg_pg *pg);
/* Frees; NULL is a no-op. */
void agg_commit_destroy(struct agg_commit *cm);

/*
 * Writes batch b in one transaction. If clear_owned, the outbox rows of
 * owned[0..nowned) are deleted first (the previous batch's publish was
 * acknowledged). Rows to publish are appended to out (nothing is appended
 * on failure). MF_OK, MF_ERETRY (connection lost, or fenced: nothing was
 * written) or MF_EFATAL.
 */
int agg_commit_write(struct agg_commit *cm, const struct agg_batch *b, bool clear_owned,
                     const int32_t *owned, size_t nowned, struct agg_rows *out, char *errbuf,
                     size_t errlen);

#endif
