-- 013_agg_outbox_ranges: the 1-minute windows the watermark closes go to
-- the outbox as one range per batch and partition, not as their keys
-- (DESIGN §5).
--
-- At one reading per meter-minute a batch closes about as many 1-minute
-- windows as it has readings (20,000), and since 011 nothing is written to
-- their rows: the outbox was the only per-window write left of the close,
-- two TOASTed arrays of ~20,000 keys a batch (10-12 ms of a ~145 ms commit
-- at a quiet moment, plus building and parsing the text arrays).
--
-- The windows a batch's watermark closes in a partition are exactly the
-- rows of that partition (rollup_1m.part, 011) starting between the first
-- and the last of them: every row of the partition starting in that span
-- ends after the watermark stored before the batch (the first one does)
-- and at or before the one the batch stores (the last one does). So
-- (partition, first_start, last_start) names them all, and reading the rows
-- back after a crash or a rebalance republishes the same content and
-- revision the view shows (greatest(revision, 1), as for the keys). A row
-- in the span that a merge closed or late data changed since is read as it
-- is now: the topics are at least once, the highest revision is the true
-- one.
--
-- Written in the batch transaction with the watermark, read back and
-- cleared with agg_outbox_keys (which keeps the merged windows, the hours,
-- and the 1-minute closes while rows from before 011 are open: those are
-- still closed by an UPDATE of their keys). A database from before keeps
-- its agg_outbox_keys rows; they are read and cleared as before.
-- Re-runnable: IF NOT EXISTS. No BEGIN/COMMIT (the runner's).

CREATE TABLE IF NOT EXISTS agg_outbox_ranges (
    consumer_group text        NOT NULL,
    partition      integer     NOT NULL CONSTRAINT agg_outbox_ranges_partition_nonneg CHECK (partition >= 0),
    first_start    timestamptz NOT NULL,
    last_start     timestamptz NOT NULL,
    CONSTRAINT agg_outbox_ranges_ordered CHECK (first_start <= last_start)
);

CREATE INDEX IF NOT EXISTS agg_outbox_ranges_group_partition_idx
    ON agg_outbox_ranges (consumer_group, partition);

COMMENT ON TABLE agg_outbox_ranges IS
    'aggregator outbox: per batch and consumed partition, the span of window_start of the rollup_1m rows the watermark closed, committed but not yet known to be published';
