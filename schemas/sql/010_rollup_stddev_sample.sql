-- 010_rollup_stddev_sample: stddev_kw is the SAMPLE standard deviation
-- (DESIGN §3.4, §6), as PostgreSQL's stddev() over the window's readings
-- gives it, null for a window of one reading; stddev_pop_kw is the
-- population one (stddev_pop(), which 004 called stddev_kw).
--   stddev_kw     = sqrt(m2 / (count - 1)), null when count = 1
--   stddev_pop_kw = sqrt(m2 / count)
-- m2 is clamped at 0 as in 004. stddev_pop_kw is appended: CREATE OR
-- REPLACE VIEW keeps the existing columns in place (and so what an
-- analyst's own views on these depend on), and may only add at the end.
-- Re-runnable: CREATE OR REPLACE. No BEGIN/COMMIT (the runner's).

CREATE OR REPLACE VIEW rollup_1m_stats AS
SELECT meter_id, window_start, count, sum_kw, min_kw, max_kw, m2, energy_kwh,
       quality_sum, premium, standard, interpolated, closed, revision, updated_at,
       sum_kw / NULLIF(count, 0)                               AS avg_kw,
       sqrt(greatest(m2, 0) / NULLIF(count - 1, 0))            AS stddev_kw,
       quality_sum / NULLIF(count, 0)                          AS quality_avg,
       window_start + interval '1 minute'                      AS window_end,
       sqrt(greatest(m2, 0) / NULLIF(count, 0))                AS stddev_pop_kw
  FROM rollup_1m;

CREATE OR REPLACE VIEW rollup_1h_stats AS
SELECT meter_id, window_start, count, sum_kw, min_kw, max_kw, m2, energy_kwh,
       quality_sum, premium, standard, interpolated, closed, revision, updated_at,
       sum_kw / NULLIF(count, 0)                               AS avg_kw,
       sqrt(greatest(m2, 0) / NULLIF(count - 1, 0))            AS stddev_kw,
       quality_sum / NULLIF(count, 0)                          AS quality_avg,
       window_start + interval '1 hour'                        AS window_end,
       sqrt(greatest(m2, 0) / NULLIF(count, 0))                AS stddev_pop_kw
  FROM rollup_1h;

COMMENT ON VIEW rollup_1m_stats IS
    'rollup_1m plus avg_kw, stddev_kw (sample, as stddev()), quality_avg, window_end, stddev_pop_kw (population)';
COMMENT ON VIEW rollup_1h_stats IS
    'rollup_1h plus avg_kw, stddev_kw (sample, as stddev()), quality_avg, window_end, stddev_pop_kw (population)';
