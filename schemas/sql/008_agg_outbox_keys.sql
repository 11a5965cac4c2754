-- 008_agg_outbox_keys: the aggregator's outbox, one row per batch and partition (DESIGN §5).
--
-- Same role as agg_outbox (007): the windows a committed batch must publish
-- to meter.rollups.1m/1h, written in the SAME transaction that closes or
-- changes them, deleted by the owner's next batch once Kafka acknowledged
-- them, republished by the next owner after a crash or a rebalance. The
-- published content is read from the rollup row, which the commit fixed.
--
-- agg_outbox holds one row per window: at one reading per meter-minute
-- every reading's 1-minute window passes through it, a heap row, an index
-- entry and a dead tuple each (~60 ms of a 20,000-reading batch's ~900 ms
-- to insert and delete, plus vacuum). Here each
-- (group, partition, width) of a batch is one row with the windows' keys
-- as two parallel arrays, so a batch writes and deletes a few dozen rows.
-- agg_outbox stays: the aggregator still reads and clears it, so rows an
-- older version left behind are published.
--
-- The arrays are stored uncompressed (STORAGE EXTERNAL): they live for one
-- batch, compressing them costs more than their bytes.
-- Re-runnable: IF NOT EXISTS. No BEGIN/COMMIT (the runner's).

CREATE TABLE IF NOT EXISTS agg_outbox_keys (
    consumer_group text          NOT NULL,
    partition      integer       NOT NULL CONSTRAINT agg_outbox_keys_partition_nonneg CHECK (partition >= 0),
    width          text          NOT NULL CONSTRAINT agg_outbox_keys_width CHECK (width IN ('1m', '1h')),
    meter_ids      text[]        NOT NULL,
    window_starts  timestamptz[] NOT NULL,
    CONSTRAINT agg_outbox_keys_same_length
        CHECK (cardinality(meter_ids) = cardinality(window_starts))
);

ALTER TABLE agg_outbox_keys ALTER COLUMN meter_ids SET STORAGE EXTERNAL;
ALTER TABLE agg_outbox_keys ALTER COLUMN window_starts SET STORAGE EXTERNAL;

CREATE INDEX IF NOT EXISTS agg_outbox_keys_group_partition_idx
    ON agg_outbox_keys (consumer_group, partition);

COMMENT ON TABLE agg_outbox_keys IS
    'rollup windows committed but not yet known to be published to Kafka, as key arrays per batch, partition and width (aggregator outbox)';
