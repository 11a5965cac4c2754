/*
 * agg_partitions: the rollup tables' partitions, kept up: rollup_1m by
 * day, rollup_1h by month (003).
 *
 *   - created ahead (agg_partitions_ensure_ahead: `aggregator migrate` and
 *     every AGG_PARTITIONS_AHEAD_DAYS round) and on demand before a batch
 *     writes a day or month not seen yet (agg_partitions_ensure_for_batch),
 *     in autocommit outside the batch transaction, as 003 asks (creating a
 *     partition takes a lock the batch must not hold);
 *   - dropped whole for retention (agg_partitions_drop_before), in a
 *     transaction of its own with a 5 s lock timeout.
 * The SQL is 003's functions (meterflow_ensure_partitions,
 * meterflow_drop_partitions_before); this module decides when to call them.
 *
 * Partitions known to exist are cached (a batch mostly writes the days it
 * wrote before); a drop through this handle empties the cache. Windows
 * older than the retention are not written at all (agg_state's cut-off),
 * so a late reading cannot recreate a dropped partition.
 * Ownership: the handle borrows pg, which must outlive it.
 * Thread: whichever owns the agg_pg connection: main, or the commit thread
 * while a batch is in flight (agg_committer).
 */
#ifndef AGG_PARTITIONS_H
#define AGG_PARTITIONS_H

#include <stddef.h>
#include <stdint.h>

#include "agg_pg.h"
#include "agg_state.h"
#include "agg_window.h"

struct agg_partitions;

/* A handle over pg (borrowed), with an empty cache. Never NULL. */
struct agg_partitions *agg_partitions_new(struct agg_pg *pg);
/* Frees; NULL is a no-op. */
void agg_partitions_destroy(struct agg_partitions *p);

/*
 * Makes sure the partitions holding every window of b exist, calling
 * meterflow_ensure_partitions in autocommit for the days/months not yet
 * known to exist. Cheap when nothing is new. MF_OK, MF_ERETRY or MF_EFATAL.
 */
int agg_partitions_ensure_for_batch(struct agg_partitions *p, const struct agg_batch *b,
                                    char *errbuf, size_t errlen);
/* Creates partitions from now_ms's day/month through days_ahead days later. */
int agg_partitions_ensure_ahead(struct agg_partitions *p, int64_t now_ms, int64_t days_ahead,
                                char *errbuf, size_t errlen);
/* Retention: drops partitions of width w entirely before cutoff_ms (for 1h, region_load_1h's
 * hours of those months too, same transaction); returns how many, or an error (< 0). */
int agg_partitions_drop_before(struct agg_partitions *p, enum agg_width w, int64_t cutoff_ms,
                               char *errbuf, size_t errlen);

#endif
