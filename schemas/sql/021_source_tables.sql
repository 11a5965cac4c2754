-- 021_source_tables: what source-sink writes (DESIGN §11), exactly once:
-- each batch's rows and the next offsets of its partitions (sink_offsets,
-- keyed by consumer group) commit in one transaction.
--
--   grid_feed_readings         one row per (feeder, ts); a resent reading
--                              replaces (a client's retry after a 503)
--   weather_observations       primary key (station_id, ts); a repeat replaces
--   vehicle_current_status     the hot path: the newest report by event time
--   vehicle_telemetry_history  the cold path: insert-only, one partition per
--                              UTC day, a repeat (vehicle, ts) stored once
-- Re-runnable: IF NOT EXISTS / OR REPLACE. No BEGIN/COMMIT (the runner's).

CREATE TABLE IF NOT EXISTS grid_feed_readings (
    feeder_id    text             NOT NULL,
    ts           timestamptz      NOT NULL,
    value_kw     double precision NOT NULL,
    voltage_v    double precision,
    frequency_hz double precision,
    -- The interval the reading stands for (its own, else the feeder's):
    -- grid_feed_1h integrates value_kw over it.
    interval_s   integer          NOT NULL CONSTRAINT grid_feed_readings_interval_s_positive CHECK (interval_s > 0),
    CONSTRAINT grid_feed_readings_pkey PRIMARY KEY (feeder_id, ts)
);
COMMENT ON TABLE grid_feed_readings IS 'grid feed readings in kW (DESIGN 11.1), written by source-sink';

-- Hours by the reading's ts (the start of its interval, as for meters).
CREATE OR REPLACE VIEW grid_feed_1h AS
SELECT feeder_id,
       date_trunc('hour', ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS window_start,
       count(*)::bigint                    AS count,
       sum(value_kw * interval_s / 3600.0) AS energy_kwh,
       avg(value_kw)                       AS avg_kw,
       max(value_kw)                       AS max_kw
  FROM grid_feed_readings
 GROUP BY 1, 2;

CREATE TABLE IF NOT EXISTS weather_observations (
    station_id   text             NOT NULL,
    ts           timestamptz      NOT NULL,
    temp_c       double precision NOT NULL,
    humidity_pct double precision,
    wind_ms      double precision,
    ghi_wm2      double precision,
    CONSTRAINT weather_observations_pkey PRIMARY KEY (station_id, ts)
);
COMMENT ON TABLE weather_observations IS 'weather observations (DESIGN 11.2), written by source-sink';

CREATE OR REPLACE VIEW weather_hourly AS
SELECT s.region,
       date_trunc('hour', o.ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour_start,
       avg(o.temp_c) AS temp_c_avg,
       min(o.temp_c) AS temp_c_min,
       max(o.temp_c) AS temp_c_max
  FROM weather_observations o
  JOIN weather_stations s USING (station_id)
 GROUP BY 1, 2;

CREATE TABLE IF NOT EXISTS vehicle_current_status (
    vehicle_id     text PRIMARY KEY,
    ts             timestamptz      NOT NULL,
    soc_pct        double precision NOT NULL,
    battery_temp_c double precision,
    updated_at     timestamptz      NOT NULL DEFAULT now()
);
COMMENT ON TABLE vehicle_current_status IS
    'newest telemetry per vehicle by event time (DESIGN 11.3, the hot path), written by source-sink';

CREATE TABLE IF NOT EXISTS vehicle_telemetry_history (
    vehicle_id       text             NOT NULL,
    ts               timestamptz      NOT NULL,
    soc_pct          double precision NOT NULL,
    kwh_delivered_dc double precision,
    battery_temp_c   double precision
) PARTITION BY RANGE (ts);
COMMENT ON TABLE vehicle_telemetry_history IS
    'every vehicle report, insert-only, one partition per UTC day (DESIGN 11.3, the cold path)';
-- The unique index is the "stored once" (ON CONFLICT DO NOTHING) and the
-- newest-first index of §11.3 in one: a vehicle's latest rows are its first.
CREATE UNIQUE INDEX IF NOT EXISTS vehicle_telemetry_history_vehicle_ts
    ON vehicle_telemetry_history (vehicle_id, ts DESC);

-- Creates the day partitions of vehicle_telemetry_history holding the given
-- days (UTC dates) that do not exist yet; returns how many it made.
-- source-sink calls it in its own transaction before a batch that holds
-- new days. Serialized by an advisory lock: several sinks may call at once.
CREATE OR REPLACE FUNCTION meterflow_vehicle_history_days(p_days date[]) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    d date;
    made int := 0;
    name text;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('meterflow_vehicle_history_days'));
    FOREACH d IN ARRAY p_days LOOP
        name := 'vehicle_telemetry_history_p' || to_char(d, 'YYYYMMDD');
        IF to_regclass(quote_ident(name)) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF vehicle_telemetry_history '
                           'FOR VALUES FROM (%L) TO (%L)', name,
                           (d::timestamp AT TIME ZONE 'UTC'), ((d + 1)::timestamp AT TIME ZONE 'UTC'));
            made := made + 1;
        END IF;
    END LOOP;
    RETURN made;
END
$$;
