/*
 * ss_pg: source-sink's PostgreSQL side: the connection (reconnected on
 * demand), migrations, the registries, the stored offsets, and the one
 * transaction per batch that writes its rows and the next offsets of its
 * partitions together (sink_offsets, keyed by consumer group): after any
 * crash the tables and the offsets agree, so a record is stored once.
 *
 * Every call returns MF_OK, or MF_ERETRY (PostgreSQL away or refusing:
 * back off, re-read from the stored offsets) / MF_EFATAL (a migration
 * failed) with errbuf. Thread: the sink's main thread.
 */
#ifndef SS_PG_H
#define SS_PG_H

#include <stddef.h>
#include <stdint.h>

#include "ss_batch.h"
#include "ss_registry.h"

struct ss_pg;

/* dsn and group are copied; nothing connects until the first call. */
struct ss_pg *ss_pg_new(const char *dsn, const char *group);
void ss_pg_destroy(struct ss_pg *p);

/* Applies the migrations; the number applied (>= 0) or an error. */
int ss_pg_migrate(struct ss_pg *p, char *errbuf, size_t errlen);

/* Reloads the three registries into r. */
int ss_pg_load_registry(struct ss_pg *p, struct ss_registry *r, char *errbuf, size_t errlen);

/*
 * The stored next offsets of topic's partitions parts[0..n): out[i] is
 * the offset, or -1 when none is stored.
 */
int ss_pg_offsets(struct ss_pg *p, const char *topic, const int32_t *parts, size_t n, int64_t *out,
                  char *errbuf, size_t errlen);

/*
 * Writes the batch's rows and next offsets (topic names by kind in
 * topics[]) in one transaction. Creates the vehicle history's day
 * partitions the batch needs first, in a transaction of their own.
 */
int ss_pg_write(struct ss_pg *p, const struct ss_batch *b, const char *const *topics, char *errbuf,
                size_t errlen);

/*
 * The stores' upkeep: drops the review stores' day partitions older than
 * keep_days and the vehicle history's older than keep_vehicle_days (0:
 * none), *dropped of them in all, and gives the age in seconds of the
 * oldest pending row of quarantine_readings (oldest_s[SS_REV_QUARANTINE])
 * and dlq_records (oldest_s[SS_REV_DLQ]), 0 when none is pending. A
 * dropped day is made again when a record for it comes.
 */
int ss_pg_review_upkeep(struct ss_pg *p, int keep_days, int keep_vehicle_days,
                        double oldest_s[SS_REV_ALERTS], int *dropped, char *errbuf, size_t errlen);

#endif
