/*
 * agg_outbox: the windows a committed batch must still publish, in
 * agg_outbox_keys (008) and agg_outbox_ranges (013).
 *
 * A batch that closes a window, or changes one closed before (late data),
 * records its key in the outbox in the SAME transaction (the statement
 * agg_outbox_append_insert builds is part of agg_commit's merge and close
 * statements). After the commit the windows are published; once Kafka
 * acknowledged all of them the owner's next transaction (or an idle tick,
 * or a revoke) clears its partitions' rows. What is left after a crash or
 * a rebalance is read back and published again by the next owner: at
 * least once, always with the content the rollup row holds (the commit
 * fixed it), so a repeat carries the same revision and values.
 *
 * Rows: one per (consumer group, consumed partition, width, batch), the
 * windows' keys as two parallel arrays (meter_ids, window_starts); a batch
 * writes and deletes a few dozen rows, not one per window. The 1-minute
 * windows the watermark closes (nearly one per reading) are not keyed: a
 * batch writes one agg_outbox_ranges row per partition, the span of their
 * window_start, which names exactly the partition's rows it closed (013).
 * agg_outbox (007), where an earlier build of this unreleased project kept
 * a row per window, is neither written nor read (the migration stays:
 * migrations are append-only).
 *
 * Invariant: only the owner of a partition writes or clears its rows (the
 * batch transaction is fenced on sink_offsets; clearing happens only while
 * the partitions are assigned). Returns follow agg_pg. Thread: main only
 * (it uses the agg_pg connection).
 */
#ifndef AGG_OUTBOX_H
#define AGG_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "mf_buf.h"
#include "agg_copy.h"
#include "agg_pg.h"
#include "agg_window.h"

/*
 * Appends to sql the CTE `ob AS (INSERT INTO agg_outbox_keys ...)` that
 * records the windows of `from` as width w's outbox, one row per
 * partition. `from` is a FROM item (a CTE name, or a parenthesized
 * subquery with its alias) with columns part, meter_id, window_start; $1
 * of the statement is the consumer group.
 */
void agg_outbox_append_insert(struct mf_buf *sql, enum agg_width w, const char *from);

/*
 * Appends to sql the CTE `ob AS (INSERT INTO agg_outbox_ranges ...)` that
 * records, per partition, the span of the 1-minute windows the watermark
 * closed: $part int[], $first and $last bigint[] (epoch ms of the first and
 * last window_start), parallel; $1 is the consumer group.
 */
void agg_outbox_append_range_insert(struct mf_buf *sql, int part, int first, int last);

/*
 * Appends the outbox windows of parts[0..n), with the content their rollup
 * rows hold now (closed windows only), to out; each as a republish
 * (first_close false).
 */
int agg_outbox_read(struct agg_pg *pg, const int32_t *parts, size_t n, struct agg_rows *out,
                    char *errbuf, size_t errlen);

/*
 * Deletes the outbox rows (keys and ranges) of parts[0..n) (their publish was acknowledged).
 * In the caller's transaction if one is open (agg_commit clears the last
 * batch's rows inside the next batch), else on its own.
 */
int agg_outbox_clear(struct agg_pg *pg, const int32_t *parts, size_t n, char *errbuf,
                     size_t errlen);

#endif
