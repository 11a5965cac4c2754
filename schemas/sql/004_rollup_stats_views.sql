-- 004_rollup_stats_views: what analysts read (DESIGN §6).
--
-- Every stored column of rollup_1m / rollup_1h, then the derived ones:
--   avg_kw      = sum_kw / count
--   stddev_kw   = sqrt(m2 / count), the POPULATION standard deviation (the
--                 same figure the rollup messages carry, DESIGN §3.4);
--                 m2 is clamped at 0 because merging partials can leave it a
--                 rounding error below zero, and sqrt(<0) would fail the
--                 whole query
--   quality_avg = quality_sum / count
--   window_end  = window_start + the window width (exclusive)
-- count is never 0 (CHECK in 002); NULLIF only keeps a query alive should
-- that constraint ever be dropped.
--
-- Columns are listed, not r.*: CREATE OR REPLACE VIEW may only append
-- columns, so a later migration that adds a table column must be able to
-- place it deliberately (or DROP and recreate the view).
-- 010 replaces both views (stddev_kw became the sample deviation, and
-- stddev_pop_kw was added): so that this file can still run again on its
-- own, each view is created here only when it does not exist yet (a
-- replace would have to drop 010's column, which PostgreSQL refuses).
-- Re-runnable: created only if missing. No BEGIN/COMMIT (the runner's).

DO $$
BEGIN
    IF to_regclass('rollup_1m_stats') IS NULL THEN
        CREATE VIEW rollup_1m_stats AS
        SELECT meter_id, window_start, count, sum_kw, min_kw, max_kw, m2, energy_kwh,
               quality_sum, premium, standard, interpolated, closed, revision, updated_at,
               sum_kw / NULLIF(count, 0)                     AS avg_kw,
               sqrt(greatest(m2, 0) / NULLIF(count, 0))      AS stddev_kw,
               quality_sum / NULLIF(count, 0)                AS quality_avg,
               window_start + interval '1 minute'            AS window_end
          FROM rollup_1m;
    END IF;
END
$$;

DO $$
BEGIN
    IF to_regclass('rollup_1h_stats') IS NULL THEN
        CREATE VIEW rollup_1h_stats AS
        SELECT meter_id, window_start, count, sum_kw, min_kw, max_kw, m2, energy_kwh,
               quality_sum, premium, standard, interpolated, closed, revision, updated_at,
               sum_kw / NULLIF(count, 0)                     AS avg_kw,
               sqrt(greatest(m2, 0) / NULLIF(count, 0))      AS stddev_kw,
               quality_sum / NULLIF(count, 0)                AS quality_avg,
               window_start + interval '1 hour'              AS window_end
          FROM rollup_1h;
    END IF;
END
$$;

COMMENT ON VIEW rollup_1m_stats IS 'rollup_1m plus avg_kw, stddev_kw (population), quality_avg, window_end';
COMMENT ON VIEW rollup_1h_stats IS 'rollup_1h plus avg_kw, stddev_kw (population), quality_avg, window_end';
