-- 003_partitions: create rollup partitions ahead, drop them for retention.
--
-- rollup_1m is cut into UTC days (rollup_1m_pYYYYMMDD), rollup_1h into UTC
-- months (rollup_1h_pYYYYMM). The aggregator calls
-- meterflow_ensure_partitions() before it writes windows it has not seen a
-- partition for (and ahead of time, e.g. today .. today + 2 days); a
-- retention job calls meterflow_drop_partitions_before().
--
-- Call them in a transaction of their own (autocommit), not inside the
-- batch transaction: the advisory lock and the locks on new partitions are
-- held until commit. When every partition already exists,
-- ensure_partitions returns 0 without taking any lock, so calling it often
-- is cheap.
--
-- Re-runnable: CREATE OR REPLACE only. No BEGIN/COMMIT (the runner's).

-- How each partitioned table is cut. One place, so the two public
-- functions cannot disagree about names or bounds.
--   step: partition width; unit: date_trunc unit matching it;
--   suffix: to_char() format of the partition name after "_p";
--   fill: fillfactor. Rollup rows are rewritten by every batch until their
--   window closes; free room in each page lets those updates stay HOT (no
--   index churn). 1h rows are rewritten for an hour, 1m rows for a minute.
CREATE OR REPLACE FUNCTION meterflow_partition_spec(
    p_table text,
    OUT step interval, OUT unit text, OUT suffix text, OUT fill int)
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    CASE p_table
    WHEN 'rollup_1m' THEN
        step := interval '1 day';   unit := 'day';   suffix := 'YYYYMMDD'; fill := 90;
    WHEN 'rollup_1h' THEN
        step := interval '1 month'; unit := 'month'; suffix := 'YYYYMM';   fill := 80;
    ELSE
        RAISE EXCEPTION 'meterflow: % is not a partitioned rollup table', quote_literal(p_table)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'expected rollup_1m or rollup_1h';
    END CASE;
END
$$;

-- The schema holding p_table (as search_path resolves it), after checking
-- that it exists and is range-partitioned. Partitions live beside it.
CREATE OR REPLACE FUNCTION meterflow_partition_parent(p_table text, OUT parent regclass, OUT nsp text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    parent := to_regclass(quote_ident(p_table));
    IF parent IS NULL THEN
        RAISE EXCEPTION 'meterflow: table % does not exist', quote_ident(p_table)
            USING ERRCODE = 'undefined_table', HINT = 'apply the migrations in schemas/sql';
    END IF;
    SELECT n.nspname INTO nsp
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = parent AND c.relkind = 'p';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'meterflow: table % is not partitioned', quote_ident(p_table)
            USING ERRCODE = 'wrong_object_type';
    END IF;
END
$$;

-- Create every missing partition of p_table covering [p_from, p_to]
-- (both ends included: the partition holding p_to is made too). Returns how
-- many it created; 0 when all existed.
--
-- Concurrency: several aggregators may call this at once. A lock-free pass
-- first lists what is missing; only then does the call take a
-- transaction-scoped advisory lock per table and re-check each name, so two
-- callers never race on the same CREATE. duplicate_table / unique_violation
-- are still caught for DDL run by hand without the lock. A hand-made
-- partition under another name that overlaps ours is NOT caught: ATTACH
-- fails with "would overlap", loudly, as a broken naming scheme should.
--
-- Each partition is created detached and then ATTACHed: ATTACH PARTITION
-- needs only a SHARE UPDATE EXCLUSIVE lock on the parent, where
-- CREATE TABLE ... PARTITION OF takes ACCESS EXCLUSIVE and would queue
-- behind (and then block) every analyst query and aggregator write.
--
-- At most 400 partitions per call (over a year of days): each new
-- partition holds about six locks until commit, the default lock table has
-- room for 64 x max_connections, and a bogus timestamp (epoch 0, year 9999)
-- should fail here with a clear message, not as "out of shared memory".
-- Call again with smaller ranges for long back-fills.
CREATE OR REPLACE FUNCTION meterflow_ensure_partitions(p_table text, p_from timestamptz, p_to timestamptz)
RETURNS integer
LANGUAGE plpgsql
-- Days and months are cut in UTC whatever the caller's session says.
SET TimeZone = 'UTC'
AS $$
DECLARE
    max_parts CONSTANT int := 400;
    spec      record;
    par       record;
    v_start   timestamptz;
    v_name    text;
    v_missing timestamptz[] := '{}';
    v_steps   int := 0;
    v_created int := 0;
BEGIN
    spec := meterflow_partition_spec(p_table);
    par := meterflow_partition_parent(p_table);
    IF p_from IS NULL OR p_to IS NULL OR NOT isfinite(p_from) OR NOT isfinite(p_to) THEN
        RAISE EXCEPTION 'meterflow: partition range must be finite, got [%, %]', p_from, p_to
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_from > p_to THEN
        RAISE EXCEPTION 'meterflow: empty partition range [%, %]', p_from, p_to
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- Pass 1, no locks: which partitions are missing?
    v_start := date_trunc(spec.unit, p_from);
    WHILE v_start <= p_to LOOP
        v_steps := v_steps + 1;
        IF v_steps > max_parts THEN
            RAISE EXCEPTION 'meterflow: range [%, %] spans more than % partitions of %',
                    p_from, p_to, max_parts, p_table
                USING ERRCODE = 'program_limit_exceeded',
                      HINT = 'call meterflow_ensure_partitions with smaller ranges';
        END IF;
        v_name := p_table || '_p' || to_char(v_start, spec.suffix);
        IF to_regclass(format('%I.%I', par.nsp, v_name)) IS NULL THEN
            v_missing := v_missing || v_start;
        END IF;
        v_start := v_start + spec.step;
    END LOOP;

    IF cardinality(v_missing) = 0 THEN
        RETURN 0;
    END IF;

    -- Pass 2, serialized per table. The two-int key space never collides with
    -- the migration runner's single bigint key.
    PERFORM pg_advisory_xact_lock(hashtext('meterflow_partitions'), hashtext(p_table));

    FOREACH v_start IN ARRAY v_missing LOOP
        v_name := p_table || '_p' || to_char(v_start, spec.suffix);
        -- Catalog lookups see other sessions' commits even in REPEATABLE
        -- READ, so this sees what a caller that held the lock before us made.
        CONTINUE WHEN to_regclass(format('%I.%I', par.nsp, v_name)) IS NOT NULL;
        BEGIN
            -- LIKE copies columns, defaults, NOT NULL and CHECKs, which
            -- ATTACH requires; ATTACH then builds the parent's indexes on the
            -- (empty) table. Bounds are ISO 8601 with an explicit +00, so
            -- they read back the same under any DateStyle.
            EXECUTE format('CREATE TABLE %I.%I (LIKE %I.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'
                           ' WITH (fillfactor = %s)',
                           par.nsp, v_name, par.nsp, p_table, spec.fill);
            EXECUTE format('ALTER TABLE %I.%I ATTACH PARTITION %I.%I FOR VALUES FROM (%L) TO (%L)',
                           par.nsp, p_table, par.nsp, v_name,
                           to_char(v_start, 'YYYY-MM-DD"T"HH24:MI:SS"+00"'),
                           to_char(v_start + spec.step, 'YYYY-MM-DD"T"HH24:MI:SS"+00"'));
            v_created := v_created + 1;
        EXCEPTION WHEN duplicate_table OR unique_violation THEN
            -- Made concurrently by someone not using our lock: fine, it exists.
            NULL;
        END;
    END LOOP;
    RETURN v_created;
END
$$;

COMMENT ON FUNCTION meterflow_ensure_partitions(text, timestamptz, timestamptz) IS
    'create the missing UTC day (rollup_1m) or month (rollup_1h) partitions covering [p_from, p_to]; returns how many';

-- Retention: drop every partition of p_table that lies entirely before
-- p_before (its upper bound <= p_before); a partition straddling p_before is
-- kept. Returns how many it dropped.
--
-- Decided on each partition's actual bounds (pg_get_expr of relpartbound),
-- not on its name, so a hand-made partition is judged by what it holds.
-- At most 400 partitions per call, oldest first, for the same lock-table
-- reason as above: a NOTICE says when more remain, and the caller calls
-- again while the result is 400. A daily retention job drops one.
-- DROP takes ACCESS EXCLUSIVE on the parent until commit: run it off-peak,
-- in its own transaction, ideally with SET lock_timeout so it gives up
-- rather than stall the aggregator behind a long analyst query.
CREATE OR REPLACE FUNCTION meterflow_drop_partitions_before(p_table text, p_before timestamptz)
RETURNS integer
LANGUAGE plpgsql
-- Fixes how pg_get_expr prints the bounds we parse back below.
SET TimeZone = 'UTC'
SET DateStyle = 'ISO, YMD'
AS $$
DECLARE
    max_parts CONSTANT int := 400;
    par       record;
    r         record;
    v_dropped int := 0;
BEGIN
    PERFORM meterflow_partition_spec(p_table); -- only the rollup tables
    par := meterflow_partition_parent(p_table);
    IF p_before IS NULL OR NOT isfinite(p_before) THEN
        RAISE EXCEPTION 'meterflow: retention cut-off must be finite, got %', p_before
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- Same lock as ensure_partitions: never drop what a concurrent call is
    -- about to attach, or the reverse.
    PERFORM pg_advisory_xact_lock(hashtext('meterflow_partitions'), hashtext(p_table));

    FOR r IN
        SELECT b.nspname, b.relname, b.m[2]::timestamptz AS upper_bound
          FROM (SELECT n.nspname, c.relname,
                       -- "FOR VALUES FROM ('2024-03-15 00:00:00+00') TO ('2024-03-16 00:00:00+00')";
                       -- MINVALUE/MAXVALUE bounds do not match and are never dropped.
                       regexp_match(pg_get_expr(c.relpartbound, c.oid),
                                    '^FOR VALUES FROM \(''([^'']+)''\) TO \(''([^'']+)''\)$') AS m
                  FROM pg_inherits i
                  JOIN pg_class c ON c.oid = i.inhrelid
                  JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE i.inhparent = par.parent) b
         WHERE b.m IS NOT NULL AND b.m[2]::timestamptz <= p_before
         ORDER BY 3, 2
    LOOP
        IF v_dropped = max_parts THEN
            RAISE NOTICE 'meterflow: dropped % partitions of %, more end before %: call again',
                max_parts, p_table, p_before;
            EXIT;
        END IF;
        EXECUTE format('DROP TABLE %I.%I', r.nspname, r.relname);
        v_dropped := v_dropped + 1;
    END LOOP;
    RETURN v_dropped;
END
$$;

COMMENT ON FUNCTION meterflow_drop_partitions_before(text, timestamptz) IS
    'retention: drop (at most 400, oldest first) partitions of p_table whose whole range lies before p_before; returns how many';
