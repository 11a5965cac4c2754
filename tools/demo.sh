#!/bin/bash
# tools/demo.sh: the whole fleet on a realistic simulated feed (`make demo`).
#
# Starts a real Kafka broker (tools/kafka-local: Apache Kafka, one KRaft
# node, the DESIGN §2 topics), a throw-away PostgreSQL, a local S3
# (tools/s3-local) and Kafka Connect with the S3 sink (tools/connect-local,
# deploy/connect/*.json), applies the migrations, registers the simulated meters, starts ingest-gw, two
# stream-workers and the aggregator, replays two simulated days through the
# gateway (plus malformed records straight to Kafka) with meter-sim as fast
# as the gateway takes them, waits until the fleet has caught up, prints a
# summary, writes report/ (summary, PNGs) and stops everything. Whatever
# happens (an error, Ctrl-C), the trap stops every process it started and
# destroys the PostgreSQL cluster; every program also gets SIGTERM if this
# script dies without its trap (pdeathsig).
#
# Environment (for smaller runs, e.g. tests/scripts/test_demo.sh):
#   DEMO_METERS [5000]  DEMO_HOURS [48]  DEMO_SEED [42]
#   DEMO_START [2024-03-11T00:00:00Z]  DEMO_REPORT [report]  MF_BIN_DIR [build/bin]
#   DEMO_DRAIN_TIMEOUT [120] seconds without progress after which the wait
#                      for the fleet to catch up (meter-sim --drain) gives up
#   DEMO_TROUBLE [meter-sim's defaults] trouble rates, as meter-sim --trouble
#   DEMO_S3_WAIT [300] seconds the S3 archive check waits for Kafka Connect
#   DEMO_HISTORY_HOODS [10] neighborhoods (N-01..N-K, 0: all) whose meters first
#                      send the hourly history the neighborhood correlation needs
#                      (168 h ending with the last whole day of the range)
set -euo pipefail

cd "$(dirname "$0")/.."
TOP=$(pwd)
BIN=${MF_BIN_DIR:-build/bin}
METERS=${DEMO_METERS:-5000}
HOURS=${DEMO_HOURS:-48}
SEED=${DEMO_SEED:-42}
START=${DEMO_START:-2024-03-11T00:00:00Z}
REPORT=${DEMO_REPORT:-report}
DRAIN_TIMEOUT=${DEMO_DRAIN_TIMEOUT:-120}
# The correlation judges the 168 hours ending with the range's last whole
# (UTC) day; the hours of those before START come as an hourly history.
read -r HISTORY_H CORR_DAY <<<"$(python3 -c '
import datetime as d, sys
s = d.datetime.strptime(sys.argv[1], "%Y-%m-%dT%H:%M:%SZ")
e = s + d.timedelta(hours=float(sys.argv[2]))
end = e.replace(hour=0, minute=0, second=0, microsecond=0)
print(max(0, 168 - int((end - s).total_seconds() // 3600)), (end - d.timedelta(days=1)).date())' "$START" "$HOURS")"
SIM_FLEET=(--meters "$METERS" --seed "$SEED" --start "$START" --hours "$HOURS"
    --history-hours "$HISTORY_H" --history-hoods "${DEMO_HISTORY_HOODS:-10}")
[ -n "${DEMO_TROUBLE:-}" ] && SIM_FLEET+=(--trouble "$DEMO_TROUBLE")

T0=$(date +%s)
WORK=$(mktemp -d /tmp/mf-demo.XXXXXX)
chmod 711 "$WORK" # PostgreSQL runs as postgres under it (pgtmp.sh)
PIDS=()    # every background process we started, in start order (the broker first)
NAMES=()
STOP_RC=()
PGDIR=""

say() { printf '%s\n' "$*"; }
step() { printf '\n== [%3d s] %s\n' $(($(date +%s) - T0)) "$*"; }
die() {
    printf 'demo: %s\n' "$*" >&2
    exit 1
}

# ---------------------------------------------------------------- clean-up

# Stops the programs (SIGTERM, then TIMEOUT s, then SIGKILL): the fleet first,
# all at once, and the broker (always PIDS[0]) only after they are gone, since
# they leave the consumer group and flush through it. Runs on every exit:
# normal, error, Ctrl-C, SIGTERM. STOP_RC[i] gets each exit status.
stop_group() { # stop_group TIMEOUT INDEX...
    local i pid name rc deadline timeout=$1
    shift
    for i in "$@"; do
        pid=${PIDS[i]}
        kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null || true
    done
    deadline=$(($(date +%s) + timeout))
    for i in "$@"; do
        pid=${PIDS[i]} name=${NAMES[i]}
        while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            say "demo: $name did not stop within $timeout s of SIGTERM; killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
        rc=0
        wait "$pid" 2>/dev/null || rc=$?
        STOP_RC[i]=$rc
    done
}

stop_all() {
    local n=${#PIDS[@]} fleet=() i
    for ((i = n - 1; i >= 1; i--)); do fleet+=("$i"); done
    [ ${#fleet[@]} -gt 0 ] && stop_group 30 "${fleet[@]}"
    # kafka-local gives the JVM 30 s of its own.
    [ "$n" -gt 0 ] && stop_group 40 0
    PIDS=()
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    stop_all
    [ -n "$PGDIR" ] && tests/lib/pgtmp.sh destroy "$PGDIR" >/dev/null 2>&1
    if [ $rc -ne 0 ] && [ -d "$WORK" ]; then
        mkdir -p "$REPORT/logs" && cp "$WORK"/*.log "$REPORT/logs/" 2>/dev/null
        say "demo: failed (exit $rc); program logs in $REPORT/logs/" >&2
    fi
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT
trap 'say "demo: interrupted; stopping everything" >&2; exit 130' INT TERM

# start NAME CMD...: a background program, stdout+stderr to $WORK/NAME.log;
# it gets SIGTERM if this script dies (pdeathsig).
start() {
    local name=$1
    shift
    setpriv --pdeathsig TERM -- "$@" </dev/null >"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    NAMES+=("$name")
}

# wait_http URL NAME: until it answers 200 (15 s)
wait_http() {
    local i
    for i in $(seq 150); do
        curl -fs -o /dev/null "$1" && return 0
        sleep 0.1
    done
    die "$2 did not become ready ($1); see its log"
}

free_ports() {
    python3 -c '
import socket
s = [socket.socket() for _ in range(int(__import__("sys").argv[1]))]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))' "$1"
}

# metric URL FAMILY [LABEL VALUE]: the sum of a family's samples
metric() {
    curl -fs "$1" 2>/dev/null | awk -v fam="$2" -v lab="${3:-}" -v val="${4:-}" '
        $0 !~ /^#/ {
            name = $1; sub(/\{.*/, "", name)
            if (name != fam) next
            if (lab != "" && index($0, lab "=\"" val "\"") == 0) next
            s += $NF
        }
        END { printf "%.0f\n", s }'
}

psql_q() { psql "$DSN" -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"; }

for p in mf-topics ingest-gw stream-worker aggregator source-sink meter-sim meterctl; do
    [ -x "$BIN/$p" ] || die "$BIN/$p not built (run make)"
done
for p in psql gnuplot curl python3 setpriv; do
    command -v "$p" >/dev/null || die "$p not found (make deps installs it)"
done

say "meterflow demo: $METERS simulated meters, $HOURS h from $START, seed $SEED"

# ---------------------------------------------------------------- the stack

step "starting a local Kafka (tools/kafka-local: Apache Kafka, one KRaft node) and a throw-away PostgreSQL"
# The broker (about 5 s: a JVM, then the topics) starts while PostgreSQL does.
# Its first stdout line is the bootstrap address, printed once the topics exist.
setpriv --pdeathsig TERM -- tools/kafka-local --port 0 </dev/null >"$WORK/broker.out" 2>"$WORK/broker.log" &
PIDS+=($!)
NAMES+=(kafka-local)
# The S3 server (moto, a second or two) too; its first line is the endpoint.
setpriv --pdeathsig TERM -- tools/s3-local --port 0 </dev/null >"$WORK/s3.out" 2>"$WORK/s3.log" &
PIDS+=($!)
NAMES+=(s3-local)
PGDIR="$WORK/pg"
DSN=$(tests/lib/pgtmp.sh start "$PGDIR") || die "PostgreSQL did not start"
for i in $(seq 900); do
    [ -s "$WORK/broker.out" ] && break
    kill -0 "${PIDS[0]}" 2>/dev/null || { tail -n 20 "$WORK/broker.log" >&2; die "tools/kafka-local exited early (log above)"; }
    sleep 0.1
done
BROKERS=$(head -n 1 "$WORK/broker.out")
[ -n "$BROKERS" ] || die "tools/kafka-local printed no bootstrap address within 90 s"
say "broker: $BROKERS ($(sed -n 's/^kafka-local: \(Kafka [^ ]*\) on.*/Apache \1/p' "$WORK/broker.log" | head -n 1))"
say "postgres: $(printf '%s' "$DSN" | sed 's/password=[^ ]*/password=***/')"
for i in $(seq 300); do [ -s "$WORK/s3.out" ] && break; sleep 0.1; done
export S3_ENDPOINT=$(head -n 1 "$WORK/s3.out") S3_BUCKET=meterflow-archive
export S3_ACCESS_KEY=meterflow S3_SECRET_KEY=meterflow-local
[ -n "$S3_ENDPOINT" ] || { tail -n 20 "$WORK/s3.log" >&2; die "tools/s3-local printed no endpoint within 30 s"; }
say "s3: $S3_ENDPOINT/$S3_BUCKET (moto's S3 server, path-style)"
# Kafka Connect (10-30 s: the JVM, its plugins, the connectors' tasks)
# starts meanwhile; it runs deploy/connect/*.json as they are deployed.
CONNECT_I=${#PIDS[@]}
CONNECT_COMMIT_MS=10000 setpriv --pdeathsig TERM -- tools/connect-local --bootstrap "$BROKERS" --port 0 \
    </dev/null >"$WORK/connect.out" 2>"$WORK/connect.log" &
PIDS+=($!)
NAMES+=(connect-local)

step "applying migrations and registering the simulated meters"
PG_DSN=$DSN "$BIN/aggregator" migrate >"$WORK/migrate.log" 2>&1 || die "migrations failed"
say "migrations: $(psql_q 'SELECT count(*) FROM schema_migrations') applied"
"$BIN/meter-sim" registry "${SIM_FLEET[@]}" |
    psql "$DSN" -X -q -v ON_ERROR_STOP=1 -c '\copy meters (meter_id, class, max_kw, interval_s, vacant, neighborhood, region, active) FROM STDIN WITH (FORMAT csv, HEADER true)'
say "registry: $(psql_q 'SELECT count(*) FROM meters') meters" \
    "($(psql_q "SELECT count(*) FROM meters WHERE NOT active") inactive," \
    "$(psql_q "SELECT count(*) FROM meters WHERE vacant") vacant," \
    "$(psql_q "SELECT count(*) FROM meters WHERE max_kw < 20") with max_kw < 20)"
# The other sources (DESIGN §11): a feeder per neighborhood (the meters name
# theirs), a weather station per region, EV chargers and their vehicles.
"$BIN/meter-sim" sources-registry "${SIM_FLEET[@]}" | psql "$DSN" -X -q -v ON_ERROR_STOP=1 >/dev/null ||
    die "registering the feeders, stations and vehicles failed"
say "registry: $(psql_q 'SELECT count(*) FROM feeders') feeders," \
    "$(psql_q 'SELECT count(*) FROM weather_stations') weather stations," \
    "$(psql_q 'SELECT count(*) FROM vehicles') vehicles with their charger meters"
# For the daily analytics' summary: one meter of N-01 (which has the
# history) billed in America/New_York, whose DST change is the first in or
# before the range, and a regional holiday on the range's first day.
DST_METER=$(psql_q "SELECT min(meter_id) FROM meters WHERE active AND NOT vacant AND neighborhood = 'N-01'")
DST_DAY=$(psql_q "SELECT min((d AT TIME ZONE 'America/New_York')::date) FROM generate_series(timestamptz '$START' - interval '$HISTORY_H hours',
                    timestamptz '$START' + interval '$HOURS hours' - interval '1 day', interval '1 day') d
                   WHERE meterflow_day_hours((d AT TIME ZONE 'America/New_York')::date, 'America/New_York') <> 24")
psql_q "UPDATE meters SET tz = 'America/New_York' WHERE meter_id = '$DST_METER';
        INSERT INTO holidays (day, region, name) VALUES ('${START%%T*}', 'R-2', 'Demo Day')" >/dev/null
say "daily analytics: $DST_METER billed in America/New_York (its DST change: ${DST_DAY:-none in the range})," \
    "a holiday in R-2 on ${START%%T*}"

TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
printf '%s demo-sim * readings,grid,weather,vehicles\n' "$(printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)" >"$WORK/tokens"

read -r GW_PORT W1_PORT W2_PORT AGG_PORT SS_PORT <<<"$(free_ports 5)"
GW=http://127.0.0.1:$GW_PORT
W1=http://127.0.0.1:$W1_PORT/metrics
W2=http://127.0.0.1:$W2_PORT/metrics
AGG=http://127.0.0.1:$AGG_PORT/metrics
# Fresher consumer-lag gauges than the default 5 s, for the progress line
# and for meter-sim --drain, which waits for the aggregator's lag to be 0.
export KAFKA_STATISTICS_INTERVAL_MS=1000

step "starting ingest-gw, two stream-workers, the aggregator and source-sink"
say "History is replayed, so the workers run with TS_CHECK=off: readings from"
say "2024 are neither future_timestamp nor flagged backdated against today's clock."
start ingest-gw env KAFKA_BROKERS="$BROKERS" HTTP_ADDR="127.0.0.1:$GW_PORT" \
    GW_TOKENS_FILE="$WORK/tokens" "$BIN/ingest-gw"
for w in 1 2; do
    port_var=W${w}_PORT
    start "stream-worker-$w" env KAFKA_BROKERS="$BROKERS" PG_DSN="$DSN" TS_CHECK=off \
        METRICS_ADDR="127.0.0.1:${!port_var}" WORKER_ID="worker-$w" "$BIN/stream-worker"
done
start aggregator env KAFKA_BROKERS="$BROKERS" PG_DSN="$DSN" METRICS_ADDR="127.0.0.1:$AGG_PORT" \
    AGG_IDLE_FLUSH_S=5 AGG_DAILY_EVERY_S=5 "$BIN/aggregator"
start source-sink env KAFKA_BROKERS="$BROKERS" PG_DSN="$DSN" METRICS_ADDR="127.0.0.1:$SS_PORT" \
    "$BIN/source-sink"
wait_http "$GW/readyz" ingest-gw
wait_http "http://127.0.0.1:$SS_PORT/readyz" source-sink
wait_http "http://127.0.0.1:$W1_PORT/readyz" stream-worker-1
wait_http "http://127.0.0.1:$W2_PORT/readyz" stream-worker-2
wait_http "http://127.0.0.1:$AGG_PORT/readyz" aggregator
say "gateway $GW; worker metrics :$W1_PORT :$W2_PORT; aggregator metrics :$AGG_PORT"
for i in $(seq 1500); do
    [ -s "$WORK/connect.out" ] && break
    kill -0 "${PIDS[CONNECT_I]}" 2>/dev/null || { tail -n 20 "$WORK/connect.log" >&2; die "tools/connect-local exited early (log above)"; }
    sleep 0.1
done
[ -s "$WORK/connect.out" ] || die "Kafka Connect not RUNNING within 150 s (see $WORK/connect.log)"
say "Kafka Connect $(head -n 1 "$WORK/connect.out"): s3-sink-raw, s3-sink-rollups RUNNING (deploy/connect/*.json)"

# ---------------------------------------------------------------- the replay

step "replaying $HOURS simulated hours through ingest-gw (malformed records straight to Kafka)"
# As fast as the gateway takes them: Kafka holds what the workers and the
# aggregator have not read yet (the only backpressure is the gateway's 503 +
# Retry-After). --lag-metrics feeds the progress line and --drain, which
# waits until the fleet has caught up.
T_SIM=$(date +%s)
"$BIN/meter-sim" run "${SIM_FLEET[@]}" --gw "$GW" --token "$TOKEN" --brokers "$BROKERS" \
    --lag-metrics "$W1,$W2,$AGG" --truth "$WORK/truth.jsonl" --progress --drain \
    --drain-timeout "$DRAIN_TIMEOUT" 2>&1 | tee "$WORK/sim.log" | grep --line-buffered '^sim:' ||
    die "meter-sim run failed; see above"
SIM_SECS=$(($(date +%s) - T_SIM))


# ---------------------------------------------------------------- the summary

step "scoring the alerts against the injected trouble"
# The neighborhood correlation of $CORR_DAY: once a daily round that began
# after the fleet caught up (AGG_DAILY_EVERY_S=5) judged that day and
# published its alerts. A round before may have judged it from part of the
# week (a busy machine's pause in the stream closes the days by the wall
# clock); the rest then arrived late and made the week's days dirty, so
# the next round judges it again, and no dirty day may be left.
ROUNDS0=$(metric "$AGG" meterflow_agg_daily_rounds_total)
for i in $(seq 1200); do
    [ "$(metric "$AGG" meterflow_agg_daily_rounds_total)" -ge $((ROUNDS0 + 2)) ] &&
        [ "$(psql_q "SELECT coalesce((SELECT value FROM fleet_settings WHERE name = 'correlation_day')
                   >= '$CORR_DAY', false) AND NOT EXISTS (SELECT 1 FROM analytics_alert_outbox)
                   AND NOT EXISTS (SELECT 1 FROM peak_days_dirty WHERE day <= '$CORR_DAY')")" = t ] && break
    sleep 0.1
done
say "neighborhood correlation of $CORR_DAY: judged by the aggregator" \
    "(last correlation day: $(psql_q "SELECT coalesce(max(value), 'none') FROM fleet_settings WHERE name = 'correlation_day'"))"
"$BIN/meter-sim" score --truth "$WORK/truth.jsonl" --brokers "$BROKERS" --metrics "$W1,$W2" \
    --agg-metrics "$AGG" --kv >"$WORK/score.txt" || die "meter-sim score failed"

# After the score, which checks the workers' counters against the meters'
# truth: the EV chargers' readings below are readings too, not in that truth.
step "the other sources through ingest-gw: feeders, weather stations, EVs (meter-sim sources)"
# The London hourly weather file, when present, is replayed as station LHR-DS.
WX_FILE=${MF_DATA_DIR:-/work/shared/data}/london_weather_hourly_darksky_2011-2014.csv.gz
[ -f "$WX_FILE" ] || { say "($WX_FILE absent: no London station)"; WX_FILE=; }
T_SRC=$(date +%s)
SIM_WEATHER_FILE=$WX_FILE "$BIN/meter-sim" sources "${SIM_FLEET[@]}" --gw "$GW" --token "$TOKEN" \
    >"$WORK/sources.txt" 2>"$WORK/sources.log" || { cat "$WORK/sources.log" >&2; die "meter-sim sources failed"; }
src() { sed -n "s/^$1=//p" "$WORK/sources.txt"; }
# source-sink stores them; the chargers' readings go the meters' way (worker, aggregator).
EV_ROWS=$(($(src telemetry_accepted) / 2))
for i in $(seq 1200); do
    [ "$(psql_q "SELECT (SELECT count(*) FROM grid_feed_readings) = $(src grid_accepted)
                   AND (SELECT count(*) FROM vehicle_telemetry_history) = $EV_ROWS
                   AND (SELECT coalesce(sum(count), 0) FROM rollup_1h_stats WHERE meter_id LIKE 'EVC-%') = $EV_ROWS")" = t ] && break
    sleep 0.1
done
say "grid $(src grid_accepted), weather $(src weather_accepted), EV telemetry $(src telemetry_accepted) accepted;" \
    "stored in $(($(date +%s) - T_SRC)) s"

# The weather just stored marked its days dirty: the aggregator's next
# round computes their peaks again (AGG_DAILY_EVERY_S=5).
for i in $(seq 1200); do
    [ "$(psql_q "SELECT NOT EXISTS (SELECT 1 FROM peak_days_dirty
                   WHERE day < (timestamptz '$START' + interval '$HOURS hours')::date)")" = t ] && break
    sleep 0.1
done

step "the S3 archive: Kafka Connect writing the rest, then everything read back (tools/s3-archive)"
# Until every raw and rollup record of Kafka is in S3 exactly once and the
# highest revisions equal PostgreSQL's closed windows (it reads again only
# the objects that changed).
S3_OK=1
tools/s3-archive check --brokers "$BROKERS" --pg "$DSN" --wait "${DEMO_S3_WAIT:-300}" \
    >"$WORK/s3check.txt" 2>&1 || S3_OK=0
tools/s3-archive summary --kv >"$WORK/s3facts.txt" 2>>"$WORK/s3check.txt" || S3_OK=0
s3f() { sed -n "s/^$1=//p" "$WORK/s3check.txt" "$WORK/s3facts.txt" | head -n 1; }
size() { awk -v b="$1" 'BEGIN { if (b >= 1048576) printf "%.1f MB", b / 1048576; else printf "%.0f KB", b / 1024 }'; }
if [ $S3_OK = 1 ]; then
    S3_CHECK="yes: $(s3f raw_records) raw records and $(s3f rollup_rows) rollup records, each once;"
    S3_CHECK="$S3_CHECK the highest revisions equal PostgreSQL's $(s3f pg_closed_windows) closed windows"
else
    S3_CHECK="NO: $(sed -n 's/^problem: //p' "$WORK/s3check.txt" | head -n 1)"
fi
say "read back: $S3_CHECK"

GEN=$(sed -n 's/^sim: sent \([0-9]*\) readings.*/\1/p' "$WORK/sim.log" | tail -n 1)
GEN=$((GEN + EV_ROWS)) # and the EV chargers' readings (meter-sim sources)
MALF=$(sed -n 's/.*malformed to Kafka \([0-9]*\).*/\1/p' "$WORK/sim.log" | tail -n 1)
RESENT=$(sed -n 's/.*resent after 503 \([0-9]*\).*/\1/p' "$WORK/sim.log" | tail -n 1)
GW_ACC=$(metric "$GW/metrics" meterflow_gw_readings_total outcome accepted)
GW_REJ=$(metric "$GW/metrics" meterflow_gw_readings_total outcome rejected)
wk() { echo $(($(metric "$W1" "$@") + $(metric "$W2" "$@"))); }
VAL=$(wk meterflow_worker_records_total outcome validated)
QUA=$(wk meterflow_worker_records_total outcome quarantine)
DLQ=$(wk meterflow_worker_records_total outcome dlq)
INT=$(wk meterflow_worker_records_total outcome interpolated)
SUM=$((VAL + QUA + DLQ))
IN=$((GW_ACC + MALF))
R1M=$(psql_q 'SELECT count(*) FROM rollup_1m')
R1H=$(psql_q 'SELECT count(*) FROM rollup_1h_stats')
PREM=$(psql_q 'SELECT coalesce(sum(premium), 0) FROM rollup_1h_stats')
STD=$(psql_q 'SELECT coalesce(sum(standard), 0) FROM rollup_1h_stats')
AGG_N=$(psql_q 'SELECT coalesce(sum(count), 0) FROM rollup_1h_stats')
AGG_WIN=$(metric "$AGG" meterflow_agg_windows_total)
ALERTS_DET=$(awk '/^score.alert/ { for (i = 2; i <= NF; i++) if ($i ~ /^detected=/) { sub(/detected=/, "", $i); s += $i } } END { print s + 0 }' "$WORK/score.txt")
ALERTS_EXP=$(awk '/^score.alert/ { for (i = 2; i <= NF; i++) if ($i ~ /^expected=/) { sub(/expected=/, "", $i); s += $i } } END { print s + 0 }' "$WORK/score.txt")
ALERTS_FALSE=$(awk '/^score.alert/ { for (i = 2; i <= NF; i++) if ($i ~ /^false=/) { sub(/false=/, "", $i); s += $i } } END { print s + 0 }' "$WORK/score.txt")

mkdir -p "$REPORT"
rm -f "$REPORT"/*.png "$REPORT"/summary.txt "$REPORT"/facts.env
rm -rf "$REPORT/logs"
if [ "$SUM" -eq "$IN" ]; then
    ACCOUNTED="yes: every record in ended in exactly one of validated, quarantine, DLQ"
else
    ACCOUNTED="NO: $IN in, $SUM out"
fi

# The range's closing reading (at its end time) opens an hour of its own: left out here.
# The history before START (for the neighborhood correlation) is left out too.
IN_RANGE="window_start >= timestamptz '$START' AND window_start < timestamptz '$START' + interval '$HOURS hours'"
PEAKS_SQL="WITH fleet AS (
  SELECT window_start, sum(avg_kw) AS fleet_kw, count(*) AS meters
    FROM rollup_1h_stats WHERE $IN_RANGE GROUP BY window_start),
ranked AS (
  SELECT *, rank() OVER (PARTITION BY date_trunc('day', window_start) ORDER BY fleet_kw DESC) AS r
    FROM fleet)
SELECT to_char(window_start AT TIME ZONE 'UTC', 'Dy YYYY-MM-DD HH24:MI') AS \"hour (UTC)\",
       round(fleet_kw::numeric, 0) AS fleet_kw, meters
  FROM ranked WHERE r <= 3 ORDER BY window_start::date, r"
ANALYST_SQL="SELECT m.region,
       count(DISTINCT r.meter_id)             AS meters,
       round(sum(r.energy_kwh)::numeric, 0)    AS energy_kwh,
       round((sum(r.quality_sum) / sum(r.count))::numeric, 1) AS avg_quality
  FROM rollup_1h_stats r JOIN meters m USING (meter_id)
 WHERE $IN_RANGE
 GROUP BY m.region ORDER BY m.region"

{
    echo "meterflow demo summary ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
    echo "fleet: $METERS simulated meters, $HOURS h from $START (seed $SEED), replayed in ${SIM_SECS} s"
    echo
    echo "Readings in"
    printf '  %-44s %10s\n' "generated by meter-sim" "$GEN"
    printf '  %-44s %10s\n' "accepted by ingest-gw (Kafka acked)" "$GW_ACC"
    printf '  %-44s %10s\n' "rejected by ingest-gw (4xx items)" "$GW_REJ"
    printf '  %-44s %10s\n' "resent after a 503 (become duplicates)" "${RESENT:-0}"
    printf '  %-44s %10s\n' "malformed, straight to Kafka" "$MALF"
    echo "Where each went (stream-workers, by source record)"
    printf '  %-44s %10s\n' "validated" "$VAL"
    printf '  %-44s %10s\n' "quarantine" "$QUA"
    printf '  %-44s %10s\n' "dead-letter (DLQ)" "$DLQ"
    printf '  %-44s %10s\n' "total = accepted + malformed?" "$SUM"
    echo "  accounted for: $ACCOUNTED"
    printf '  %-44s %10s\n' "interpolated (extra readings filling gaps)" "$INT"
    echo "Quality tiers"
    printf '  %-44s %10s\n' "premium (>= 90), in the rollups" "$PREM"
    printf '  %-44s %10s\n' "standard (70..89), in the rollups" "$STD"
    printf '  %-44s %10s\n' "quarantine (< 70 or rejected)" "$QUA"
    echo
    grep -v '^score\.' "$WORK/score.txt"
    echo
    echo "Rollups (aggregator -> PostgreSQL)"
    printf '  %-44s %10s\n' "rollup_1m rows" "$R1M"
    printf '  %-44s %10s\n' "rollup_1h rows" "$R1H"
    printf '  %-44s %10s\n' "readings in the 1 h rollups" "$AGG_N"
    printf '  %-44s %10s\n' "windows closed and published (1m + 1h)" "$AGG_WIN"
    echo
    echo "S3 archive (Kafka Connect S3 sink -> $S3_ENDPOINT/$S3_BUCKET)"
    printf '  %-44s %10s  %s\n' "raw/YYYY/MM/DD/HH/ objects (JSON lines, gzip)" "$(s3f raw_objects)" \
        "$(size "$(s3f raw_bytes)"), $(s3f raw_records) readings in $(s3f raw_hours) hours"
    printf '  %-44s %10s  %s\n' "analytics/YYYY/MM/DD/ objects (Parquet, Snappy)" "$(s3f analytics_objects)" \
        "$(size "$(s3f analytics_bytes)"), $(s3f analytics_rows) rollup rows in $(s3f analytics_days) days"
    printf '  %-44s %10s  %s\n' "Parquet vs the same rows as JSON" "$(s3f parquet_vs_json)" \
        "($(size "$(s3f analytics_bytes)") vs $(size "$(s3f analytics_json_bytes)"))"
    echo "  read back: $S3_CHECK"
    echo
    echo "Top-3 fleet peak hours of each day (sum of the meters' avg_kw)"
    psql "$DSN" -X -q -P footer=off -c "$PEAKS_SQL" |
        sed 's/^/  /'
    echo
    echo "Peak hours per region and day (peak_hours, computed by the aggregator as days close;"
    echo "  FLEET_TZ UTC): the top 3, and why a day is left out of peak_periods"
    psql "$DSN" -X -q -P footer=off -c "SELECT day, region,
           string_agg(to_char(hour_start AT TIME ZONE 'UTC', 'HH24:MI'), ' ' ORDER BY rank) AS top3,
           CASE WHEN excluded THEN 'excluded' ELSE '' END AS excluded, coalesce(exclusion, '') AS why
      FROM peak_hours WHERE day >= '${START%%T*}' AND day < (timestamptz '$START' + interval '$HOURS hours')::date
     GROUP BY day, region, excluded, exclusion ORDER BY region, day" | sed 's/^/  /'
    echo
    if [ -n "$DST_DAY" ]; then
        echo "A billing day across a DST change: $DST_METER in America/New_York (meterflow_rollup_1d_local)"
        psql "$DSN" -X -q -P footer=off -c "SELECT day, tz, hours, count AS readings,
               round(energy_kwh::numeric, 2) AS energy_kwh, exact
          FROM meterflow_rollup_1d_local(date '$DST_DAY' - 1, date '$DST_DAY' + 1)
         WHERE meter_id = '$DST_METER' ORDER BY day" | sed 's/^/  /'
        echo
    fi
    echo "An analyst query: energy and average quality by region"
    echo "$ANALYST_SQL" | sed 's/^/  | /'
    psql "$DSN" -X -q -P footer=off -c "$ANALYST_SQL" | sed 's/^/  /'
    echo
    echo "The other sources (source-sink -> PostgreSQL)"
    printf '  %-44s %10s\n' "grid feed readings stored" "$(psql_q 'SELECT count(*) FROM grid_feed_readings')"
    printf '  %-44s %10s\n' "weather observations stored" "$(psql_q 'SELECT count(*) FROM weather_observations')"
    printf '  %-44s %10s\n' "vehicle reports stored (history)" "$(psql_q 'SELECT count(*) FROM vehicle_telemetry_history')"
    printf '  %-44s %10s\n' "refused to the DLQ by source-sink" "$(metric "http://127.0.0.1:$SS_PORT/metrics" meterflow_source_records_total outcome dlq)"
    echo
    echo "Feeder balance (feeder_balance_1h over the range): the 5 feeders with the most unaccounted energy"
    echo "  (simulated: 2-6 % technical losses each; $(src truth_unregistered_feeder) also feeds an unregistered load, $(src truth_unregistered_pct) % of its energy)"
    psql "$DSN" -X -q -P footer=off -c "SELECT feeder_id, round(sum(feeder_kwh)::numeric, 0) AS feeder_kwh,
           round(sum(meters_kwh)::numeric, 0) AS meters_kwh, max(meters_registered) AS meters,
           round((100 * sum(unaccounted_kwh) / nullif(sum(feeder_kwh), 0))::numeric, 1) AS unaccounted_pct
      FROM feeder_balance_1h WHERE $IN_RANGE
     GROUP BY feeder_id ORDER BY unaccounted_pct DESC NULLS LAST LIMIT 5" | sed 's/^/  /'
    echo
    echo "Weather per region (weather_hourly; $(src truth_heatwave_station) goes through a heat wave)"
    psql "$DSN" -X -q -P footer=off -c "SELECT region, count(*) AS hours, round(min(temp_c_min)::numeric, 1) AS min_c,
           round(avg(temp_c_avg)::numeric, 1) AS avg_c, round(max(temp_c_max)::numeric, 1) AS max_c
      FROM weather_hourly GROUP BY region ORDER BY region" | sed 's/^/  /'
    echo
    echo "EV charging efficiency over the last 24 h (DC into the battery / AC through its charger meter)"
    psql "$DSN" -X -q -P footer=off -c "WITH w AS (SELECT max(ts) - interval '24 hours' AS since FROM vehicle_telemetry_history),
      dc AS (SELECT vehicle_id, sum(kwh_delivered_dc) AS kwh FROM vehicle_telemetry_history, w
              WHERE ts >= since GROUP BY vehicle_id),
      ac AS (SELECT v.vehicle_id, sum(r.energy_kwh) AS kwh FROM vehicles v JOIN rollup_1h_stats r
              ON r.meter_id = v.meter_id, w WHERE r.window_start >= since GROUP BY v.vehicle_id)
    SELECT dc.vehicle_id, round(ac.kwh::numeric, 1) AS ac_kwh, round(dc.kwh::numeric, 1) AS dc_kwh,
           round((100 * dc.kwh / nullif(ac.kwh, 0))::numeric, 1) AS efficiency_pct,
           CASE WHEN dc.kwh / nullif(ac.kwh, 0) < 0.75 THEN 'degraded (< 75 %)' ELSE '' END AS note
      FROM dc JOIN ac USING (vehicle_id) ORDER BY vehicle_id" | sed 's/^/  /'
    echo "  simulated: $(grep '^truth_efficiency' "$WORK/sources.txt" | sed 's/truth_efficiency_last24h_//; s/=/ /' | tr '\n' ',' | sed 's/,$//; s/,/, /g')"
} >"$REPORT/summary.txt"

# ---------------------------------------------------------------- the report

step "what the fleet did per hour (the topics read back) and the pictures in $REPORT/"
# What the fleet did per hour of event time, for quality.png: quarantined
# readings by reason, flags on validated readings, alerts raised and cleared.
"$BIN/meter-sim" hourly --brokers "$BROKERS" >"$WORK/events.txt" || die "meter-sim hourly failed"
# One line per hour of the range, its closing hour included (the closing
# readings, at the end time, are where zero_value alarms); "?" where the
# rollups have no full hour. The columns are named in the file's first line.
{
    echo "# hour(UTC) fleet_kw avg_quality premium_pct q_meter q_fault q_value q_order q_score" \
        "f_spike f_drop f_interpolated f_gap alerts_raised alerts_cleared"
    psql "$DSN" -X -q -A -t -F ' ' -v ON_ERROR_STOP=1 \
        -c 'CREATE TEMP TABLE ev (hour timestamptz, series text, n bigint)' \
        -c "\\copy ev FROM pstdin WITH (FORMAT text, DELIMITER ' ')" \
        -c "
WITH hours AS (
  SELECT generate_series(timestamptz '$START', timestamptz '$START' + interval '$HOURS hours',
                         interval '1 hour') AS h),
roll AS (
  SELECT window_start, round(sum(avg_kw)::numeric, 2) AS kw,
         round((sum(quality_sum) / sum(count))::numeric, 2) AS q,
         round((100.0 * sum(premium) / sum(count))::numeric, 2) AS prem
    FROM rollup_1h_stats WHERE $IN_RANGE GROUP BY window_start),
e AS (
  SELECT hour,
    sum(n) FILTER (WHERE series IN ('quarantine:unknown_meter', 'quarantine:inactive_meter')) AS q_meter,
    sum(n) FILTER (WHERE series LIKE 'quarantine:fault:%') AS q_fault,
    sum(n) FILTER (WHERE series IN ('quarantine:negative_value', 'quarantine:over_limit',
                                    'quarantine:unit_ambiguous', 'quarantine:unit_unknown')) AS q_value,
    sum(n) FILTER (WHERE series IN ('quarantine:duplicate', 'quarantine:out_of_order',
                                    'quarantine:future_timestamp')) AS q_order,
    sum(n) FILTER (WHERE series = 'quarantine:score') AS q_score,
    sum(n) FILTER (WHERE series = 'flag:spike') AS f_spike,
    sum(n) FILTER (WHERE series = 'flag:drop') AS f_drop,
    sum(n) FILTER (WHERE series = 'flag:interpolated') AS f_interp,
    sum(n) FILTER (WHERE series IN ('flag:missing_short', 'flag:missing_extended')) AS f_gap,
    sum(n) FILTER (WHERE series LIKE 'alert.raised:%') AS a_raised,
    sum(n) FILTER (WHERE series LIKE 'alert.cleared:%') AS a_cleared
    FROM ev GROUP BY hour)
SELECT to_char(h AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI'),
       coalesce(kw::text, '?'), coalesce(q::text, '?'), coalesce(prem::text, '?'),
       coalesce(q_meter, 0), coalesce(q_fault, 0), coalesce(q_value, 0), coalesce(q_order, 0),
       coalesce(q_score, 0), coalesce(f_spike, 0), coalesce(f_drop, 0), coalesce(f_interp, 0),
       coalesce(f_gap, 0), coalesce(a_raised, 0), coalesce(a_cleared, 0)
  FROM hours LEFT JOIN roll ON window_start = h LEFT JOIN e ON hour = h
 ORDER BY h" < <(grep -v '^#' "$WORK/events.txt")
} >"$REPORT/hourly.dat" || die "could not write $REPORT/hourly.dat"
cp "$WORK/truth.jsonl" "$REPORT/truth.jsonl"
gnuplot -e "report='$REPORT'; meters=$METERS" tools/demo-plots.gp || die "gnuplot failed"

cat >"$REPORT/facts.env" <<EOF
generated=$GEN
gw_accepted=$GW_ACC
gw_rejected=$GW_REJ
malformed=$MALF
validated=$VAL
quarantine=$QUA
dlq=$DLQ
interpolated=$INT
accounted=$([ "$SUM" -eq "$IN" ] && echo 1 || echo 0)
alerts_expected=$ALERTS_EXP
alerts_detected=$ALERTS_DET
alerts_false=$ALERTS_FALSE
$(sed -n 's/^score\.reading\.\([a-z_]*\) .*injected=\([0-9]*\) detected=\([0-9]*\).*/faults_\1="\2 \3"/p' "$WORK/score.txt")
$(sed -n 's/^score\.correlation \(.*\)/\1/p' "$WORK/score.txt" | tr ' ' '\n' | sed 's/^/corr_/')
$(sed -n 's/^score\.reading\.false_flags readings=\([0-9]*\) flags=\([0-9]*\) false=\([0-9]*\) per_1000=\([0-9.]*\)/false_flags=\3\nfalse_flags_per_1000=\4/p' "$WORK/score.txt")
rollup_1m=$R1M
rollup_1h=$R1H
rollup_readings=$AGG_N
peaks_days=$(psql_q "SELECT count(DISTINCT (day, region)) FROM peak_hours WHERE day >= '${START%%T*}'
                        AND day < (timestamptz '$START' + interval '$HOURS hours')::date")
peaks_holiday=$(psql_q "SELECT count(DISTINCT day) FROM peak_hours WHERE region IN ('R-2', '*') AND exclusion LIKE '%holiday: Demo Day%'")
peaks_weather=$(psql_q "SELECT count(DISTINCT (day, region)) FROM peak_hours WHERE exclusion LIKE '%extreme weather%'")
dst_day=$DST_DAY
dst_hours=$([ -n "$DST_DAY" ] && psql_q "SELECT hours FROM meterflow_rollup_1d_local('$DST_DAY', '$DST_DAY') WHERE meter_id = '$DST_METER'")
sources_grid_accepted=$(src grid_accepted)
sources_grid_stored=$(psql_q 'SELECT count(*) FROM grid_feed_readings')
sources_ev_stored=$(psql_q 'SELECT count(*) FROM vehicle_telemetry_history')
sources_ev_sent=$EV_ROWS
sources_top_feeder=$(psql_q "SELECT feeder_id FROM feeder_balance_1h WHERE $IN_RANGE GROUP BY feeder_id
                               ORDER BY sum(unaccounted_kwh) / nullif(sum(feeder_kwh), 0) DESC NULLS LAST LIMIT 1")
sources_unregistered_feeder=$(src truth_unregistered_feeder)
sources_hottest_c=$(psql_q "SELECT round(max(temp_c_max)::numeric, 1) FROM weather_hourly")
sources_degraded=$(psql_q "WITH w AS (SELECT max(ts) - interval '24 hours' AS since FROM vehicle_telemetry_history),
  dc AS (SELECT vehicle_id, sum(kwh_delivered_dc) AS kwh FROM vehicle_telemetry_history, w WHERE ts >= since GROUP BY 1),
  ac AS (SELECT v.vehicle_id, sum(r.energy_kwh) AS kwh FROM vehicles v JOIN rollup_1h_stats r ON r.meter_id = v.meter_id, w
          WHERE r.window_start >= since GROUP BY 1)
  SELECT string_agg(vehicle_id, ',' ORDER BY vehicle_id) FROM dc JOIN ac USING (vehicle_id) WHERE dc.kwh / nullif(ac.kwh, 0) < 0.75")
$(sed 's/^/s3_/' "$WORK/s3facts.txt")
s3_checked=$S3_OK
workdir=$WORK
pids="${PIDS[*]}"
EOF

echo
cat "$REPORT/summary.txt"

# ---------------------------------------------------------------- operations

step "operations by hand with meterctl (DESIGN §14): review, replay, the audit trail"
CTL() { PG_DSN=$DSN KAFKA_BROKERS=$BROKERS LOG_LEVEL=warn "$BIN/meterctl" "$@"; }
# source-sink stores every quarantined reading and DLQ record (the review stores).
for i in $(seq 1200); do
    [ "$(psql_q "SELECT (SELECT count(*) FROM quarantine_readings) >= $QUA
                   AND (SELECT count(*) FROM dlq_records) >= $DLQ")" = t ] && break
    sleep 0.1
done
say "review stores: $(psql_q 'SELECT count(*) FROM quarantine_readings') quarantined readings," \
    "$(psql_q 'SELECT count(*) FROM dlq_records') DLQ records (source-sink, exactly once)"
# Most of what waits for review the simulator put there on purpose: meters
# that are not in the registry (UNK-*, every reading unknown_meter), meters
# registered inactive, the injected faults. truth.jsonl says how many of
# each; the listing sets them side by side so none looks like a loss.
TRUTH_REASONS=$(python3 - "$WORK/truth.jsonl" <<'PY'
import collections, json, sys
n = collections.Counter()
for line in open(sys.argv[1]):
    o = json.loads(line)
    if "meter_id" in o:
        for k, v in o["expect"]["flags"].items():
            n[k] += v
print(",".join("('%s',%d)" % kv for kv in sorted(n.items())) or "('-',0)")
PY
) || die "could not read $WORK/truth.jsonl"
UNK_METERS=$(grep -c '"kind":"unknown"' "$WORK/truth.jsonl" || true)
INACT_METERS=$(grep -c '"kind":"inactive"' "$WORK/truth.jsonl" || true)
say "pending quarantine by reason, beside what the simulator injected on purpose (truth.jsonl):"
psql "$DSN" -X -q -v ON_ERROR_STOP=1 \
    -c "SELECT u.r AS reason, count(*) AS pending, max(t.n) AS injected
          FROM quarantine_readings CROSS JOIN LATERAL unnest(reasons) AS u(r)
          LEFT JOIN (VALUES $TRUTH_REASONS) AS t(reason, n) ON t.reason = u.r
         WHERE status = 'pending' GROUP BY 1 ORDER BY 2 DESC, 1" ||
    die "listing the pending quarantine failed"
INACT_NOTE=""
[ "$INACT_METERS" -gt 0 ] && INACT_NOTE="; inactive_meter: $INACT_METERS meters registered inactive"
say "  unknown_meter: the simulator sends $UNK_METERS meters that are not in the registry" \
    "(UNK-00001.., one reading an hour) to show the rule$INACT_NOTE. These are intended, not" \
    "lost readings; fault:* are the injected faults, scored as alerts in the summary above."
OPS_UNK_PENDING=$(psql_q "SELECT count(*) FROM quarantine_readings
                          WHERE status = 'pending' AND 'unknown_meter' = ANY(reasons)")
OPS_UNK_INJECTED=$(sed -n 's/.*"kind":"unknown".*"unknown_meter":\([0-9]*\).*/\1/p' "$WORK/truth.jsonl" |
    awk '{ s += $1 } END { print s + 0 }')

# One meter's firmware update dropped the unit: 3 readings of 640 (W, really)
# arrive without one, after the replayed days: unit_ambiguous (rule 2).
# Two days after the replayed ones, where nothing else is.
OPS_T0=$(psql_q "SELECT extract(epoch FROM timestamptz '$START' + interval '$HOURS hours' + interval '2 days')::bigint")
OPS_FROM=$(date -u -d "@$OPS_T0" +%Y-%m-%dT%H:%M:%SZ)
OPS_METER=$(psql_q "SELECT min(meter_id) FROM meters WHERE active AND NOT vacant AND meter_id LIKE 'MTR-%'")
OPS_IV=$(psql_q "SELECT interval_s FROM meters WHERE meter_id = '$OPS_METER'")
[ -n "$OPS_METER" ] && [ -n "$OPS_IV" ] || die "no active simulated meter for the operations scene"
body="["
for k in 0 1 2; do
    ts=$(date -u -d "@$((OPS_T0 + k * OPS_IV))" +%Y-%m-%dT%H:%M:%SZ)
    [ $k -gt 0 ] && body+=","
    body+="{\"meter_id\":\"$OPS_METER\",\"ts\":\"$ts\",\"value\":640}"
done
curl -sS -o "$WORK/ops-post.txt" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' --data "$body]" "$GW/v1/readings" >"$WORK/ops-code.txt" || true
[ "$(cat "$WORK/ops-code.txt")" = 202 ] ||
    die "posting the unit-less readings: $(cat "$WORK/ops-code.txt") $(cat "$WORK/ops-post.txt")"
Q_AMB="SELECT count(*) FROM quarantine_readings WHERE meter_id = '$OPS_METER'
         AND 'unit_ambiguous' = ANY(reasons) AND ts >= timestamptz '$OPS_FROM'"
for i in $(seq 600); do [ "$(psql_q "$Q_AMB")" = 3 ] && break; sleep 0.1; done
say "\$ meterctl quarantine list --meter $OPS_METER --reason unit_ambiguous --from $OPS_FROM"
CTL quarantine list --meter "$OPS_METER" --reason unit_ambiguous --from "$OPS_FROM"
say "\$ meterctl quarantine approve --meter $OPS_METER --reason unit_ambiguous --from $OPS_FROM --unit W --why ..."
CTL quarantine approve --meter "$OPS_METER" --reason unit_ambiguous --from "$OPS_FROM" --unit W \
    --actor demo-operator --why "firmware 4.2 sends watts without a unit (ticket OPS-17)" ||
    die "approve failed"
Q_ROLL="SELECT coalesce(sum(count), 0) FROM rollup_1m_stats WHERE meter_id = '$OPS_METER'
          AND window_start >= timestamptz '$OPS_FROM'"
for i in $(seq 600); do [ "$(psql_q "$Q_ROLL")" = 3 ] && break; sleep 0.1; done
say "in the rollups: $(psql_q "$Q_ROLL") readings of $OPS_METER from $OPS_FROM, max" \
    "$(psql_q "SELECT max(max_kw) FROM rollup_1m_stats WHERE meter_id = '$OPS_METER' AND window_start >= timestamptz '$OPS_FROM'") kW"
OPS_ONE=$(psql_q "SELECT min(id) FROM quarantine_readings WHERE meter_id = '$OPS_METER' AND status = 'approved'")
say "\$ meterctl quarantine approve $OPS_ONE --unit W --why again   # nothing is approved twice"
if CTL quarantine approve "$OPS_ONE" --unit W --why again >"$WORK/again.txt" 2>&1; then OPS_AGAIN=0; else OPS_AGAIN=$?; fi
sed 's/^/  /' "$WORK/again.txt"

# The DLQ's malformed records with a decimal comma ("1,5"): fixed by hand and
# replayed, once each; the worker then decides as for any reading.
say "\$ meterctl dlq list --code parse_error --limit 6"
CTL dlq list --code parse_error --limit 6
OPS_IDS=$(psql_q "SELECT id FROM dlq_records WHERE error_code = 'parse_error'
                    AND value LIKE '%\"value\":\"1,5\"%' ORDER BY id LIMIT 3")
for id in $OPS_IDS; do
    v=$(psql_q "SELECT value FROM dlq_records WHERE id = $id")
    say "\$ meterctl dlq replay $id --value '${v//\"1,5\"/1.5}' --why ..."
    CTL dlq replay "$id" --value "${v//\"1,5\"/1.5}" --actor demo-operator \
        --why "firmware 2.1 writes a decimal comma; value fixed by hand" || die "replay failed"
done
OPS_NREPLAY=$(echo $OPS_IDS | wc -w)
# Where they went: a replayed record's raw position is the src of what the worker made of it.
Q_WENT="FROM dlq_records d LEFT JOIN quarantine_readings q ON q.src_partition = d.publish_partition
          AND q.src_offset = d.publish_offset WHERE d.status = 'replayed'"
for i in $(seq 300); do [ "$(psql_q "SELECT count(q.id) $Q_WENT")" = "$OPS_NREPLAY" ] && break; sleep 0.1; done
psql "$DSN" -X -q -c "SELECT d.id AS dlq_id, d.publish_partition || '@' || d.publish_offset AS raw_position,
                        q.id AS quarantine_id, q.meter_id, array_to_string(q.reasons, ',') AS worker_said $Q_WENT
                        ORDER BY d.id"
OPS_REJ=$(psql_q "SELECT string_agg(q.id::text, ' ') $Q_WENT AND q.status = 'pending'")
if [ -n "$OPS_REJ" ]; then
    say "\$ meterctl quarantine reject $OPS_REJ --why ...   # the meters had sent these readings already"
    # shellcheck disable=SC2086
    CTL quarantine reject $OPS_REJ --actor demo-operator --why "late repeats of readings already stored" ||
        die "reject failed"
fi
say "the audit trail (audit_log):"
psql "$DSN" -X -q -c "SELECT to_char(at, 'HH24:MI:SS') AS at, actor, action, target, left(why, 50) AS why
                      FROM audit_log ORDER BY id"
cat >>"$REPORT/facts.env" <<EOF
ops_approved=$(psql_q "SELECT count(*) FROM quarantine_readings WHERE meter_id = '$OPS_METER' AND status = 'approved'")
ops_rollup=$(psql_q "$Q_ROLL")
ops_refused_again=$OPS_AGAIN
ops_replayed=$(psql_q "SELECT count(*) FROM dlq_records WHERE status = 'replayed'")
ops_replays_wanted=$OPS_NREPLAY
ops_audit=$(psql_q "SELECT count(*) FROM audit_log")
ops_audit_wanted=$((3 + OPS_NREPLAY + $(echo $OPS_REJ | wc -w)))
ops_unknown_pending=$OPS_UNK_PENDING
ops_unknown_injected=$OPS_UNK_INJECTED
EOF

# ---------------------------------------------------------------- the end

step "analytics-api: its page drawn from the API in headless Chromium ($REPORT/api-page.png)"
if command -v chromium >/dev/null 2>&1 && [ -x "$BIN/analytics-api" ]; then
    API_TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    printf '%s demo-page * read\n' "$(printf %s "$API_TOKEN" | sha256sum | cut -d' ' -f1)" >"$WORK/api-tokens"
    read -r API_PORT <<<"$(free_ports 1)"
    start analytics-api env PG_DSN="$DSN" API_ADDR="127.0.0.1:$API_PORT" \
        API_TOKENS_FILE="$WORK/api-tokens" LOG_LEVEL=warn "$BIN/analytics-api"
    wait_http "http://127.0.0.1:$API_PORT/readyz" analytics-api
    # The replayed days, their first meter and feeder, a few vehicles.
    page_to=$(python3 -c 'import datetime,sys; t=datetime.datetime.strptime(sys.argv[1],"%Y-%m-%dT%H:%M:%SZ"); print((t+datetime.timedelta(hours=int(sys.argv[2]))).strftime("%Y-%m-%dT%H:%M:%SZ"))' "$START" "$HOURS")
    page_meter=$(psql_q "SELECT min(meter_id) FROM meter_current_status")
    page_feeder=$(psql_q "SELECT min(feeder_id) FROM feeders")
    page_vehicles=$(psql_q "SELECT string_agg(vehicle_id, ',') FROM (SELECT vehicle_id FROM vehicles ORDER BY 1 LIMIT 6) v")
    if timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
        --user-data-dir="$WORK/chromium" --hide-scrollbars --window-size=1120,1500 \
        --virtual-time-budget=20000 --screenshot="$REPORT/api-page.png" \
        "http://127.0.0.1:$API_PORT/#token=$API_TOKEN&to=$page_to&meter=$page_meter&feeder=$page_feeder&vehicles=$page_vehicles" \
        >"$WORK/chromium.log" 2>&1 && [ -s "$REPORT/api-page.png" ]; then
        say "the API's page: $REPORT/api-page.png"
    else
        say "demo: no screenshot of the API's page (chromium failed; its log: $(tail -n 1 "$WORK/chromium.log"))"
    fi
else
    say "chromium or analytics-api missing (make deps; make): no screenshot of the API's page"
fi

step "stopping everything"
stop_all
bad=0
for i in "${!NAMES[@]}"; do
    rc=${STOP_RC[$i]:-0}
    if [ "$rc" -ne 0 ]; then
        say "demo: ${NAMES[$i]} exited with status $rc" >&2
        bad=1
    fi
done
tests/lib/pgtmp.sh destroy "$PGDIR" >/dev/null 2>&1 && PGDIR=""
[ $bad -eq 0 ] && say "all programs stopped on SIGTERM with exit status 0; PostgreSQL destroyed"
[ $S3_OK = 1 ] || { say "demo: the S3 archive is not what Kafka and PostgreSQL hold (see the summary)" >&2; bad=1; }
say "report: $REPORT/summary.txt, $REPORT/fleet_load.png, $REPORT/quality.png, $REPORT/api-page.png"
say "demo finished in $(($(date +%s) - T0)) s"
[ $bad -eq 0 ] || exit 1
