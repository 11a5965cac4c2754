-- 023_vehicle_history_retention: vehicle_telemetry_history's day partitions
-- dropped past a retention (issue 12) by the rollups' own retention
-- function, meterflow_drop_partitions_before (003), which now knows the
-- history's cut: one UTC day a partition, named _pYYYYMMDD (as 021's
-- meterflow_vehicle_history_days makes them). source-sink calls it with
-- VEHICLE_RETENTION_DAYS (0: keep everything, no call) at start and every
-- REGISTRY_REFRESH_S. A report for a dropped day that comes later gets its
-- partition made again and dropped at the next round: stored, never
-- refused, never retried forever.
--
-- Only the spec changes: drop_partitions_before already runs as its owner
-- for meterflow_writer (060). fill 100: the history is insert-only (only
-- meterflow_ensure_partitions reads it; source-sink makes the days itself).

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
    WHEN 'vehicle_telemetry_history' THEN
        step := interval '1 day';   unit := 'day';   suffix := 'YYYYMMDD'; fill := 100;
    ELSE
        RAISE EXCEPTION 'meterflow: % is not a partitioned rollup table or the vehicle history',
                quote_literal(p_table)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'expected rollup_1m, rollup_1h or vehicle_telemetry_history';
    END CASE;
END
$$;
