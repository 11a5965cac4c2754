-- 041_rollup_1d_local: billing days (DESIGN §13): energy per meter and
-- local calendar day in the meter's tz (meters.tz, else FLEET_TZ).
--
-- fleet_settings holds what the programs were configured with and the SQL
-- needs: 'fleet_tz' (FLEET_TZ, written by the aggregator at start; 'UTC'
-- until then). meterflow_fleet_tz() reads it.
--
-- rollup_1d_local is built from the 1-hour rollups (rollup_1h_stats:
-- rollup_1h stores only closed hours since 012) where a UTC hour lies in
-- one local day, which is every hour in zones whose offset is a whole hour
-- (23- and 25-hour days included: the day is whatever UTC hours its local
-- midnights enclose). Where a UTC hour straddles local midnight (offsets
-- like Asia/Kolkata's +05:30, Asia/Kathmandu's +05:45, Lord Howe's +10:30)
-- the hour is split from its 1-minute rollups, each minute to its local
-- day, provided the minutes hold every reading of the hour (their counts
-- add up to the hour's). If they do not (the minutes' retention is shorter
-- than the hours'), the whole hour goes to the local day of its middle and
-- the day says exact = false: never silently off.
--   hours  the local day's length in hours (23, 24, 25; 23.5 or 24.5 on
--          Lord Howe's DST days)
-- An unknown zone name never reaches here as UTC: meterctl refuses it on
-- import (pg_timezone_names) and the aggregator refuses a bad FLEET_TZ at
-- start; a name PostgreSQL does not know fails the query loudly.
-- Re-runnable. No BEGIN/COMMIT (the runner's).

CREATE TABLE IF NOT EXISTS fleet_settings (
    name  text PRIMARY KEY,
    value text NOT NULL
);
INSERT INTO fleet_settings (name, value) VALUES ('fleet_tz', 'UTC') ON CONFLICT DO NOTHING;
COMMENT ON TABLE fleet_settings IS
    'the fleet''s settings the SQL reads (fleet_tz = FLEET_TZ), written by the aggregator at start';

CREATE OR REPLACE FUNCTION meterflow_fleet_tz() RETURNS text
LANGUAGE sql STABLE AS
$$ SELECT coalesce((SELECT value FROM fleet_settings WHERE name = 'fleet_tz'), 'UTC') $$;

-- The length of local day d in zone tz, in hours.
CREATE OR REPLACE FUNCTION meterflow_day_hours(d date, tz text) RETURNS double precision
LANGUAGE sql STABLE AS
$$ SELECT extract(epoch FROM ((d + 1)::timestamp AT TIME ZONE tz) - (d::timestamp AT TIME ZONE tz)) / 3600 $$;

CREATE OR REPLACE VIEW rollup_1d_local AS
WITH hd AS NOT MATERIALIZED (
    SELECT r.*, coalesce(m.tz, meterflow_fleet_tz()) AS tz,
           (r.window_start AT TIME ZONE coalesce(m.tz, meterflow_fleet_tz()))::date AS d0,
           ((r.window_start + interval '59 minutes 59.999999 seconds')
               AT TIME ZONE coalesce(m.tz, meterflow_fleet_tz()))::date AS d1
      FROM rollup_1h_stats r LEFT JOIN meters m USING (meter_id) -- the open hour too (012)
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

COMMENT ON VIEW rollup_1d_local IS
    'energy per meter and local calendar day in meters.tz (else fleet_tz), exact across DST and half-hour offsets (DESIGN 13)';
