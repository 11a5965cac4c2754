/*
 * wk_emit: the worker's output records as JSON (DESIGN §3.2 scored
 * reading, §3.3 alert), appended to an mf_buf.
 *
 * Deterministic: the same result gives the same bytes, so a repeat after a
 * crash is identical to its first copy. Times are UTC with milliseconds;
 * numbers and strings are mf_json's (the shortest decimal that reads back
 * to the same double; null if not finite).
 * Thread: any.
 */
#ifndef WK_EMIT_H
#define WK_EMIT_H

#include <stdint.h>

#include "mf_buf.h"
#include "mf_contract.h"
#include "mf_reading.h"
#include "wk_rules.h"

/*
 * The scored reading of r (validated or quarantine). Extra fields of the
 * input are carried through, except names the scored reading itself uses.
 * MF_OK or MF_EDATA (the buffer's maximum).
 */
int wk_emit_scored(struct mf_buf *b, const struct mf_reading *r, const struct wk_result *res,
                   struct mf_src src);

/* Interpolated reading k (1..res->n_interp) of the gap before r. */
int wk_emit_interp(struct mf_buf *b, const struct mf_reading *r, const struct wk_result *res,
                   uint32_t k, struct mf_src src);

/* An alert of meter r->meter_id. */
int wk_emit_alert(struct mf_buf *b, const char *meter_id, const struct wk_alert *a,
                  struct mf_src src);

#endif
