-- The analytics API's test and benchmark database: a fleet whose numbers
-- are a function of (meter, window), so a test can recompute any answer in
-- SQL. psql variables (-v): meters (registry and status), regions,
-- meters_1h and days_1h (1-hour rollups of the first meters_1h meters),
-- meters_1m and days_1m (the same for 1-minute rollups), feeders (how many
-- feeders the meters are spread over; the first 3 are registered and feed),
-- vehicles (each charging at meter MTR-<its number>).
-- Rows end at the current (open) hour and minute, as a live aggregator's do.
-- region_load_1h is the aggregator's per-hour region table (DESIGN §5);
-- created here, in its shape, where no migration made it yet.
\set ON_ERROR_STOP 1
SET synchronous_commit = off;

CREATE TABLE IF NOT EXISTS region_load_1h (
    region text, window_start timestamptz, energy_kwh double precision,
    readings bigint, meters integer, quality_sum double precision,
    PRIMARY KEY (region, window_start));
CREATE INDEX IF NOT EXISTS region_load_1h_window_start_idx ON region_load_1h (window_start);

INSERT INTO meters (meter_id, region, max_kw)
SELECT format('MTR-%s', lpad(i::text, 5, '0')), format('region-%s', i % :regions), 20
  FROM generate_series(1, :meters) i
    ON CONFLICT DO NOTHING;

SELECT meterflow_ensure_partitions('rollup_1h', date_trunc('hour', now()) - make_interval(days => :days_1h), now());
SELECT meterflow_ensure_partitions('rollup_1m', date_trunc('minute', now()) - make_interval(days => :days_1m), now());

-- kW of meter i in a window starting at t: a daily curve per meter.
CREATE OR REPLACE FUNCTION pg_temp.kw(i int, t timestamptz) RETURNS double precision
LANGUAGE sql IMMUTABLE AS
$$ SELECT 0.5 + (i % 7) * 0.25 + extract(hour FROM t AT TIME ZONE 'UTC')::int * 0.05 $$;

INSERT INTO rollup_1h (meter_id, window_start, count, sum_kw, min_kw, max_kw, m2, energy_kwh,
                       quality_sum, premium, standard, interpolated, closed, revision)
SELECT format('MTR-%s', lpad(i::text, 5, '0')), h, 60, 60 * pg_temp.kw(i, h), pg_temp.kw(i, h) - 0.1,
       pg_temp.kw(i, h) + 0.1, 0.6, pg_temp.kw(i, h),
       60 * (70 + i * (1 + extract(hour FROM h AT TIME ZONE 'UTC')::int) % 30), 58, 2, 0,
       h < date_trunc('hour', now()), CASE WHEN h < date_trunc('hour', now()) THEN 1 ELSE 0 END
  FROM generate_series(1, :meters_1h) i,
       generate_series(date_trunc('hour', now()) - make_interval(days => :days_1h),
                       date_trunc('hour', now()), interval '1 hour') h
    ON CONFLICT DO NOTHING;

INSERT INTO rollup_1m (meter_id, window_start, count, sum_kw, min_kw, max_kw, m2, energy_kwh,
                       quality_sum, premium, standard, interpolated, closed, revision)
SELECT format('MTR-%s', lpad(i::text, 5, '0')), m, 1, pg_temp.kw(i, m), pg_temp.kw(i, m),
       pg_temp.kw(i, m), 0, pg_temp.kw(i, m) / 60, 95, 1, 0, 0,
       m < date_trunc('minute', now()), CASE WHEN m < date_trunc('minute', now()) THEN 1 ELSE 0 END
  FROM generate_series(1, :meters_1m) i,
       generate_series(date_trunc('minute', now()) - make_interval(days => :days_1m),
                       date_trunc('minute', now()), interval '1 minute') m
 ORDER BY m, i -- in time order, as the aggregator appends them (the BRIN index relies on it)
    ON CONFLICT DO NOTHING;

-- A running aggregator's event-time watermarks (012: hours without a
-- stored row are computed from the minutes after the lowest watermark less
-- an hour; without one, from every minute of the meter).
INSERT INTO agg_watermarks (consumer_group, partition, watermark_ms)
SELECT 'fixture', p, (extract(epoch FROM date_trunc('minute', now())) * 1000)::bigint
  FROM generate_series(0, 11) p
    ON CONFLICT DO NOTHING;

INSERT INTO meter_current_status (meter_id, ts, value_kw, quality, tier)
SELECT format('MTR-%s', lpad(i::text, 5, '0')), date_trunc('minute', now()),
       pg_temp.kw(i, now()), 95, 'premium'
  FROM generate_series(1, :meters) i
    ON CONFLICT DO NOTHING;

INSERT INTO region_load_1h (region, window_start, energy_kwh, readings, meters, quality_sum)
SELECT m.region, r.window_start, sum(r.energy_kwh), sum(r.count), count(*), sum(r.quality_sum)
  FROM rollup_1h r JOIN meters m USING (meter_id)
 GROUP BY m.region, r.window_start
    ON CONFLICT DO NOTHING;

ANALYZE;

-- The other sources (DESIGN §11): 3 feeders with every meter on one of
-- them and a feed every 15 minutes; a weather station per region with an
-- hourly observation; the vehicles charging at the first meters, a report
-- every 15 minutes over the last 2 days.
INSERT INTO feeders (feeder_id, region, rated_kw)
SELECT format('FDR-%s', f), format('region-%s', f % :regions), 5000 FROM generate_series(1, 3) f
    ON CONFLICT DO NOTHING;
UPDATE meters SET feeder_id = format('FDR-%s', substr(meter_id, 5)::int % :feeders + 1) WHERE meter_id LIKE 'MTR-%';
INSERT INTO grid_feed_readings (feeder_id, ts, value_kw, voltage_v, frequency_hz, interval_s)
SELECT format('FDR-%s', f), t, 100 + 10 * f + extract(hour FROM t AT TIME ZONE 'UTC')::int, 11000, 50, 900
  FROM generate_series(1, 3) f,
       generate_series(date_trunc('hour', now()) - make_interval(days => :days_1h),
                       now(), interval '15 minutes') t
    ON CONFLICT DO NOTHING;
INSERT INTO weather_stations (station_id, region, lat, lon)
SELECT format('WS-%s', r), format('region-%s', r), 51, 0 FROM generate_series(0, :regions - 1) r
    ON CONFLICT DO NOTHING;
INSERT INTO weather_observations (station_id, ts, temp_c, humidity_pct)
SELECT format('WS-%s', r), t, 5 + r + extract(hour FROM t AT TIME ZONE 'UTC')::int * 0.5, 80
  FROM generate_series(0, :regions - 1) r,
       generate_series(date_trunc('hour', now()) - make_interval(days => :days_1h), now(),
                       interval '1 hour') t
    ON CONFLICT DO NOTHING;
INSERT INTO vehicles (vehicle_id, meter_id, battery_kwh, model)
SELECT format('EV-%s', v), format('MTR-%s', lpad(v::text, 5, '0')), 60, 'test' FROM generate_series(1, :vehicles) v
    ON CONFLICT DO NOTHING;
SELECT meterflow_vehicle_history_days(ARRAY(
    SELECT d::date FROM generate_series(now() - interval '3 days', now() + interval '1 day', interval '1 day') d));
INSERT INTO vehicle_telemetry_history (vehicle_id, ts, soc_pct, kwh_delivered_dc, battery_temp_c)
SELECT format('EV-%s', v), t, (extract(epoch FROM t)::bigint / 900 % 80) + 10, 0.05 * (v % 10), 20 + v % 10
  FROM generate_series(1, :vehicles) v,
       generate_series(date_trunc('hour', now()) - interval '2 days', now(), interval '15 minutes') t
    ON CONFLICT DO NOTHING;
-- Peak hours of the closed local days (FLEET_TZ: UTC here), as the
-- aggregator's daily analytics computes them; the day before yesterday a
-- holiday everywhere (an excluded day).
INSERT INTO holidays (day, region, name) VALUES (current_date - 2, NULL, 'Fixture day')
    ON CONFLICT DO NOTHING;
SELECT meterflow_peak_day(d::date)
  FROM generate_series(current_date - :days_1h, current_date - 1, interval '1 day') d;

-- Alerts of the meters with hourly rollups, but every tenth, as
-- source-sink stores them (051): two
-- raised at the same minute (a cursor must not lose or repeat either), one
-- cleared, one older than the API's default 30 days.
INSERT INTO alerts (meter_id, type, severity, state, since, raised_at, cleared_at, detail)
SELECT format('MTR-%s', lpad(i::text, 5, '0')), a.type, a.severity, a.state,
       date_trunc('minute', now()) - a.ago, date_trunc('minute', now()) - a.ago,
       CASE WHEN a.state = 'cleared' THEN date_trunc('minute', now()) - a.ago + interval '1 hour' END,
       jsonb_build_object('value_kw', i * 1.5, 'note', 'fixture "quoted"')
  FROM generate_series(1, :meters_1h) i,
       (VALUES ('spike', 'warning', 'raised', interval '2 hours'),
               ('gap', 'info', 'raised', interval '2 hours'),
               ('flatline', 'warning', 'cleared', interval '1 day'),
               ('quality', 'warning', 'raised', interval '40 days')) a(type, severity, state, ago)
 WHERE i % 10 <> 0
    ON CONFLICT DO NOTHING;

ANALYZE;
