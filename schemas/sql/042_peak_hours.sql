-- 042_peak_hours: peak hours and their exclusions (DESIGN §13).
--
-- peak_hours: per local day (fleet_settings.fleet_tz = FLEET_TZ) and region
-- (region_load_1h's regions, 'unknown' included, and '*' for the fleet),
-- the day's three hours of highest energy, ranked 1..3 (ties: the earlier
-- hour first). An hour belongs to the local day its UTC start falls in
-- (in a zone with a half-hour offset, the hour straddling midnight counts
-- for the day it starts in). Every row of a day carries the day's verdict:
--   excluded   the day is left out of peak_periods
--   exclusion  why, '; '-separated: 'holiday: NAME' (holidays, region null
--              = everywhere), 'extreme weather: T °C at STATION' (an
--              observation of a station of the region above 35 or below
--              -10 °C during the day), 'grid maintenance: NOTE' (a window
--              overlapping the day); or 'weather unknown' (no observation
--              of the region that day: not excluded for weather, but never
--              silently "not extreme"); null when nothing applies.
-- The fleet ('*') is excluded by whatever excludes any region that day
-- (its total includes that region's disturbed load); its weather is
-- unknown only when no station reported at all.
--
-- Computed once per closed day by meterflow_peak_day(), called by the
-- aggregator's daily analytics; peak_days_dirty lists the days to
-- (re)compute. Triggers mark a day dirty whenever what it is computed
-- from changes: region_load_1h (new hours, late data), weather
-- observations, holidays, maintenance windows. The caller deletes the
-- dirty row first and computes in the same transaction: a batch that
-- marks the day again meanwhile waits on that row, so its data is always
-- computed again later, never lost.
-- Re-runnable. No BEGIN/COMMIT (the runner's).

INSERT INTO fleet_settings (name, value) VALUES ('fleet_hemisphere', 'north') ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS peak_hours (
    day        date             NOT NULL,
    region     text             NOT NULL,
    rank       smallint         NOT NULL CHECK (rank BETWEEN 1 AND 3),
    hour_start timestamptz      NOT NULL,
    energy_kwh double precision NOT NULL,
    excluded   boolean          NOT NULL,
    exclusion  text,
    PRIMARY KEY (day, region, rank)
);
COMMENT ON TABLE peak_hours IS
    'the top 3 hours per local day (FLEET_TZ) and region (''*'' = fleet), with the day''s exclusion (DESIGN 13)';

CREATE TABLE IF NOT EXISTS peak_days_dirty (
    day date PRIMARY KEY
);
COMMENT ON TABLE peak_days_dirty IS
    'local days (FLEET_TZ) whose peak_hours must be (re)computed once closed';

-- The local day (FLEET_TZ) of t.
CREATE OR REPLACE FUNCTION meterflow_fleet_day(t timestamptz) RETURNS date
LANGUAGE sql STABLE AS $$ SELECT (t AT TIME ZONE meterflow_fleet_tz())::date $$;

-- Meteorological season of day d: winter = Dec-Feb in the north, Jun-Aug
-- in the south.
CREATE OR REPLACE FUNCTION meterflow_season(d date, hemisphere text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
SELECT (ARRAY['winter', 'spring', 'summer', 'autumn'])[
         ((extract(month FROM d)::int % 12) / 3 + CASE WHEN hemisphere = 'south' THEN 2 ELSE 0 END) % 4 + 1]
$$;

CREATE OR REPLACE FUNCTION meterflow_peak_day(p_day date) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    tz text := meterflow_fleet_tz();
    t0 timestamptz := p_day::timestamp AT TIME ZONE tz;
    t1 timestamptz := (p_day + 1)::timestamp AT TIME ZONE tz;
    n int;
BEGIN
    DELETE FROM peak_hours WHERE day = p_day;
    WITH load AS (
        SELECT region, window_start, energy_kwh FROM region_load_1h
         WHERE window_start >= t0 AND window_start < t1
        UNION ALL
        SELECT '*', window_start, sum(energy_kwh) FROM region_load_1h
         WHERE window_start >= t0 AND window_start < t1 GROUP BY window_start
    ), ranked AS (
        SELECT region, window_start, energy_kwh,
               row_number() OVER (PARTITION BY region ORDER BY energy_kwh DESC, window_start) AS rk
          FROM load
    ), wx AS (
        SELECT s.region, s.station_id, o.temp_c FROM weather_observations o
          JOIN weather_stations s USING (station_id)
         WHERE o.ts >= t0 AND o.ts < t1
    ), why AS (
        SELECT r.region,
               (SELECT string_agg(DISTINCT 'holiday: ' || h.name, '; ') FROM holidays h
                 WHERE h.day = p_day AND (h.region IS NULL OR h.region = r.region OR r.region = '*')) AS holiday,
               (SELECT 'extreme weather: ' || w.temp_c || ' °C at ' || w.station_id FROM wx w
                 WHERE (w.region = r.region OR r.region = '*') AND (w.temp_c > 35 OR w.temp_c < -10)
                 ORDER BY abs(w.temp_c - 12.5) DESC, w.station_id LIMIT 1) AS extreme,
               NOT EXISTS (SELECT 1 FROM wx w WHERE w.region = r.region OR r.region = '*') AS unknown,
               (SELECT string_agg('grid maintenance: ' || coalesce(g.note, g.region), '; ' ORDER BY g.from_ts, g.id)
                  FROM grid_maintenance g
                 WHERE g.from_ts < t1 AND g.to_ts > t0 AND (g.region = r.region OR r.region = '*')) AS maint
          FROM (SELECT DISTINCT region FROM load) r
    )
    INSERT INTO peak_hours (day, region, rank, hour_start, energy_kwh, excluded, exclusion)
    SELECT p_day, k.region, k.rk, k.window_start, k.energy_kwh,
           y.holiday IS NOT NULL OR y.extreme IS NOT NULL OR y.maint IS NOT NULL,
           nullif(concat_ws('; ', y.holiday, y.extreme, CASE WHEN y.unknown THEN 'weather unknown' END, y.maint), '')
      FROM ranked k JOIN why y USING (region)
     WHERE k.rk <= 3;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- The hours of the day most often among a day's top 3, per season and
-- region, over the days not excluded: share = days_in_top3 / the region's
-- non-excluded days of that season.
CREATE OR REPLACE VIEW peak_periods AS
WITH d AS (
    SELECT p.*, meterflow_season(p.day, (SELECT value FROM fleet_settings WHERE name = 'fleet_hemisphere')) AS season,
           extract(hour FROM p.hour_start AT TIME ZONE meterflow_fleet_tz())::int AS hour_of_day
      FROM peak_hours p WHERE NOT p.excluded
)
SELECT season, region, hour_of_day, count(*)::int AS days_in_top3,
       count(*)::double precision / (SELECT count(DISTINCT d2.day) FROM d d2
                                      WHERE d2.season = d.season AND d2.region = d.region) AS share
  FROM d GROUP BY season, region, hour_of_day;
COMMENT ON VIEW peak_periods IS
    'hours of the local day most often in the top 3, per meteorological season (FLEET_HEMISPHERE) and region, excluded days left out (DESIGN 13)';

-- Dirty marks. region_load_1h and weather_observations: per statement (one
-- small insert per batch); holidays and maintenance: per row (operators).
-- TG_ARGV[0]: the timestamptz column whose local day is marked.
CREATE OR REPLACE FUNCTION meterflow_mark_days() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('INSERT INTO peak_days_dirty (day)'
                   ' SELECT DISTINCT meterflow_fleet_day(%I) FROM new_rows ORDER BY 1'
                   ' ON CONFLICT DO NOTHING', TG_ARGV[0]);
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS region_load_1h_dirty_ins ON region_load_1h;
CREATE TRIGGER region_load_1h_dirty_ins AFTER INSERT ON region_load_1h
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION meterflow_mark_days('window_start');
DROP TRIGGER IF EXISTS region_load_1h_dirty_upd ON region_load_1h;
CREATE TRIGGER region_load_1h_dirty_upd AFTER UPDATE ON region_load_1h
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION meterflow_mark_days('window_start');
DROP TRIGGER IF EXISTS weather_observations_dirty_ins ON weather_observations;
CREATE TRIGGER weather_observations_dirty_ins AFTER INSERT ON weather_observations
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION meterflow_mark_days('ts');
DROP TRIGGER IF EXISTS weather_observations_dirty_upd ON weather_observations;
CREATE TRIGGER weather_observations_dirty_upd AFTER UPDATE ON weather_observations
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION meterflow_mark_days('ts');

-- holidays and grid_maintenance belong to 050 (meterflow's operations),
-- which comes after this file. On a fresh database they are created here,
-- in 050's exact shape, so the dirty-mark triggers can attach to them;
-- 050's IF NOT EXISTS then finds them (test_sql.sh checks their columns).
CREATE TABLE IF NOT EXISTS holidays (
    day    date NOT NULL,
    region text,
    name   text NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS holidays_day_region_idx
    ON holidays (day, (coalesce(region, '')));
CREATE TABLE IF NOT EXISTS grid_maintenance (
    id      bigserial PRIMARY KEY,
    region  text NOT NULL,
    from_ts timestamptz NOT NULL,
    to_ts   timestamptz NOT NULL,
    note    text,
    CONSTRAINT grid_maintenance_window CHECK (to_ts > from_ts)
);

-- Marks the local days d0..d1.
CREATE OR REPLACE FUNCTION meterflow_mark_dates(d0 date, d1 date) RETURNS void
LANGUAGE sql AS $$
INSERT INTO peak_days_dirty SELECT generate_series(d0, d1, interval '1 day')::date ON CONFLICT DO NOTHING
$$;
-- A holiday marks its day; a maintenance window the local days it overlaps.
-- Before and after an update both.
CREATE OR REPLACE FUNCTION meterflow_mark_operator_days() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'holidays' THEN
        IF TG_OP <> 'DELETE' THEN PERFORM meterflow_mark_dates(NEW.day, NEW.day); END IF;
        IF TG_OP <> 'INSERT' THEN PERFORM meterflow_mark_dates(OLD.day, OLD.day); END IF;
    ELSE
        IF TG_OP <> 'DELETE' THEN
            PERFORM meterflow_mark_dates(meterflow_fleet_day(NEW.from_ts),
                                         meterflow_fleet_day(NEW.to_ts - interval '1 microsecond'));
        END IF;
        IF TG_OP <> 'INSERT' THEN
            PERFORM meterflow_mark_dates(meterflow_fleet_day(OLD.from_ts),
                                         meterflow_fleet_day(OLD.to_ts - interval '1 microsecond'));
        END IF;
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS holidays_dirty ON holidays;
CREATE TRIGGER holidays_dirty AFTER INSERT OR UPDATE OR DELETE ON holidays
    FOR EACH ROW EXECUTE FUNCTION meterflow_mark_operator_days();
DROP TRIGGER IF EXISTS grid_maintenance_dirty ON grid_maintenance;
CREATE TRIGGER grid_maintenance_dirty AFTER INSERT OR UPDATE OR DELETE ON grid_maintenance
    FOR EACH ROW EXECUTE FUNCTION meterflow_mark_operator_days();

-- A database with load already: every day of it to compute.
INSERT INTO peak_days_dirty (day)
SELECT DISTINCT meterflow_fleet_day(window_start) FROM region_load_1h ON CONFLICT DO NOTHING;
