-- 031_fleet_load_1h: the fleet's load per hour, for the analytics API's
-- fleet answers (DESIGN §12: "fleet and region answers come from small
-- tables the aggregator keeps as hours close").
--
-- One row per hour: the sums of region_load_1h's rows of that hour (every
-- region, 'unknown' included), kept by triggers on region_load_1h, so in
-- the same transaction as the aggregator's batch and whatever else writes
-- it (backfills, retention). A fleet answer then reads one row an hour
-- instead of one per region and hour: measured on 20 regions, a week of
-- fleet hours 0.6 ms of PostgreSQL per request from region_load_1h, the
-- largest part of the API's uncached mix.
--
-- The triggers add differences (new minus old rows), never recompute a
-- sum from region_load_1h: two aggregators changing different regions of
-- one hour at once each add their own part under the fleet row's lock,
-- where a recomputation from either's snapshot would lose the other's.
-- The aggregator writes region rows in key order in one statement; the
-- fleet rows follow at the statement's end, in hour order: two batches
-- wait for each other, never deadlock. An hour whose region rows are all
-- deleted (retention) leaves the table.
-- quality_sum comes with 040; until then it stays 0 (040's backfill of
-- region_load_1h passes through the update trigger and fills it). The
-- triggers read it through to_jsonb, so they work on either side of 040
-- (a statement's rows are a batch's few region-hours).
-- Re-runnable: IF NOT EXISTS / OR REPLACE; the backfill fills only a new
-- table. No BEGIN/COMMIT (the runner's).

CREATE TABLE IF NOT EXISTS fleet_load_1h (
    window_start timestamptz      PRIMARY KEY,
    energy_kwh   double precision NOT NULL,
    readings     bigint           NOT NULL,
    meters       bigint           NOT NULL,
    quality_sum  double precision NOT NULL DEFAULT 0
);
COMMENT ON TABLE fleet_load_1h IS
    'region_load_1h summed over regions per hour, kept by triggers on region_load_1h (the analytics API''s fleet answers)';

-- The hours so far, once (a table that already has rows is left alone).
DO $$
DECLARE
    q text := CASE WHEN EXISTS (SELECT 1 FROM information_schema.columns
                                 WHERE table_name = 'region_load_1h' AND column_name = 'quality_sum')
                   THEN 'coalesce(sum(quality_sum), 0)' ELSE '0' END;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM fleet_load_1h) THEN
        EXECUTE format('INSERT INTO fleet_load_1h (window_start, energy_kwh, readings, meters, quality_sum)'
                       ' SELECT window_start, sum(energy_kwh), sum(readings), sum(meters), %s'
                       ' FROM region_load_1h GROUP BY window_start', q);
    END IF;
END
$$;

-- A region_load_1h row's quality_sum, 0 before 040 added the column.
CREATE OR REPLACE FUNCTION meterflow_quality_sum(r jsonb) RETURNS double precision
LANGUAGE sql IMMUTABLE AS $$ SELECT coalesce((r ->> 'quality_sum')::double precision, 0) $$;

-- Adds a statement's rows to their hours, in hour order: INSERT its new
-- rows, UPDATE the new less the old, DELETE the old taken away (an hour
-- left without region rows goes). A transition table the event does not
-- have cannot be named, hence the query is put together per event.
CREATE OR REPLACE FUNCTION meterflow_fleet_load() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    plus text := 'SELECT window_start, energy_kwh AS e, readings AS r, meters::bigint AS m,'
                 ' meterflow_quality_sum(to_jsonb(n)) AS q FROM new_rows n';
    minus text := 'SELECT window_start, -energy_kwh AS e, -readings AS r, -meters::bigint AS m,'
                  ' -meterflow_quality_sum(to_jsonb(o)) AS q FROM old_rows o';
BEGIN
    EXECUTE 'INSERT INTO fleet_load_1h AS f (window_start, energy_kwh, readings, meters, quality_sum)'
         || ' SELECT window_start, sum(e), sum(r), sum(m), sum(q) FROM ('
         || CASE TG_OP WHEN 'INSERT' THEN plus WHEN 'DELETE' THEN minus
                       ELSE plus || ' UNION ALL ' || minus END
         || ') d GROUP BY window_start ORDER BY window_start'
         || ' ON CONFLICT (window_start) DO UPDATE'
         || ' SET energy_kwh = f.energy_kwh + EXCLUDED.energy_kwh,'
         || ' readings = f.readings + EXCLUDED.readings, meters = f.meters + EXCLUDED.meters,'
         || ' quality_sum = f.quality_sum + EXCLUDED.quality_sum';
    IF TG_OP = 'DELETE' THEN
        DELETE FROM fleet_load_1h f
         WHERE f.window_start IN (SELECT window_start FROM old_rows)
           AND NOT EXISTS (SELECT 1 FROM region_load_1h g WHERE g.window_start = f.window_start);
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS region_load_1h_fleet_ins ON region_load_1h;
CREATE TRIGGER region_load_1h_fleet_ins AFTER INSERT ON region_load_1h
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION meterflow_fleet_load();
DROP TRIGGER IF EXISTS region_load_1h_fleet_upd ON region_load_1h;
CREATE TRIGGER region_load_1h_fleet_upd AFTER UPDATE ON region_load_1h
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION meterflow_fleet_load();
DROP TRIGGER IF EXISTS region_load_1h_fleet_del ON region_load_1h;
CREATE TRIGGER region_load_1h_fleet_del AFTER DELETE ON region_load_1h
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION meterflow_fleet_load();
