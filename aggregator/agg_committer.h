/*
 * agg_committer: a batch's PostgreSQL work (partitions on demand, then
 * agg_commit_write) on a thread of its own, so the main thread reads and
 * parses the next records while the last batch commits. Parsing is a
 * third of the program's time per reading and needs nothing the commit
 * changes; applying parsed records to agg_state waits for the commit
 * (the caller queues them), so the state's rules stay single-threaded.
 *
 * Between agg_committer_start and agg_committer_finish the thread owns:
 * the agg_pg connection and every handle over it (agg_commit,
 * agg_partitions: the caller must not use them), the batch (its arrays
 * live in the agg_state, which must not be changed), owned[] and out.
 * Ownership: the committer borrows cm and parts, which must outlive it.
 * Thread: the caller's calls from one thread (main); the work on its own.
 */
#ifndef AGG_COMMITTER_H
#define AGG_COMMITTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agg_commit.h"
#include "agg_copy.h"
#include "agg_partitions.h"
#include "agg_state.h"

struct agg_committer;

/* Starts the thread. Never NULL (dies when no thread can be made). */
struct agg_committer *agg_committer_new(struct agg_commit *cm, struct agg_partitions *parts);
/* Waits for a batch in flight (its outcome is dropped), stops the thread, frees; NULL: no-op. */
void agg_committer_destroy(struct agg_committer *c);

/*
 * Hands batch b to the thread: agg_partitions_ensure_for_batch, then
 * agg_commit_write(b, clear_owned, owned, nowned, out). Not while busy.
 */
void agg_committer_start(struct agg_committer *c, const struct agg_batch *b, bool clear_owned,
                         const int32_t *owned, size_t nowned, struct agg_rows *out);

/* A batch was started and not finished yet (it may be done). */
bool agg_committer_busy(const struct agg_committer *c);

/* Waits up to timeout_ms (0: a look) for the batch in flight; true when none is running. */
bool agg_committer_done(struct agg_committer *c, int timeout_ms);

/*
 * Waits for the batch in flight and takes its outcome: agg_commit_write's
 * (or the partitions' when they failed first) with errbuf filled, and in
 * *commit_us how long agg_commit_write took (us). Not busy afterwards. MF_OK
 * when nothing was in flight.
 */
int agg_committer_finish(struct agg_committer *c, int64_t *commit_us, char *errbuf, size_t errlen);

#endif
