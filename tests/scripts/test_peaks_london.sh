#!/bin/bash
# test_peaks_london.sh: peak hours (DESIGN §13, migration 042) on real data:
# the 25 Low Carbon London households of 2013 (half-hourly kWh) as one
# region LON, a weather station in it fed the real London hourly weather
# (Dark Sky), FLEET_TZ Europe/London, July to September 2013 (the summer's
# heat, the August bank holiday, two missing weather hours, the clock
# change in between none). A throw-away PostgreSQL computes region_load_1h
# from the half-hours and meterflow_peak_day() every local day; an
# independent computation in Python (its own parsing, hour sums, local
# days by zoneinfo, ranking and exclusions) must agree on every day's top
# three hours, the exclusions and peak_periods.
# The files are read where they are (MF_DATA_DIR, default /work/shared/data);
# without them the test skips (77) and says so. Prints "ok - ..." /
# "not ok - ..." and "peaks-london: N passed, M failed".

set -u
DATA=${MF_DATA_DIR:-/work/shared/data}
LCL=$DATA/lcl_halfhourly_2013_25meters_a.csv.gz
WX=$DATA/london_weather_hourly_darksky_2011-2014.csv.gz
for f in "$LCL" "$WX"; do
    if [ ! -r "$f" ]; then
        echo "peaks-london: skipped: $f absent (the real London data, see MF_DATA_DIR)"
        exit 77
    fi
done
. "$(dirname "$0")/../lib/sqltest.sh"
sqltest_start peaks-london

FROM=2013-07-01
TO=2013-10-01 # local days FROM .. TO - 1
TZ_NAME=Europe/London

# The Python side: the inputs as PostgreSQL text COPY rows, and its own answer.
PY=$(mktemp -d)
trap 'rm -rf "$PY"; sqltest_cleanup' EXIT
python3 - "$LCL" "$WX" "$FROM" "$TO" "$TZ_NAME" "$PY" <<'EOF' || { echo "peaks-london: python failed"; exit 1; }
import collections, csv, datetime as dt, gzip, io, sys, zoneinfo
lcl, wx, d0, d1, tzname, out = sys.argv[1:]
tz = zoneinfo.ZoneInfo(tzname)
utc = dt.timezone.utc
day0, day1 = dt.date.fromisoformat(d0), dt.date.fromisoformat(d1)
t0 = dt.datetime.combine(day0, dt.time(), tz).astimezone(utc)
t1 = dt.datetime.combine(day1, dt.time(), tz).astimezone(utc)
hours = collections.defaultdict(float)
with gzip.open(lcl, "rt", newline="") as f, open(out + "/halfhours.txt", "w") as h:
    next(f)
    for line in f:
        meter, ts, kwh = (x.strip() for x in line.split(","))
        t = dt.datetime.strptime(ts, "%Y-%m-%d %H:%M:%S").replace(tzinfo=utc)  # no zone: UTC
        if t0 <= t < t1 and kwh not in ("", "Null"):
            h.write(f"{meter}\t{t.isoformat()}\t{kwh}\n")
            hours[t.replace(minute=0)] += float(kwh)
temps = collections.defaultdict(list)  # local day -> temperatures
with gzip.open(wx, "rt", newline="") as f, open(out + "/weather.txt", "w") as w:
    for row in csv.DictReader(f):
        t = dt.datetime.strptime(row["time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=utc)
        if t0 <= t < t1:
            w.write(f"LHR-DS\t{t.isoformat()}\t{row['temperature']}\n")
            temps[t.astimezone(tz).date()].append(float(row["temperature"]))
holidays = {dt.date(2013, 8, 26): "Summer bank holiday"}
days = collections.defaultdict(list)
for t, e in hours.items():
    days[t.astimezone(tz).date()].append((t, e))
with open(out + "/peaks.txt", "w") as p:
    for day in sorted(days):
        top = sorted(days[day], key=lambda x: (-x[1], x[0]))[:3]
        why = []
        if day in holidays:
            why.append("holiday: " + holidays[day])
        ext = [x for x in temps.get(day, []) if x > 35 or x < -10]
        if ext:
            why.append("extreme weather")
        if not temps.get(day):
            why.append("weather unknown")
        excl = "t" if day in holidays or ext else "f"
        for rank, (t, e) in enumerate(top, 1):
            p.write(f"{day}|{rank}|{t.astimezone(utc):%Y-%m-%d %H:%M}|{e:.3f}|{excl}|{'; '.join(why)}\n")
# peak_periods: per season (north) the local hours of day in the top 3 of the days not excluded.
season = lambda d: ["winter", "spring", "summer", "autumn"][(d.month % 12) // 3]
periods = collections.Counter()
for day in days:
    if day in holidays:
        continue
    for t, e in sorted(days[day], key=lambda x: (-x[1], x[0]))[:3]:
        periods[(season(day), t.astimezone(tz).hour)] += 1
with open(out + "/periods.txt", "w") as p:
    for (s, hr), n in sorted(periods.items()):
        p.write(f"{s}|{hr}|{n}\n")
with open(out + "/facts.txt", "w") as p:
    p.write(f"{len(hours)} {sum(hours.values()):.3f} {len(days)} {max(max(v) for v in temps.values()):.2f}\n")
EOF
read -r PY_HOURS PY_KWH PY_DAYS PY_TMAX <"$PY/facts.txt"

# The SQL side: the households in LON, the half-hours summed per hour by SQL.
q "SET client_min_messages = warning;
   INSERT INTO fleet_settings (name, value) VALUES ('fleet_tz', '$TZ_NAME')
       ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value;
   INSERT INTO weather_stations (station_id, region) VALUES ('LHR-DS', 'LON');
   INSERT INTO holidays (day, region, name) VALUES ('2013-08-26', NULL, 'Summer bank holiday');
   CREATE TABLE hh (meter_id text, ts timestamptz, kwh double precision)" >/dev/null
"$PSQL" "$DSN" -X -q -v ON_ERROR_STOP=1 -c '\copy hh FROM STDIN' <"$PY/halfhours.txt"
"$PSQL" "$DSN" -X -q -v ON_ERROR_STOP=1 \
    -c '\copy weather_observations (station_id, ts, temp_c) FROM STDIN' <"$PY/weather.txt"
q "INSERT INTO meters (meter_id, region) SELECT DISTINCT meter_id, 'LON' FROM hh;
   INSERT INTO region_load_1h (region, window_start, energy_kwh, readings, meters, quality_sum)
   SELECT m.region, date_trunc('hour', h.ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', sum(h.kwh),
          count(*), count(DISTINCT h.meter_id), 100 * count(*)
     FROM hh h JOIN meters m USING (meter_id) GROUP BY 1, 2" >/dev/null

expect "region_load_1h: the hours and the energy of the households ($PY_HOURS hours)" \
    "$PY_HOURS $PY_KWH" \
    "SELECT count(*) || ' ' || round(sum(energy_kwh)::numeric, 3) FROM region_load_1h WHERE region = 'LON'"
# The triggers marked every local day (load, weather, holiday): each computed as the aggregator does.
expect "every local day marked dirty ($PY_DAYS)" "$PY_DAYS" \
    "SELECT count(*) FROM peak_days_dirty WHERE day >= '$FROM' AND day < '$TO'"
q "WITH d AS (DELETE FROM peak_days_dirty RETURNING day) SELECT sum(meterflow_peak_day(day)) FROM d" >/dev/null

got=$(q "SELECT day || '|' || rank || '|' || to_char(hour_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')
                || '|' || round(energy_kwh::numeric, 3) || '|' || CASE WHEN excluded THEN 't' ELSE 'f' END || '|'
                || coalesce(regexp_replace(exclusion, 'extreme weather: [^;]*', 'extreme weather'), '')
           FROM peak_hours WHERE region = 'LON' AND day >= '$FROM' AND day < '$TO'
          ORDER BY day, rank")
want=$(cat "$PY/peaks.txt")
if [ "$got" = "$want" ]; then
    pass "every day's top three hours and exclusions equal the independent computation ($(wc -l <"$PY/peaks.txt") rows)"
else
    fail "peak hours differ from the independent computation" "$(diff <(echo "$want") <(echo "$got") | head -n 12)"
fi
expect "the fleet ('*') is LON's only region: the same hours" "0" \
    "SELECT count(*) FROM peak_hours a FULL JOIN peak_hours b ON a.day = b.day AND a.rank = b.rank
       AND b.region = 'LON' WHERE a.region = '*' AND (b.hour_start IS DISTINCT FROM a.hour_start
       OR b.exclusion IS DISTINCT FROM a.exclusion)"
expect "the bank holiday is excluded, with why" "2013-08-26|holiday: Summer bank holiday" \
    "SELECT DISTINCT day || '|' || exclusion FROM peak_hours WHERE region = 'LON' AND excluded"
expect "the summer's hottest hour ($PY_TMAX °C) is no extreme (> 35): no day excluded for weather" "0" \
    "SELECT count(*) FROM peak_hours WHERE exclusion LIKE '%extreme%' OR exclusion LIKE '%unknown%'"
got=$(q "SELECT season || '|' || hour_of_day || '|' || days_in_top3 FROM peak_periods
          WHERE region = 'LON' ORDER BY season, hour_of_day")
if [ "$got" = "$(cat "$PY/periods.txt")" ]; then
    pass "peak_periods (summer, autumn) equal the independent count"
else
    fail "peak_periods differ" "$(diff "$PY/periods.txt" <(echo "$got") | head -n 12)"
fi
expect "the evening is summer's peak period (the most frequent top-3 hour is 17..21 local)" "t" \
    "SELECT hour_of_day BETWEEN 17 AND 21 FROM peak_periods WHERE region = 'LON' AND season = 'summer'
      ORDER BY days_in_top3 DESC, hour_of_day LIMIT 1"
finish
