#!/bin/bash
# test_sql_daily.sh: the daily analytics' SQL (DESIGN §13) on a real,
# throw-away PostgreSQL with every migration applied: billing days
# (rollup_1d_local) across DST changes in Europe/London, America/New_York
# and Australia/Lord_Howe (a 30-minute shift), in Asia/Kolkata and
# Asia/Kathmandu (hours straddling local midnight, split from minutes), a
# leap day, FLEET_TZ for meters without a zone, and billing days summing to
# the hourly total.
# Prints "ok - ..." / "not ok - ..." and "sql-daily: N passed, M failed".
# Exit 0 if all pass, 1 if not, 77 (skip) without PostgreSQL.

set -u
. "$(dirname "$0")/../lib/sqltest.sh"
sqltest_start sql-daily

# Rollups of one meter from t0 to t1: one reading a minute of energy e(minute)
# kWh, 1-minute rows only when minutes is true, 1-hour rows always (the sum of
# the hour's minutes, so both widths agree as the aggregator keeps them).
# e: 'one' gives 1/60 (1 kWh an hour: a day's energy is its length in hours),
# 'vary' a value that differs minute by minute.
q "CREATE FUNCTION fill(meter text, t0 timestamptz, t1 timestamptz, minutes bool, e text)
   RETURNS void LANGUAGE plpgsql AS \$\$
   BEGIN
     PERFORM meterflow_ensure_partitions('rollup_1h', t0, t1);
     IF minutes THEN PERFORM meterflow_ensure_partitions('rollup_1m', t0, t1); END IF;
     CREATE TEMP TABLE IF NOT EXISTS mins (meter_id text, ts timestamptz, kwh float8);
     DELETE FROM mins;
     INSERT INTO mins SELECT meter, ts,
            CASE e WHEN 'one' THEN 1.0 / 60 ELSE (1 + (extract(epoch FROM ts)::bigint / 60) % 7) / 60.0 END
       FROM generate_series(t0, t1 - interval '1 minute', interval '1 minute') ts;
     IF minutes THEN
       INSERT INTO rollup_1m (meter_id, window_start, count, sum_kw, min_kw, max_kw, m2, energy_kwh,
                              quality_sum, premium, standard, interpolated, closed, revision)
       SELECT meter_id, ts, 1, kwh * 60, kwh * 60, kwh * 60, 0, kwh, 90, 1, 0, 0, true, 1 FROM mins;
     END IF;
     INSERT INTO rollup_1h (meter_id, window_start, count, sum_kw, min_kw, max_kw, m2, energy_kwh,
                            quality_sum, premium, standard, interpolated, closed, revision)
     SELECT meter_id, date_trunc('hour', ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', count(*),
            sum(kwh * 60), min(kwh * 60), max(kwh * 60), 0, sum(kwh), 90 * count(*), count(*), 0, 0,
            true, 1
       FROM mins GROUP BY 1, 2;
   END \$\$" >/dev/null

q "SET client_min_messages = warning;
   INSERT INTO meters (meter_id, tz) VALUES ('LON', 'Europe/London'), ('NYC', 'America/New_York'),
     ('LHI', 'Australia/Lord_Howe'), ('KOL', 'Asia/Kolkata'), ('KTM', 'Asia/Kathmandu'),
     ('KOLH', 'Asia/Kolkata'), ('KOLV', 'Asia/Kolkata'), ('FLT', NULL);
   SELECT fill('LON', '2024-03-29 22:00Z', '2024-04-02Z', false, 'one');
   SELECT fill('LON', '2024-10-25Z', '2024-10-29Z', false, 'one');
   SELECT fill('NYC', '2024-03-09Z', '2024-03-12Z', false, 'one');
   SELECT fill('NYC', '2024-11-02Z', '2024-11-05Z', false, 'one');
   SELECT fill('FLT', '2024-11-02Z', '2024-11-05Z', false, 'one');
   SELECT fill('LHI', '2024-04-05 12:00Z', '2024-04-08 14:00Z', true, 'one');
   SELECT fill('LHI', '2024-10-04 12:00Z', '2024-10-07 14:00Z', true, 'one');
   SELECT fill('KOL', '2024-02-26 18:00Z', '2024-03-01 19:00Z', true, 'one');
   SELECT fill('KTM', '2024-02-26 18:00Z', '2024-03-01 19:00Z', true, 'one');
   SELECT fill('KOLH', '2024-02-26 18:00Z', '2024-03-01 19:00Z', false, 'one');
   SELECT fill('KOLV', '2024-01-31 18:30Z', '2024-02-29 18:30Z', true, 'vary')" >/dev/null

# meter day -> hours|energy|exact
day() {
    q "SELECT hours || '|' || round(energy_kwh::numeric, 6) || '|' || exact || '|' || tz
         FROM rollup_1d_local WHERE meter_id = '$1' AND day = '$2'"
}
check_day() {
    same "$1 $2: $4" "$3" "$(day "$1" "$2" 2>&1)"
}
check_day LON 2024-03-30 "24|24.000000|true|Europe/London" "an ordinary day, 24 hours"
check_day LON 2024-03-31 "23|23.000000|true|Europe/London" "the spring-forward day has 23 hours"
check_day LON 2024-10-27 "25|25.000000|true|Europe/London" "the fall-back day has 25 hours"
check_day NYC 2024-03-10 "23|23.000000|true|America/New_York" "23 hours"
check_day NYC 2024-11-03 "25|25.000000|true|America/New_York" "25 hours"
check_day LHI 2024-04-07 "24.5|24.500000|true|Australia/Lord_Howe" "Lord Howe's DST end: 24.5 hours, the straddling hours split from minutes"
check_day LHI 2024-10-06 "23.5|23.500000|true|Australia/Lord_Howe" "Lord Howe's DST start: 23.5 hours"
check_day KOL 2024-02-28 "24|24.000000|true|Asia/Kolkata" "+05:30: the 18:00Z hour split at local midnight"
check_day KOL 2024-02-29 "24|24.000000|true|Asia/Kolkata" "the leap day"
check_day KTM 2024-02-29 "24|24.000000|true|Asia/Kathmandu" "+05:45"
check_day KOLH 2024-02-29 "24|24.000000|false|Asia/Kolkata" "no minutes to split the straddling hour: whole hour to the day of its middle, exact = false"

q "UPDATE fleet_settings SET value = 'America/New_York' WHERE name = 'fleet_tz'" >/dev/null
check_day FLT 2024-11-03 "25|25.000000|true|America/New_York" "a meter without tz is billed in FLEET_TZ"
q "UPDATE fleet_settings SET value = 'UTC' WHERE name = 'fleet_tz'" >/dev/null
check_day FLT 2024-11-03 "24|24.000000|true|UTC" "FLEET_TZ UTC: the UTC day"

# A month of varying minutes in +05:30: each billing day equals its minutes
# summed by local date (computed here from rollup_1m alone, not through the
# hours), and the month's days add up to the hourly total.
expect "KOLV: every billing day of February (Kolkata) equals its minutes by local date" "29|0" \
    "WITH want AS (SELECT (window_start AT TIME ZONE 'Asia/Kolkata')::date AS day, sum(energy_kwh) AS e,
                          sum(count) AS n
                     FROM rollup_1m WHERE meter_id = 'KOLV' GROUP BY 1)
     SELECT count(*), count(*) FILTER (WHERE g.day IS NULL OR w.day IS NULL OR abs(w.e - g.energy_kwh) > 1e-9
                                         OR w.n <> g.count OR NOT g.exact)
       FROM want w FULL JOIN (SELECT * FROM rollup_1d_local WHERE meter_id = 'KOLV') g USING (day)"
expect "KOLV: February's billing days sum to the hourly total" "t" \
    "SELECT abs((SELECT sum(energy_kwh) FROM rollup_1d_local WHERE meter_id = 'KOLV')
              - (SELECT sum(energy_kwh) FROM rollup_1h WHERE meter_id = 'KOLV')) < 1e-9"
expect "LON: the month's billing days sum to the hourly total and the readings" "t" \
    "SELECT abs((SELECT sum(energy_kwh) FROM rollup_1d_local WHERE meter_id = 'LON')
              - (SELECT sum(energy_kwh) FROM rollup_1h WHERE meter_id = 'LON')) < 1e-9
        AND (SELECT sum(count) FROM rollup_1d_local WHERE meter_id = 'LON')
          = (SELECT sum(count) FROM rollup_1h WHERE meter_id = 'LON')"

# 045: a range of days through meterflow_rollup_1d_local (reading only the
# hours that can belong to them) equals the view's, in every zone above.
for range in "2024-03-30 2024-04-01" "2024-10-26 2024-10-28" "2024-03-10 2024-03-10" \
    "2024-11-03 2024-11-03" "2024-04-06 2024-04-07" "2024-02-28 2024-03-01" "2024-02-01 2024-02-29"; do
    set -- $range
    expect "meterflow_rollup_1d_local('$1', '$2') = the view's days $1..$2" "0|0|t" \
        "WITH f AS (SELECT * FROM meterflow_rollup_1d_local('$1', '$2')),
              v AS (SELECT * FROM rollup_1d_local WHERE day BETWEEN '$1' AND '$2'),
              -- the sums' order may differ: equal to 1e-9
              fr AS (SELECT meter_id, day, tz, hours, count, round(energy_kwh::numeric, 9),
                            round(avg_kw::numeric, 9), min_kw, max_kw, round(quality_avg::numeric, 9),
                            premium, standard, interpolated, exact FROM f),
              vr AS (SELECT meter_id, day, tz, hours, count, round(energy_kwh::numeric, 9),
                            round(avg_kw::numeric, 9), min_kw, max_kw, round(quality_avg::numeric, 9),
                            premium, standard, interpolated, exact FROM v)
         SELECT (SELECT count(*) FROM (SELECT * FROM fr EXCEPT SELECT * FROM vr) a) || '|' ||
                (SELECT count(*) FROM (SELECT * FROM vr EXCEPT SELECT * FROM fr) b) || '|' ||
                CASE WHEN (SELECT count(*) FROM f) > 0 THEN 't' ELSE 'f' END"
done

# ---------------------------------------------------------------------------
# Peak hours (042): a crafted week in Europe/London (BST, +01:00), regions
# north (load peaking at 18:00 local, then 19:00, 17:00) and south (13:00,
# 14:00, 12:00): a regional holiday (Tue 2), a fleet-wide one (Thu 4), a
# heat wave in the south (Wed 3), a maintenance window in the north (Fri 5),
# no weather for the north on Sat 6.
q "UPDATE fleet_settings SET value = 'Europe/London' WHERE name = 'fleet_tz';
   INSERT INTO weather_stations (station_id, region) VALUES ('N1', 'north'), ('S1', 'south');
   INSERT INTO region_load_1h (region, window_start, energy_kwh, readings, meters, quality_sum)
   SELECT r.region, t, 50 - 3 * abs(extract(hour FROM t AT TIME ZONE 'Europe/London') - r.center)
                      + 0.01 * extract(hour FROM t AT TIME ZONE 'Europe/London'), 60, 1, 5400
     FROM (VALUES ('north', 18), ('south', 13)) r(region, center),
          generate_series('2024-06-30 23:00Z'::timestamptz, '2024-07-07 22:00Z', interval '1 hour') t;
   INSERT INTO weather_observations (station_id, ts, temp_c)
   SELECT s, t, CASE WHEN s = 'S1' AND t = '2024-07-03 14:00Z' THEN 36.5 ELSE 21 END
     FROM unnest(ARRAY['N1', 'S1']) s,
          generate_series('2024-06-30 23:00Z'::timestamptz, '2024-07-07 22:00Z', interval '1 hour') t
    WHERE NOT (s = 'N1' AND t >= '2024-07-05 23:00Z' AND t < '2024-07-06 23:00Z');
   INSERT INTO holidays (day, region, name) VALUES ('2024-07-02', 'north', 'Summer Fete'),
                                                  ('2024-07-04', NULL, 'Founders Day');
   INSERT INTO grid_maintenance (region, from_ts, to_ts, note)
   VALUES ('north', '2024-07-05 10:00Z', '2024-07-05 12:00Z', 'feeder swap')" >/dev/null

expect "peak_days_dirty: the week's local days are marked by the load, weather, holidays and maintenance" \
    "2024-07-01 2024-07-02 2024-07-03 2024-07-04 2024-07-05 2024-07-06 2024-07-07" \
    "SELECT string_agg(day::text, ' ' ORDER BY day) FROM peak_days_dirty WHERE day >= '2024-07-01'"
# What the aggregator's daily analytics does per closed dirty day.
COMPUTE="WITH d AS (DELETE FROM peak_days_dirty RETURNING day) SELECT coalesce(sum(meterflow_peak_day(day)), 0) FROM d"
expect "meterflow_peak_day: 3 rows per day and region (north, south, *)" "63" "$COMPUTE"

# region day -> "local hour:rank ...|excluded|exclusion"
peaks() {
    q "SELECT string_agg(extract(hour FROM hour_start AT TIME ZONE 'Europe/London') || ':' || rank, ' ' ORDER BY rank)
              || '|' || bool_and(excluded) || '|' || coalesce(min(exclusion), '-')
         FROM peak_hours WHERE region = '$1' AND day = '$2'"
}
check_peaks() {
    same "peaks $1 $2: $4" "$3" "$(peaks "$1" "$2" 2>&1)"
}
check_peaks north 2024-07-01 "18:1 19:2 17:3|false|-" "an ordinary day: the top 3 local hours"
check_peaks south 2024-07-01 "13:1 14:2 12:3|false|-" "the south's own top 3"
check_peaks '*' 2024-07-01 "18:1 17:2 16:3|false|-" "the fleet: the sum of the regions"
check_peaks north 2024-07-02 "18:1 19:2 17:3|true|holiday: Summer Fete" "a regional holiday"
check_peaks south 2024-07-02 "13:1 14:2 12:3|false|-" "another region's holiday does not exclude"
check_peaks '*' 2024-07-02 "18:1 17:2 16:3|true|holiday: Summer Fete" "the fleet is excluded by a region's holiday"
check_peaks south 2024-07-03 "13:1 14:2 12:3|true|extreme weather: 36.5 °C at S1" "a heat wave at a station of the region"
check_peaks north 2024-07-03 "18:1 19:2 17:3|false|-" "the heat wave was elsewhere"
check_peaks north 2024-07-04 "18:1 19:2 17:3|true|holiday: Founders Day" "a holiday everywhere (region null)"
check_peaks south 2024-07-04 "13:1 14:2 12:3|true|holiday: Founders Day" "a holiday everywhere (region null)"
check_peaks north 2024-07-05 "18:1 19:2 17:3|true|grid maintenance: feeder swap" "a maintenance window overlapping the day"
check_peaks north 2024-07-06 "18:1 19:2 17:3|false|weather unknown" "no observation: not excluded, and the row says the weather was unknown"
check_peaks '*' 2024-07-06 "18:1 17:2 16:3|false|-" "the fleet's weather is known while any station reported"

expect "peak_periods: north's summer over its 4 non-excluded days" \
    "17|4|1 18|4|1 19|4|1" \
    "SELECT string_agg(hour_of_day || '|' || days_in_top3 || '|' || share, ' ' ORDER BY hour_of_day)
       FROM peak_periods WHERE season = 'summer' AND region = 'north'"
q "UPDATE fleet_settings SET value = 'south' WHERE name = 'fleet_hemisphere'" >/dev/null
expect "peak_periods: July is winter with FLEET_HEMISPHERE=south" "winter" \
    "SELECT string_agg(DISTINCT season, ' ') FROM peak_periods"
q "UPDATE fleet_settings SET value = 'north' WHERE name = 'fleet_hemisphere'" >/dev/null

# Late data changes a closed day: only that day is marked, and recomputed.
q "UPDATE region_load_1h SET energy_kwh = energy_kwh + 100
    WHERE region = 'north' AND window_start = '2024-07-07 08:00Z'" >/dev/null
expect "late data marks its local day dirty" "2024-07-07" "SELECT string_agg(day::text, ' ') FROM peak_days_dirty"
q "$COMPUTE" >/dev/null
check_peaks north 2024-07-07 "9:1 18:2 19:3|false|-" "recomputed with the late hour (09:00 local) first"
q "DELETE FROM holidays WHERE name = 'Summer Fete'; $COMPUTE" >/dev/null
check_peaks north 2024-07-02 "18:1 19:2 17:3|false|-" "a removed holiday: the day counts again"

# Seasons: the first and last day of each, in both hemispheres.
expect "meterflow_season: meteorological seasons, north then south" \
    "winter spring spring summer summer autumn autumn winter winter|summer autumn autumn winter winter spring spring summer summer" \
    "SELECT string_agg(meterflow_season(d, 'north'), ' ' ORDER BY d) || '|' || string_agg(meterflow_season(d, 'south'), ' ' ORDER BY d)
       FROM unnest('{2024-02-29,2024-03-01,2024-05-31,2024-06-01,2024-08-31,2024-09-01,2024-11-30,2024-12-01,2025-01-01}'::date[]) d"

# A 23-hour day: its peaks come from its 23 hours only.
q "INSERT INTO region_load_1h (region, window_start, energy_kwh, readings, meters, quality_sum)
   SELECT 'east', t, extract(epoch FROM t) / 3600 - 475000, 1, 1, 90
     FROM generate_series('2024-03-30 00:00Z'::timestamptz, '2024-04-01 00:00Z', interval '1 hour') t;
   SELECT meterflow_peak_day('2024-03-31')" >/dev/null
expect "the spring-forward day (London): its last hour is 23:00 BST = 22:00Z" "2024-03-31 22:00:00+00" \
    "SET TimeZone = 'UTC'; SELECT hour_start FROM peak_hours WHERE region = 'east' AND day = '2024-03-31' AND rank = 1"

# ---------------------------------------------------------------------------
# quality_degradation (043): per region and closed hour, raised below 80 and
# cleared at 80 or more, once each; an hour is judged once.
q "DELETE FROM region_load_1h;
   INSERT INTO region_load_1h (region, window_start, energy_kwh, readings, meters, quality_sum)
   VALUES ('west', '2024-08-01 00:00Z', 1, 10, 1, 900), ('west', '2024-08-01 01:00Z', 1, 10, 1, 790),
          ('west', '2024-08-01 02:00Z', 1, 10, 1, 700), ('west', '2024-08-01 03:00Z', 1, 10, 1, 800),
          ('west', '2024-08-01 04:00Z', 1, 10, 1, 810), ('west', '2024-08-01 05:00Z', 1, 10, 1, 100)" >/dev/null
expect "quality: hours up to the horizon judged: raised at 01:00-02:00 (79), cleared at 80" "2" \
    "SELECT meterflow_quality_alerts('2024-08-01 05:00Z')"
expect "quality: the outbox holds the raise and the clear, §3.3 shaped" \
    "west|quality_degradation|warning|raised|2024-08-01T02:00:00.000Z|2024-08-01T02:00:00.000Z|79.000
west|quality_degradation|warning|cleared|2024-08-01T02:00:00.000Z|2024-08-01T04:00:00.000Z|80.000" \
    "SELECT concat_ws('|', alert->>'meter_id', alert->>'type', alert->>'severity', alert->>'state', alert->>'since',
                      alert->>'ts', alert->'detail'->>'quality_avg') FROM analytics_alert_outbox ORDER BY id"
expect "quality: run again to the same horizon, nothing more" "0|2" \
    "SELECT meterflow_quality_alerts('2024-08-01 05:00Z') || '|' || (SELECT count(*) FROM analytics_alert_outbox)"
q "UPDATE region_load_1h SET quality_sum = 100 WHERE window_start = '2024-08-01 00:00Z'" >/dev/null
expect "quality: the next hour (10) raises again; a judged hour changed late is not judged again" "1" \
    "SELECT meterflow_quality_alerts('2024-08-01 06:00Z')"
expect "quality: the raise says since and ts = the hour's end" "raised|2024-08-01T06:00:00.000Z|2024-08-01T06:00:00.000Z" \
    "SELECT concat_ws('|', alert->>'state', alert->>'since', alert->>'ts') FROM analytics_alert_outbox ORDER BY id DESC LIMIT 1"

finish
