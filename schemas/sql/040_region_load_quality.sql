-- 040_region_load_quality: the quality of each region's readings per hour
-- (DESIGN §13 quality_degradation, §12 GET /v1/fleet/quality).
--
-- region_load_1h.quality_sum is the sum of the quality scores of the
-- hour's readings of the region, so quality_avg = quality_sum / readings,
-- kept by the aggregator in the same statement (and transaction) as
-- energy_kwh and readings: open hour and late data included, each reading
-- once.
--
-- A database made before this migration gets its hours so far from
-- rollup_1h_stats (since 012 the table holds only closed hours; the view
-- adds the open one from the minutes). Where the registry still gives the region the hour was
-- counted in (the readings agree), that sum is exact; where a meter moved
-- region since (they differ), the hour gets the fleet's average quality of
-- that hour times its readings: an estimate, never a 0 that would read as
-- a quality collapse. NOT NULL and no default: an aggregator built before
-- 040 that inserts a row without the column fails its batch loudly instead
-- of storing a wrong average (stop old aggregators before the new ones
-- start, as for 011).
-- Re-runnable: IF NOT EXISTS, and the backfill only fills nulls.
-- No BEGIN/COMMIT (the runner's).

ALTER TABLE region_load_1h ADD COLUMN IF NOT EXISTS quality_sum double precision;

WITH per_region AS (
    SELECT coalesce(m.region, 'unknown') AS region, r.window_start,
           sum(r.quality_sum) AS quality_sum, sum(r.count) AS readings
      FROM rollup_1h_stats r LEFT JOIN meters m USING (meter_id)
     GROUP BY 1, 2),
fleet AS (
    SELECT window_start, sum(quality_sum) / sum(count) AS quality_avg
      FROM rollup_1h_stats GROUP BY 1)
UPDATE region_load_1h g
   SET quality_sum = CASE WHEN p.readings = g.readings THEN p.quality_sum
                          ELSE coalesce(f.quality_avg, 0) * g.readings END
  FROM region_load_1h g2
  LEFT JOIN per_region p ON p.region = g2.region AND p.window_start = g2.window_start
  LEFT JOIN fleet f ON f.window_start = g2.window_start
 WHERE g.quality_sum IS NULL AND g.region = g2.region AND g.window_start = g2.window_start;

ALTER TABLE region_load_1h ALTER COLUMN quality_sum SET NOT NULL;

COMMENT ON COLUMN region_load_1h.quality_sum IS
    'sum of the quality scores of the hour''s readings of the region (quality_avg = quality_sum / readings)';
