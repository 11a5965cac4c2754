-- 045_billing_days_range: the billing days of a range of local days,
-- reading only the hours that can belong to them (DESIGN §13).
--
-- rollup_1d_local (041, 044) computed every meter's every day before a
-- filter on `day` could apply: the day is an expression of the meter's
-- zone, so no index or partition bound follows from it, and one day of
-- every meter read every stored hour (bench_daily: the billing days of one
-- day were its slowest step, growing with the days kept). The body moves
-- into meterflow_rollup_1d_local(d0, d1), which reads the hours from 14 h
-- before d0 to 36 h after d1 UTC (every zone's local day lies in
-- there) and keeps the days d0..d1; the view is that function over all
-- days, so one definition serves both. The function is a plain SQL one,
-- inlined by the planner: `WHERE meter_id = ...` on the view still
-- reaches rollup_1h's index.
--   SELECT * FROM meterflow_rollup_1d_local('2024-03-15', '2024-03-15');  -- one day, every meter
-- Re-runnable. No BEGIN/COMMIT (the runner's).

CREATE OR REPLACE FUNCTION meterflow_rollup_1d_local(d0 date, d1 date)
RETURNS TABLE (meter_id text, day date, tz text, hours double precision, count bigint,
               energy_kwh double precision, avg_kw double precision, min_kw double precision,
               max_kw double precision, quality_avg double precision, premium bigint,
               standard bigint, interpolated bigint, exact boolean)
LANGUAGE sql STABLE AS $$
WITH hd AS NOT MATERIALIZED (
    SELECT r.*, coalesce(m.tz, f.value, 'UTC') AS tz,
           (r.window_start AT TIME ZONE coalesce(m.tz, f.value, 'UTC'))::date AS d0,
           ((r.window_start + interval '59 minutes 59.999999 seconds')
               AT TIME ZONE coalesce(m.tz, f.value, 'UTC'))::date AS d1
      FROM rollup_1h_stats r LEFT JOIN meters m USING (meter_id) -- the open hour too (012)
      LEFT JOIN fleet_settings f ON f.name = 'fleet_tz'
     -- Zone offsets are -12..+14 h: local day d lies within [d - 14 h, d + 36 h) UTC.
     WHERE r.window_start >= d0::timestamp AT TIME ZONE 'UTC' - interval '14 hours'
       AND r.window_start < d1::timestamp AT TIME ZONE 'UTC' + interval '36 hours'
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
 WHERE day >= d0 AND day <= d1
 GROUP BY meter_id, day, tz
$$;

CREATE OR REPLACE VIEW rollup_1d_local AS
SELECT * FROM meterflow_rollup_1d_local('-infinity', 'infinity');

COMMENT ON VIEW rollup_1d_local IS
    'billing days: per meter and local calendar day in its tz (else FLEET_TZ), exact across DST and half-hour zones (DESIGN 13); meterflow_rollup_1d_local(d0, d1) for a range of days';
