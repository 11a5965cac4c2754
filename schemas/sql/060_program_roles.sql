-- 060_program_roles: one PostgreSQL role per kind of program, least privilege
-- (issue 17). The role that runs the migrations owns every table, view and
-- function; the programs log in as members of these NOLOGIN roles:
--   meterflow_worker  stream-worker: reads the meter registry, nothing else
--   meterflow_api     analytics-api: reads every table and view, writes nothing
--   meterflow_writer  aggregator, source-sink, meterctl: reads and writes rows
--                     (SELECT, INSERT, UPDATE, DELETE), never the schema: no
--                     CREATE, ALTER, DROP, TRUNCATE
-- Partitions are made and dropped by functions that run as their owner
-- (SECURITY DEFINER, a fixed search_path), which only meterflow_writer may
-- call, so no program needs to own a table. A new function that does DDL
-- must be made the same way. Tables made later by the owner (migrations,
-- those functions' partitions) get the same grants (default privileges).
--
-- Log-in roles are the operator's: CREATE ROLE agg LOGIN PASSWORD '...' IN
-- ROLE meterflow_writer (deploy/ and docs/operations.md). A migration runner
-- without CREATEROLE (some managed PostgreSQL) skips the roles with a
-- NOTICE; everything else still applies. Re-runnable.

DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['meterflow_worker', 'meterflow_api', 'meterflow_writer'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'meterflow: no CREATEROLE: the program roles of 060 are not made';
END
$$;

DO $$
DECLARE
    f text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'meterflow_writer') THEN
        RETURN;
    END IF;
    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO meterflow_worker, meterflow_api, '
                   'meterflow_writer', current_database());
    GRANT USAGE ON SCHEMA public TO meterflow_worker, meterflow_api, meterflow_writer;
    GRANT SELECT ON meters TO meterflow_worker;
    -- The runner's own table (absent when a test applies the files with psql).
    IF to_regclass('schema_migrations') IS NOT NULL THEN
        GRANT SELECT ON schema_migrations TO meterflow_worker;
    END IF;
    GRANT SELECT ON ALL TABLES IN SCHEMA public TO meterflow_api;
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO meterflow_writer;
    GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO meterflow_writer;
    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO meterflow_api;
    ALTER DEFAULT PRIVILEGES IN SCHEMA public
        GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO meterflow_writer;
    ALTER DEFAULT PRIVILEGES IN SCHEMA public
        GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO meterflow_writer;

    -- The functions that create or drop partitions run as their owner.
    FOR f IN SELECT p.oid::regprocedure::text
               FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE n.nspname = 'public'
                AND p.proname IN ('meterflow_ensure_partitions', 'meterflow_drop_partitions_before',
                                  'meterflow_vehicle_history_days', 'meterflow_review_days',
                                  'meterflow_review_retention') LOOP
        EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = public, pg_temp', f);
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO meterflow_writer', f);
    END LOOP;
END
$$;
