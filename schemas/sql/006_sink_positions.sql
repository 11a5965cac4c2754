-- 006_sink_positions: the aggregator's exactly-once bookkeeping (DESIGN §5).
--
-- Both tables are written in the SAME transaction as the rollups they
-- account for, so after any crash the tables and these positions agree:
--   sink_offsets      the next Kafka offset to consume per (group, topic,
--                     partition); on assignment the aggregator seeks here,
--                     not to Kafka's committed offsets.
--   source_positions  the highest source position (src p, o, i of DESIGN
--                     §3.2) applied per consumed validated-topic partition
--                     and raw-topic partition; a record whose src is not
--                     above it is a worker's repeat and is dropped.
-- Re-runnable: IF NOT EXISTS. No BEGIN/COMMIT (the runner's).

CREATE TABLE IF NOT EXISTS sink_offsets (
    consumer_group text    NOT NULL,
    topic          text    NOT NULL,
    partition      integer NOT NULL CONSTRAINT sink_offsets_partition_nonneg CHECK (partition >= 0),
    next_offset    bigint  NOT NULL CONSTRAINT sink_offsets_next_offset_nonneg CHECK (next_offset >= 0),
    CONSTRAINT sink_offsets_pkey PRIMARY KEY (consumer_group, topic, partition)
);

COMMENT ON TABLE sink_offsets IS
    'next offset to consume per (group, topic, partition), committed with the rollups it produced';

CREATE TABLE IF NOT EXISTS source_positions (
    consumer_group text    NOT NULL,
    -- The consumed partition of the validated topic.
    partition      integer NOT NULL CONSTRAINT source_positions_partition_nonneg CHECK (partition >= 0),
    -- The raw-topic position the applied record came from (its src).
    src_partition  integer NOT NULL CONSTRAINT source_positions_src_partition_nonneg CHECK (src_partition >= 0),
    src_offset     bigint  NOT NULL CONSTRAINT source_positions_src_offset_nonneg CHECK (src_offset >= 0),
    src_index      integer NOT NULL CONSTRAINT source_positions_src_index_nonneg CHECK (src_index >= 0),
    CONSTRAINT source_positions_pkey PRIMARY KEY (consumer_group, partition, src_partition)
);

COMMENT ON TABLE source_positions IS
    'highest (src_offset, src_index) applied per (group, consumed partition, source partition): drops worker repeats';
