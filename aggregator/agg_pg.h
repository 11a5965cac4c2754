/*
 * agg_pg: everything the aggregator says to PostgreSQL.
 *
 *   - agg_pg_commit writes one batch as ONE transaction (DESIGN §5): it
 *     first fences on sink_offsets (each partition's stored next_offset must
 *     still be the one this process loaded or last wrote, else another
 *     aggregator took the partition and the batch is refused), then COPYs
 *     the pre-merged partials into a temp staging table and merges them into
 *     rollup_1m/rollup_1h with INSERT ... ON CONFLICT DO UPDATE (which also
 *     closes the windows of the batch the watermark already passed), marks
 *     the other windows the watermark passed as closed (revision 0 -> 1),
 *     upserts meter_current_status, source_positions, agg_watermarks and
 *     sink_offsets, and records in agg_outbox_keys every window it closed or
 *     changed after closing. The rows to publish come back to the caller.
 *   - agg_pg_load reads what a newly assigned partition needs: offsets,
 *     source positions, watermark, open windows.
 *   - the outbox: rows committed but not known to be published.
 *   - partitions: created ahead and on demand (outside the batch
 *     transaction, as 003 asks), dropped for retention.
 * Every statement is PQexecParams or COPY; no value is ever spliced into
 * SQL text (the statements are built once from constant fragments).
 * Returns follow mf_err: MF_ERETRY when the connection is gone or the batch
 * was fenced (reload and go on), MF_EFATAL for anything else.
 * Thread: main only (one connection).
 */
#ifndef AGG_PG_H
#define AGG_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agg_copy.h"
#include "agg_state.h"
#include "agg_window.h"

struct agg_pg;

/*
 * A handle for group/topic (copied). Not connected yet. The dsn is kept
 * (copied) for reconnects and never logged. Never NULL.
 */
struct agg_pg *agg_pg_new(const char *dsn, const char *group, const char *topic);
void agg_pg_destroy(struct agg_pg *pg);

/* Connects (if not connected) and prepares the session's temp tables. */
int agg_pg_connect(struct agg_pg *pg, char *errbuf, size_t errlen);
bool agg_pg_connected(const struct agg_pg *pg);
void agg_pg_disconnect(struct agg_pg *pg);

/* A round trip ("SELECT 1"), to notice a lost server while idle. */
int agg_pg_ping(struct agg_pg *pg, char *errbuf, size_t errlen);

/* Applies the migrations (advisory lock in mf_pg); returns how many, or an error. */
int agg_pg_migrate(struct agg_pg *pg, char *errbuf, size_t errlen);

/*
 * Loads the state of the assigned partitions parts[0..n) into st (which
 * the caller reset): offsets, watermarks, source positions, and the open
 * windows of the meters that hash (murmur2, as producers partition) to one
 * of them among `topic_partitions`.
 */
int agg_pg_load(struct agg_pg *pg, struct agg_state *st, const int32_t *parts, size_t n,
                int32_t topic_partitions, int64_t now_mono, char *errbuf, size_t errlen);

/* The outbox rows of parts (with their current content) appended to out. */
int agg_pg_outbox_read(struct agg_pg *pg, const int32_t *parts, size_t n, struct agg_rows *out,
                       char *errbuf, size_t errlen);
/* Deletes the outbox rows of parts (their publish was acknowledged). */
int agg_pg_outbox_clear(struct agg_pg *pg, const int32_t *parts, size_t n, char *errbuf,
                        size_t errlen);

/*
 * Writes batch b in one transaction. If clear_owned, the outbox rows of
 * owned[0..nowned) are deleted first (the previous batch's publish was
 * acknowledged). Rows to publish are appended to out. MF_OK, MF_ERETRY
 * (connection lost, or fenced: nothing was written) or MF_EFATAL.
 */
int agg_pg_commit(struct agg_pg *pg, const struct agg_batch *b, bool clear_owned,
                  const int32_t *owned, size_t nowned, struct agg_rows *out, char *errbuf,
                  size_t errlen);

/*
 * Makes sure the partitions holding every window of b exist, calling
 * meterflow_ensure_partitions in autocommit for the days/months not yet
 * known to exist. Cached; cheap when nothing is new.
 */
int agg_pg_ensure_for_batch(struct agg_pg *pg, const struct agg_batch *b, char *errbuf,
                            size_t errlen);
/* Creates partitions from now_ms's day/month through days_ahead days later. */
int agg_pg_ensure_ahead(struct agg_pg *pg, int64_t now_ms, int64_t days_ahead, char *errbuf,
                        size_t errlen);
/* Retention: drops partitions of width w entirely before cutoff_ms; returns how many. */
int agg_pg_drop_before(struct agg_pg *pg, enum agg_width w, int64_t cutoff_ms, char *errbuf,
                       size_t errlen);

#endif
