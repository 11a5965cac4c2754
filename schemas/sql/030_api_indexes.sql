-- 030_api_indexes: what the analytics API's queries need (DESIGN §12).
--
-- Every answer of the API is served by an index (tests/scripts/
-- test_api_explain.sh checks each endpoint's plan on a filled database):
--   a meter's rollups       rollup_1m / rollup_1h primary key (meter_id, window_start)
--   a meter's status        meter_current_status / meters primary keys
--   a region's load         region_load_1h primary key (region, window_start)
--   the fleet's load        region_load_1h (window_start), below: every region's
--                           rows of a few hours, not all of the table
-- region_load_1h is the aggregator's (DESIGN §5, kept per batch); this file
-- adds the index only where the table exists, so it applies in any order
-- with the migration that creates it.
-- Re-runnable: IF NOT EXISTS. No BEGIN/COMMIT (the runner's).

DO $$
BEGIN
    IF to_regclass('region_load_1h') IS NOT NULL THEN
        CREATE INDEX IF NOT EXISTS region_load_1h_window_start_idx
            ON region_load_1h (window_start);
    END IF;
END
$$;
