-- 052_dlq_rejected: a DLQ record not worth replaying gets a final status
-- (DESIGN §14 lists pending, approved, rejected, replayed): `meterctl dlq
-- dismiss` sets `rejected`, with its audit row, so the record no longer
-- ages into the review SLA (meterflow_review_oldest_pending_seconds counts
-- pending rows only).
-- Re-runnable: the check is dropped and added again. On a partitioned table
-- both recurse to every day partition, and partitions made later inherit it.
-- No BEGIN/COMMIT (the runner's).

ALTER TABLE dlq_records DROP CONSTRAINT IF EXISTS dlq_records_status_check;
ALTER TABLE dlq_records ADD CONSTRAINT dlq_records_status_check
    CHECK (status IN ('pending', 'replayed', 'rejected'));
