-- 012_rollup_1h_at_close: an hour is written once, when it closes; the open
-- hour is served from the minute rows (DESIGN §5, §6; TimescaleDB's
-- real-time aggregates do the same).
--
-- Until 011 every batch merged its part of each meter's hour into
-- rollup_1h: one more row rewritten per meter and batch, the largest
-- statement of a commit. Now rollup_1h holds:
--   - an hour the watermark closed: written once, closed, revision 1, by
--     the transaction that stores the watermark passing its end, from the
--     content the aggregator holds (it equals the sum of its minutes);
--   - late data into such an hour: merged into it, next revision (as the
--     minute it falls in);
-- and no open hour. rollup_1h_open computes the hours without a stored row
-- from rollup_1m: an hour is open while its end is after its partition's
-- watermark w, so it starts at or after date_trunc('hour', w); only the
-- minutes from the hour holding the lowest stored watermark on are read
-- (an hour whose end every partition's watermark passed is closed, so
-- stored), and a stored row wins over the minutes.
-- rollup_1h_stats is the stored rows and those, so it answers as before:
-- always current, each reading once, closed/revision as published.
--
-- A database from before: its open hour rows are deleted (their minutes
-- hold the same readings); stop the aggregators before migrating, as for
-- 011. rollup_1h_open_idx stays: the aggregator's load reads the open
-- hours through the view, and the index keeps its rollup_1h side an empty
-- probe.
-- Re-runnable: CREATE OR REPLACE, and the DELETE finds nothing twice.
-- No BEGIN/COMMIT (the runner's).

DELETE FROM rollup_1h WHERE NOT closed;

-- The hours with no stored row, from the minutes. The "< infinity" bound
-- filters nothing: with it the planner reads the watermark bound, which
-- it cannot know when planning, as a range (0.5 % of the rows, where one
-- open inequality counts a third), so it reads the minutes through the
-- window_start BRIN index instead of every partition. m2 merges the minutes'
-- partials exactly (Chan et al.): sum(m2_i + n_i (mean_i - mean)^2), with
-- the hour's mean from a window over the same (meter, hour); the types are
-- rollup_1h's.
CREATE OR REPLACE VIEW rollup_1h_open AS
SELECT g.*
  FROM (SELECT x.meter_id, x.hour AS window_start, sum(x.count)::bigint AS count,
               sum(x.sum_kw) AS sum_kw, min(x.min_kw) AS min_kw, max(x.max_kw) AS max_kw,
               sum(x.m2 + x.count * (x.sum_kw / x.count - x.hour_mean) ^ 2) AS m2,
               sum(x.energy_kwh) AS energy_kwh, sum(x.quality_sum) AS quality_sum,
               sum(x.premium)::integer AS premium, sum(x.standard)::integer AS standard,
               sum(x.interpolated)::integer AS interpolated,
               false AS closed, 0 AS revision, max(x.updated_at) AS updated_at
          FROM (SELECT r.*, sum(r.sum_kw) OVER h / sum(r.count) OVER h AS hour_mean
                  FROM (SELECT m.meter_id, m.count, m.sum_kw, m.min_kw, m.max_kw, m.m2,
                               m.energy_kwh, m.quality_sum, m.premium, m.standard,
                               m.interpolated, m.updated_at,
                               date_trunc('hour', m.window_start AT TIME ZONE 'UTC')
                                   AT TIME ZONE 'UTC' AS hour
                          FROM rollup_1m m
                         WHERE m.window_start >= coalesce(
                                   date_trunc('hour', (SELECT min(watermark)
                                                         FROM agg_partition_watermarks)
                                                          AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
                                   '-infinity')
                           AND m.window_start < 'infinity') r
                WINDOW h AS (PARTITION BY r.meter_id, r.hour)) x
         GROUP BY x.meter_id, x.hour) g
 WHERE NOT EXISTS (SELECT 1 FROM rollup_1h s
                    WHERE s.meter_id = g.meter_id AND s.window_start = g.window_start);

COMMENT ON VIEW rollup_1h_open IS
    'the 1-hour windows not stored in rollup_1h (open), summed from rollup_1m';

CREATE OR REPLACE VIEW rollup_1h_stats AS
SELECT meter_id, window_start, count, sum_kw, min_kw, max_kw, m2, energy_kwh,
       quality_sum, premium, standard, interpolated, closed, revision, updated_at,
       sum_kw / NULLIF(count, 0)                               AS avg_kw,
       sqrt(greatest(m2, 0) / NULLIF(count - 1, 0))            AS stddev_kw,
       quality_sum / NULLIF(count, 0)                          AS quality_avg,
       window_start + interval '1 hour'                        AS window_end,
       sqrt(greatest(m2, 0) / NULLIF(count, 0))                AS stddev_pop_kw
  FROM (SELECT meter_id, window_start, count, sum_kw, min_kw, max_kw, m2, energy_kwh,
               quality_sum, premium, standard, interpolated, closed, revision, updated_at
          FROM rollup_1h
        UNION ALL
        SELECT meter_id, window_start, count, sum_kw, min_kw, max_kw, m2, energy_kwh,
               quality_sum, premium, standard, interpolated, closed, revision, updated_at
          FROM rollup_1h_open) r;

COMMENT ON VIEW rollup_1h_stats IS
    'rollup_1h (closed hours) and rollup_1h_open (open ones, from the minutes), plus avg_kw, stddev_kw (sample, as stddev()), quality_avg, window_end, stddev_pop_kw (population)';
