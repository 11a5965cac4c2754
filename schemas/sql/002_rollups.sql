-- 002_rollups: the aggregator's 1-minute and 1-hour windows (DESIGN §5, §6).
--
-- One row per (meter, window), merged in place by the aggregator's
-- INSERT ... ON CONFLICT DO UPDATE, so a row always equals the rollup of every
-- reading of its window consumed so far. The columns are the mergeable
-- partials (count, sum, min, max, m2, ...); averages and deviations are
-- derived in the *_stats views (004), never stored.
--
-- Range-partitioned on window_start: rollup_1m by UTC day
-- (rollup_1m_pYYYYMMDD), rollup_1h by UTC month (rollup_1h_pYYYYMM).
-- Partitions are made ahead by meterflow_ensure_partitions() (003) and
-- dropped for retention by meterflow_drop_partitions_before(). There is
-- deliberately no DEFAULT partition: a row with nowhere to go must fail
-- loudly rather than pile up in a catch-all that later blocks creating the
-- partition it belongs to.
--
-- No foreign key to meters: the registry may lose a meter whose history we
-- keep, and a per-row FK check would cost on the hottest write path.
--
-- Re-runnable: IF NOT EXISTS throughout. No BEGIN/COMMIT (the runner's).

CREATE TABLE IF NOT EXISTS rollup_1m (
    meter_id     text             NOT NULL,
    window_start timestamptz      NOT NULL,
    count        bigint           NOT NULL,
    sum_kw       double precision NOT NULL,
    min_kw       double precision NOT NULL,
    max_kw       double precision NOT NULL,
    -- Sum of squared deviations from the mean (Welford / Chan et al.):
    -- population variance = m2 / count. Partials merge exactly, where a
    -- stored sum of squares would lose precision to cancellation. Rounding
    -- may leave it a hair below 0, so no CHECK (m2 >= 0); readers clamp.
    m2           double precision NOT NULL,
    energy_kwh   double precision NOT NULL,
    -- Sum of the readings' quality scores; quality_avg = quality_sum / count.
    quality_sum  double precision NOT NULL,
    -- Readings per tier, and how many of them were interpolated.
    premium      integer          NOT NULL,
    standard     integer          NOT NULL,
    interpolated integer          NOT NULL,
    -- Set once the watermark passed the window's end and the row went to
    -- the S3-bound topic; revision counts those publications (0 while open).
    closed       boolean          NOT NULL DEFAULT false,
    revision     integer          NOT NULL DEFAULT 0,
    updated_at   timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT rollup_1m_pkey PRIMARY KEY (meter_id, window_start),
    -- Windows are tumbling minutes in UTC. AT TIME ZONE 'UTC' keeps the
    -- expression immutable (date_trunc on timestamptz follows the session's
    -- TimeZone).
    CONSTRAINT rollup_1m_window_aligned
        CHECK (date_trunc('minute', window_start AT TIME ZONE 'UTC') = window_start AT TIME ZONE 'UTC'),
    -- A row exists because at least one reading fell in its window.
    CONSTRAINT rollup_1m_count_positive CHECK (count > 0),
    -- Validated readings are premium or standard (DESIGN §3.2), so the tier
    -- counts can never exceed count; catches a double-counted merge.
    CONSTRAINT rollup_1m_counters
        CHECK (premium >= 0 AND standard >= 0 AND premium + standard <= count
               AND interpolated >= 0 AND interpolated <= count),
    CONSTRAINT rollup_1m_min_le_max CHECK (min_kw <= max_kw),
    CONSTRAINT rollup_1m_revision_nonneg CHECK (revision >= 0)
) PARTITION BY RANGE (window_start);

CREATE TABLE IF NOT EXISTS rollup_1h (
    meter_id     text             NOT NULL,
    window_start timestamptz      NOT NULL,
    count        bigint           NOT NULL,
    sum_kw       double precision NOT NULL,
    min_kw       double precision NOT NULL,
    max_kw       double precision NOT NULL,
    m2           double precision NOT NULL, -- see rollup_1m
    energy_kwh   double precision NOT NULL,
    quality_sum  double precision NOT NULL,
    premium      integer          NOT NULL,
    standard     integer          NOT NULL,
    interpolated integer          NOT NULL,
    closed       boolean          NOT NULL DEFAULT false,
    revision     integer          NOT NULL DEFAULT 0,
    updated_at   timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT rollup_1h_pkey PRIMARY KEY (meter_id, window_start),
    CONSTRAINT rollup_1h_window_aligned
        CHECK (date_trunc('hour', window_start AT TIME ZONE 'UTC') = window_start AT TIME ZONE 'UTC'),
    CONSTRAINT rollup_1h_count_positive CHECK (count > 0),
    CONSTRAINT rollup_1h_counters
        CHECK (premium >= 0 AND standard >= 0 AND premium + standard <= count
               AND interpolated >= 0 AND interpolated <= count),
    CONSTRAINT rollup_1h_min_le_max CHECK (min_kw <= max_kw),
    CONSTRAINT rollup_1h_revision_nonneg CHECK (revision >= 0)
) PARTITION BY RANGE (window_start);

COMMENT ON TABLE rollup_1m IS
    '1-minute event-time windows per meter (DESIGN §5); daily partitions rollup_1m_pYYYYMMDD (UTC)';
COMMENT ON TABLE rollup_1h IS
    '1-hour event-time windows per meter (DESIGN §5); monthly partitions rollup_1h_pYYYYMM (UTC)';
COMMENT ON COLUMN rollup_1m.m2 IS 'sum of squared deviations; population variance = m2 / count';
COMMENT ON COLUMN rollup_1h.m2 IS 'sum of squared deviations; population variance = m2 / count';

-- Indexes on a partitioned table are templates: every partition gets its own.
-- The primary key already serves per-meter time ranges.

-- Fleet-wide "all meters for these hours" (dashboards, neighborhood
-- correlation): a B-tree, the 1h table is small enough.
CREATE INDEX IF NOT EXISTS rollup_1h_window_start_idx ON rollup_1h (window_start);

-- The same question on the 1m table, which is ~60x larger and written
-- mostly in time order: a BRIN index costs almost nothing to maintain and
-- still narrows a scan to the right block ranges.
CREATE INDEX IF NOT EXISTS rollup_1m_window_start_brin ON rollup_1m USING brin (window_start);

-- Windows still open: after a restart the aggregator finds what it has yet
-- to close. Partial, so it only holds the few open windows per meter.
CREATE INDEX IF NOT EXISTS rollup_1m_open_idx ON rollup_1m (window_start) WHERE NOT closed;
CREATE INDEX IF NOT EXISTS rollup_1h_open_idx ON rollup_1h (window_start) WHERE NOT closed;
