-- 044_rollup_1d_local_fast: rollup_1d_local (041) without a function call
-- per hour row: the fleet's zone comes from one join with fleet_settings
-- instead of meterflow_fleet_tz() three times a row. Same columns, same
-- answers (test_sql_daily.sh).
-- Re-runnable. No BEGIN/COMMIT (the runner's).

CREATE OR REPLACE VIEW rollup_1d_local AS
WITH hd AS NOT MATERIALIZED (
    SELECT r.*, coalesce(m.tz, f.value, 'UTC') AS tz,
           (r.window_start AT TIME ZONE coalesce(m.tz, f.value, 'UTC'))::date AS d0,
           ((r.window_start + interval '59 minutes 59.999999 seconds')
               AT TIME ZONE coalesce(m.tz, f.value, 'UTC'))::date AS d1
      FROM rollup_1h_stats r LEFT JOIN meters m USING (meter_id) -- the open hour too (012)
      LEFT JOIN fleet_settings f ON f.name = 'fleet_tz'
),
split AS NOT MATERIALIZED (
    SELECT hd.meter_id, hd.tz, hd.window_start AS hour, hd.count AS hour_count,
           (mm.window_start AT TIME ZONE hd.tz)::date AS day, mm.count, mm.sum_kw, mm.min_kw,
           mm.max_kw, mm.energy_kwh, mm.quality_sum, mm.premium, mm.standard, mm.interpolated,
           sum(mm.count) OVER (PARTITION BY hd.meter_id, hd.window_start) AS minute_count
      FROM hd JOIN rollup_1m mm ON mm.meter_id = hd.meter_id
       AND mm.window_start >= hd.window_start AND mm.window_start < hd.window_start + interval '1 hour'
     WHERE hd.d0 <> hd.d1
),
parts AS NOT MATERIALIZED (
    SELECT meter_id, tz, d0 AS day, count, sum_kw, min_kw, max_kw, energy_kwh, quality_sum,
           premium, standard, interpolated, true AS exact
      FROM hd WHERE d0 = d1
    UNION ALL
    SELECT meter_id, tz, day, count, sum_kw, min_kw, max_kw, energy_kwh, quality_sum,
           premium, standard, interpolated, true
      FROM split WHERE minute_count = hour_count
    UNION ALL
    SELECT meter_id, tz, ((window_start + interval '30 minutes') AT TIME ZONE tz)::date, count,
           sum_kw, min_kw, max_kw, energy_kwh, quality_sum, premium, standard, interpolated, false
      FROM hd
     WHERE d0 <> d1 AND NOT EXISTS (SELECT 1 FROM split s WHERE s.meter_id = hd.meter_id
                                       AND s.hour = hd.window_start AND s.minute_count = s.hour_count)
)
SELECT meter_id, day, tz, meterflow_day_hours(day, tz) AS hours,
       sum(count)::bigint AS count, sum(energy_kwh) AS energy_kwh,
       sum(sum_kw) / sum(count) AS avg_kw, min(min_kw) AS min_kw, max(max_kw) AS max_kw,
       sum(quality_sum) / sum(count) AS quality_avg, sum(premium)::bigint AS premium,
       sum(standard)::bigint AS standard, sum(interpolated)::bigint AS interpolated,
       bool_and(exact) AS exact
  FROM parts
 GROUP BY meter_id, day, tz;

