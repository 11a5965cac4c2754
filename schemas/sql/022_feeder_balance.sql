-- 022_feeder_balance: the energy a feeder delivered against what its
-- meters reported, hour by hour (DESIGN §11.1): losses, theft, meters
-- missing from the registry.
--
--   feeder_kwh         grid_feed_1h.energy_kwh
--   meters_kwh         the sum of rollup_1h_stats.energy_kwh of the meters
--                      whose meters.feeder_id is the feeder, that hour
--   meters_reporting   how many of them have a rollup that hour
--   meters_registered  how many active meters name the feeder
--   unaccounted_kwh    feeder_kwh - meters_kwh
--   unaccounted_pct    its share of feeder_kwh (null when the feeder is at 0)
-- Built on the rollup_1h_stats view, whose columns are the contract (§6)
-- whatever its storage. Re-runnable: OR REPLACE. No BEGIN/COMMIT.

CREATE OR REPLACE VIEW feeder_balance_1h AS
WITH registered AS (
    SELECT feeder_id, count(*)::bigint AS n
      FROM meters
     WHERE feeder_id IS NOT NULL AND active
     GROUP BY feeder_id
), metered AS (
    SELECT m.feeder_id, r.window_start,
           sum(r.energy_kwh)            AS kwh,
           count(DISTINCT r.meter_id)::bigint AS n
      FROM rollup_1h_stats r
      JOIN meters m ON m.meter_id = r.meter_id
     WHERE m.feeder_id IS NOT NULL
     GROUP BY m.feeder_id, r.window_start
)
SELECT g.feeder_id,
       g.window_start,
       g.energy_kwh                              AS feeder_kwh,
       coalesce(mt.kwh, 0)                       AS meters_kwh,
       coalesce(mt.n, 0)                         AS meters_reporting,
       coalesce(rg.n, 0)                         AS meters_registered,
       g.energy_kwh - coalesce(mt.kwh, 0)        AS unaccounted_kwh,
       CASE WHEN g.energy_kwh > 0
            THEN 100 * (g.energy_kwh - coalesce(mt.kwh, 0)) / g.energy_kwh END AS unaccounted_pct
  FROM grid_feed_1h g
  LEFT JOIN metered mt ON mt.feeder_id = g.feeder_id AND mt.window_start = g.window_start
  LEFT JOIN registered rg ON rg.feeder_id = g.feeder_id;
