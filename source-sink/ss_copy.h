/*
 * ss_copy: a batch's vehicle reports as the two binary COPY streams
 * (common/mf_pgcopy) ss_pg sends, built without I/O so the order and the
 * collapsing are unit-tested alone:
 *
 *   history  (vehicle_id, ts, soc_pct, kwh_delivered_dc, battery_temp_c):
 *            sorted by (vehicle_id, ts), each (vehicle, ts) once: of a
 *            repeat within the batch the first consumed is kept, as ON
 *            CONFLICT DO NOTHING keeps the first stored
 *   status   (vehicle_id, ts, soc_pct, battery_temp_c): one row per
 *            vehicle, its newest report by event time (of equal times the
 *            last consumed), as the hot path wants
 *
 * Why here and not in SQL: with no repeat inside the batch the history
 * can be COPYed straight into its table (no staging, no conflict check,
 * no DISTINCT sort on the server); sorted, the rows meet the
 * (vehicle_id, ts) index in its order.
 * Thread: the caller's.
 */
#ifndef SS_COPY_H
#define SS_COPY_H

#include <stddef.h>
#include <stdint.h>

#include "mf_buf.h"
#include "ss_batch.h"

struct ss_copy_key; /* ss_copy.c: the sort's scratch */

struct ss_copy {
    struct mf_buf history, status; /* complete streams after ss_copy_vehicles */
    size_t nhistory, nstatus;      /* their rows */
    size_t repeats;                /* reports collapsed within the batch */
    struct ss_copy_key *keys;
    size_t capkeys;
};

void ss_copy_init(struct ss_copy *c);
void ss_copy_release(struct ss_copy *c);

/*
 * Builds both streams from b's vehicle rows. MF_OK, or MF_EDATA when a
 * number cannot be sent (not finite: the parse refuses those, so a bug).
 */
int ss_copy_vehicles(struct ss_copy *c, const struct ss_batch *b);

#endif
