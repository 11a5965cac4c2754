-- 007_agg_outbox_watermarks: the aggregator's publish outbox and watermarks (DESIGN §5).
--
-- agg_outbox     windows whose merged row a committed batch must publish to
--                meter.rollups.1m/1h (closed now, or closed and changed by
--                late data). Written in the SAME transaction that closes or
--                changes them; deleted by the next batch of the same owner
--                once Kafka acknowledged the records. What is left here after
--                a crash or a rebalance is republished by the next owner (at
--                least once; a duplicate carries the same revision and
--                content). It only ever holds the last batch's windows.
-- agg_watermarks the event-time watermark per consumed partition, also
--                written with each batch, so a restarted or rebalanced
--                aggregator closes windows and counts late data exactly as
--                the previous owner would have.
-- Re-runnable: IF NOT EXISTS. No BEGIN/COMMIT (the runner's).

CREATE TABLE IF NOT EXISTS agg_outbox (
    consumer_group text        NOT NULL,
    partition      integer     NOT NULL CONSTRAINT agg_outbox_partition_nonneg CHECK (partition >= 0),
    width          text        NOT NULL CONSTRAINT agg_outbox_width CHECK (width IN ('1m', '1h')),
    meter_id       text        NOT NULL,
    window_start   timestamptz NOT NULL
);

-- Deleted and read by (group, partition); small, but never scanned whole.
CREATE INDEX IF NOT EXISTS agg_outbox_group_partition_idx ON agg_outbox (consumer_group, partition);

COMMENT ON TABLE agg_outbox IS
    'rollup windows committed but not yet known to be published to Kafka (aggregator outbox)';

CREATE TABLE IF NOT EXISTS agg_watermarks (
    consumer_group text        NOT NULL,
    partition      integer     NOT NULL CONSTRAINT agg_watermarks_partition_nonneg CHECK (partition >= 0),
    -- Event time in ms since the epoch: windows ending at or before it are closed.
    watermark_ms   bigint      NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT agg_watermarks_pkey PRIMARY KEY (consumer_group, partition)
);

COMMENT ON TABLE agg_watermarks IS
    'event-time watermark per (group, consumed partition) of the aggregator, written with each batch';
