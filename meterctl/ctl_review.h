/*
 * ctl_review: the review commands of DESIGN §14 over the stores that
 * source-sink fills: `quarantine list|approve|reject`, `dlq list|replay|dismiss`,
 * `alerts list|ack`. Every change is one transaction with its audit rows.
 *
 * approve and replay publish, and must publish once however often they are
 * killed and rerun. Under an advisory lock (one publishing meterctl at a
 * time), per row:
 *   1. a row whose publish_* is set (an earlier run was stopped after 2):
 *      once the transactional producer is open (which aborts a killed
 *      run's open transaction), its partition is read from publish_from to
 *      the end for the row's id header: found = it was published, go to 4;
 *   2. where the record will go (topic, the key's partition) and that
 *      partition's end offset are written to publish_* and committed;
 *   3. the records are published in one Kafka transaction;
 *   4. status, who, why, the offset and the audit rows commit together.
 * A crash before 3's commit leaves nothing a read_committed reader (the
 * worker, the scan) sees, and the rerun publishes; a crash after it is
 * found by the rerun's scan and only recorded. So each approved reading
 * and replayed record is in its topic once, and the worker and aggregator
 * count it once (their own exactly-once).
 * Thread: main.
 */
#ifndef CTL_REVIEW_H
#define CTL_REVIEW_H

#include "ctl_cli.h"

int ctl_quarantine_list(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, const struct ctl_args *a);
int ctl_quarantine_approve(struct ctl_ctx *ctx, const struct ctl_cmd *cmd,
                           const struct ctl_args *a);
int ctl_quarantine_reject(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, const struct ctl_args *a);
int ctl_dlq_list(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, const struct ctl_args *a);
int ctl_dlq_replay(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, const struct ctl_args *a);
int ctl_dlq_dismiss(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, const struct ctl_args *a);
int ctl_alerts_list(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, const struct ctl_args *a);
int ctl_alerts_ack(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, const struct ctl_args *a);

#endif
