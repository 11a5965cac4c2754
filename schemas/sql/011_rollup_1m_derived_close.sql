-- 011_rollup_1m_derived_close: a 1-minute window is closed by the
-- watermark, not by a second write of its row (DESIGN §5, §6).
--
-- Until 010 every 1-minute row was written twice: merged, then UPDATEd
-- closed = true, revision 1 when the watermark passed its end, a non-HOT
-- update (closed was in rollup_1m_open_idx's predicate) that cost more than
-- the merge itself. Now:
--   part     the consumed partition (of meter.readings.validated) the row's
--            meter belongs to, written with the row;
--   closed   as stored: true only when a write closed the row (a window
--            merged after its end had passed: born closed, or changed by
--            late data); the view adds "the stored watermark of its
--            partition (agg_watermarks, written in the same transaction
--            as the windows) passed its end";
--   revision as stored: 0 for a row never written after closing; the view
--            shows 1 for such a row once the watermark closed it; late
--            data stores the next revision (2, 3, ...).
-- So rollup_1m_stats answers exactly as before, and the aggregator publishes
-- what the view shows. Rows written before this migration have no part:
-- their stored closed/revision stay the truth, and the aggregator still
-- closes the open ones among them with an UPDATE (found through
-- rollup_1m_legacy_open_idx, which no new row ever enters).
-- rollup_1h keeps its stored closed (a row an hour, closed once an hour).
--
-- meter_current_status: updated once per meter per batch; with no index on
-- ts and free room in each page the update is HOT (no index entry, no
-- page split). "Which meters went quiet" scans it (a row per meter).
-- Re-runnable: IF [NOT] EXISTS, CREATE OR REPLACE. No BEGIN/COMMIT (the runner's).

ALTER TABLE rollup_1m ADD COLUMN IF NOT EXISTS part integer;
COMMENT ON COLUMN rollup_1m.part IS
    'consumed partition of the meter (agg_watermarks.partition); null for rows written before 011';

DROP INDEX IF EXISTS rollup_1m_open_idx;
CREATE INDEX IF NOT EXISTS rollup_1m_legacy_open_idx ON rollup_1m (window_start)
    WHERE NOT closed AND part IS NULL;

-- The newest watermark of each consumed partition (any group) as a time.
CREATE OR REPLACE VIEW agg_partition_watermarks AS
SELECT partition, timestamptz 'epoch' + max(watermark_ms) * interval '1 millisecond' AS watermark
  FROM agg_watermarks
 GROUP BY partition;

COMMENT ON VIEW agg_partition_watermarks IS
    'event-time watermark per consumed partition: a rollup_1m row of that partition ending at or before it is closed';

CREATE OR REPLACE VIEW rollup_1m_stats AS
SELECT r.meter_id, r.window_start, r.count, r.sum_kw, r.min_kw, r.max_kw, r.m2, r.energy_kwh,
       r.quality_sum, r.premium, r.standard, r.interpolated,
       r.closed OR coalesce(r.window_start + interval '1 minute' <= w.watermark, false) AS closed,
       CASE WHEN NOT r.closed AND r.window_start + interval '1 minute' <= w.watermark
            THEN 1 ELSE r.revision END                          AS revision,
       r.updated_at,
       r.sum_kw / NULLIF(r.count, 0)                            AS avg_kw,
       sqrt(greatest(r.m2, 0) / NULLIF(r.count - 1, 0))         AS stddev_kw,
       r.quality_sum / NULLIF(r.count, 0)                       AS quality_avg,
       r.window_start + interval '1 minute'                     AS window_end,
       sqrt(greatest(r.m2, 0) / NULLIF(r.count, 0))             AS stddev_pop_kw
  FROM rollup_1m r
  LEFT JOIN agg_partition_watermarks w ON w.partition = r.part;

ALTER TABLE meter_current_status SET (fillfactor = 70);
DROP INDEX IF EXISTS meter_current_status_ts_idx;
