-- 009_region_load_1h: load per region and hour, for the fleet and region
-- views of the analytics API (DESIGN §12), without scanning meters' rows.
--
-- One row per (region, hour): the sums over rollup_1h of every meter whose
-- registry row (meters.region) names that region; 'unknown' gathers the
-- meters without a region or without a registry row. Maintained by the
-- aggregator in the SAME transaction as each batch's rollups, so it
-- includes the open hour and late data, each reading once:
--   energy_kwh  sum of the readings' energy_kwh
--   readings    number of readings
--   meters      meters with at least one reading in that hour (a meter
--               counts when its rollup_1h row is created)
-- The region is read from meters when a batch is written: a meter that
-- moves region keeps its past hours where they were counted.
-- Dropped by the same retention as rollup_1h (whole months). A database
-- made before this migration gets its hours so far from rollup_1h below.
-- Re-runnable: IF NOT EXISTS. No BEGIN/COMMIT (the runner's).

CREATE TABLE IF NOT EXISTS region_load_1h (
    region       text             NOT NULL,
    window_start timestamptz      NOT NULL,
    energy_kwh   double precision NOT NULL,
    readings     bigint           NOT NULL,
    meters       integer          NOT NULL,
    PRIMARY KEY (region, window_start)
);

COMMENT ON TABLE region_load_1h IS
    'energy, readings and meters per (meters.region or ''unknown'', UTC hour); kept by the aggregator with each batch';

-- A database made before this migration: its hours so far, once (a raw
-- re-run finds them there and adds nothing).
INSERT INTO region_load_1h (region, window_start, energy_kwh, readings, meters)
SELECT coalesce(m.region, 'unknown'), r.window_start, sum(r.energy_kwh), sum(r.count), count(*)
  FROM rollup_1h r LEFT JOIN meters m USING (meter_id)
 GROUP BY 1, 2
ON CONFLICT (region, window_start) DO NOTHING;
