-- 020_source_registries: the other sources' registries (DESIGN §11) and the
-- meters' feeder and time zone (DESIGN §6).
--
-- Operators write them; source-sink reads them (cached, reloaded on a miss)
-- to send a record of an unregistered feeder, station or vehicle to the DLQ
-- (error.code unknown_feeder, unknown_station, unknown_vehicle). Ids share
-- the meter-id alphabet of DESIGN §3.1, so the same CHECK refuses typos.
-- Re-runnable: IF NOT EXISTS only. No BEGIN/COMMIT (the runner's).

CREATE TABLE IF NOT EXISTS feeders (
    feeder_id  text PRIMARY KEY
               CONSTRAINT feeders_feeder_id_format CHECK (feeder_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
    region     text,
    rated_kw   double precision
               CONSTRAINT feeders_rated_kw_range CHECK (rated_kw > 0 AND rated_kw < 'Infinity'),
    -- A feed's reading interval when its records carry no interval_s: what
    -- energy units are converted over and what grid_feed_1h integrates.
    -- (§11.1 says "as §3.1", whose default is the registry's, else 60.)
    interval_s integer NOT NULL DEFAULT 60
               CONSTRAINT feeders_interval_s_range CHECK (interval_s BETWEEN 1 AND 86400)
);
COMMENT ON TABLE feeders IS
    'grid feeders (DESIGN 11.1); meters name theirs in meters.feeder_id; read by source-sink';

CREATE TABLE IF NOT EXISTS weather_stations (
    station_id text PRIMARY KEY
               CONSTRAINT weather_stations_station_id_format
               CHECK (station_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
    region     text,
    lat        double precision CONSTRAINT weather_stations_lat_range CHECK (lat BETWEEN -90 AND 90),
    lon        double precision CONSTRAINT weather_stations_lon_range CHECK (lon BETWEEN -180 AND 180)
);
COMMENT ON TABLE weather_stations IS 'weather stations (DESIGN 11.2); read by source-sink';

CREATE TABLE IF NOT EXISTS vehicles (
    vehicle_id  text PRIMARY KEY
                CONSTRAINT vehicles_vehicle_id_format CHECK (vehicle_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
    -- The charger's meter: the AC side of the vehicle's charging. No foreign
    -- key: a charger may be registered after its vehicle, and analysts join.
    meter_id    text,
    battery_kwh double precision
                CONSTRAINT vehicles_battery_kwh_range CHECK (battery_kwh > 0 AND battery_kwh < 'Infinity'),
    model       text
);
COMMENT ON TABLE vehicles IS
    'electric vehicles (DESIGN 11.3); meter_id is the charger''s meter (AC side); read by source-sink';

-- DESIGN §6: each meter's feeder (the feeder balance sums a feeder's meters)
-- and its IANA time zone (null: FLEET_TZ).
ALTER TABLE meters ADD COLUMN IF NOT EXISTS feeder_id text;
ALTER TABLE meters ADD COLUMN IF NOT EXISTS tz text;
CREATE INDEX IF NOT EXISTS meters_feeder_idx ON meters (feeder_id) WHERE feeder_id IS NOT NULL;
