#!/bin/bash
# test_s3_archive.sh: the S3 archive really running (issue 16, DESIGN §15).
#
# The fleet (tools/local-stack --only broker,pg,gw,worker,agg), moto's S3
# server (tools/s3-local) and Kafka Connect with meterflow's S3 sink running
# the deploy/connect/*.json files as they are (tools/connect-local --control).
# Readings of 12 registered meters over three event hours go through the
# gateway (plus one record that is not JSON, straight to Kafka); the Connect
# worker is killed with SIGKILL after the first part has been archived, the
# rest is sent while it is down, and it is started again. Then
# tools/s3-archive check: every raw record exactly once (by topic, partition,
# offset: all of Kafka's, no more), each under the hour of its reading's ts;
# every rollup record exactly once, under its window's day, Snappy Parquet;
# the highest revision per (meter, width, window_start) equal to
# rollup_1m_stats / rollup_1h_stats for every closed window. Last,
# `tools/local-stack --with-s3 --only broker,s3,connect`: its S3_* and
# CONNECT_URL lines, the connectors RUNNING, SIGTERM leaves nothing.
# Prints "s3-archive: N passed, M failed" last; exit 0/1; 77 (skip) without
# Java or PostgreSQL's server binaries.
set -u
cd "$(dirname "$0")/../.."
BIN=${MF_BIN_DIR:-build/bin}

if ! command -v java >/dev/null 2>&1; then
    echo "s3-archive: skipped: java absent (apt-get install openjdk-17-jre-headless, or make deps)"
    exit 77
fi
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "s3-archive: skipped: PostgreSQL server binaries absent (apt-get install postgresql)"
    exit 77
fi
for p in ingest-gw stream-worker aggregator mf-topics; do
    [ -x "$BIN/$p" ] || { echo "s3-archive: $BIN/$p not built (make)"; exit 1; }
done
# The plugin and the venv (built once; make deps does it first).
tools/s3-fetch >/dev/null || { echo "s3-archive: tools/s3-fetch failed"; exit 1; }

T=$(mktemp -d /tmp/mf-test-s3.XXXXXX)
chmod 711 "$T" # PostgreSQL runs as postgres under it when we are root
STACK_PID= S3_PID= CONNECT_PID=
exec 7>/dev/null # the control pipe to connect-local, once it runs
stop_pid() { # stop_pid PID SECONDS: SIGTERM, wait, SIGKILL
    [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 0
    kill -TERM "$1" 2>/dev/null
    for _ in $(seq $((10 * $2))); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}
cleanup() {
    exec 7>&-
    stop_pid "$CONNECT_PID" 40
    stop_pid "$STACK_PID" 90
    stop_pid "$S3_PID" 10
    [ "${MF_KEEP_LOGS:-0}" = 1 ] && echo "s3-archive: logs kept in $T" || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pass=0
fail=0
. tests/lib/check.sh
finish() {
    echo "s3-archive: $pass passed, $fail failed"
    [ $fail -eq 0 ]
    exit $?
}
val() { sed -n "s/^$1=//p" "$2"; }
# wait_line FILE PID SECONDS: until FILE has READY (or a first line), or PID ends.
wait_for() {
    local f=$1 pid=$2 s=$3 want=$4
    for _ in $(seq $((10 * s))); do
        if [ "$want" = READY ]; then grep -qx READY "$f" 2>/dev/null && return 0
        else [ -s "$f" ] && return 0; fi
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
metric() { # metric URL FAMILY: the sum of a family's samples
    curl -fs -m 5 "$1" | awk -v fam="$2" '
        $0 !~ /^#/ { n = $1; sub(/\{.*/, "", n); if (n == fam) s += $NF }
        END { printf "%.0f\n", s }'
}
# gone PID PATTERN: PID has ended and no process's command line has PATTERN
# (pgrep from this shell: a `sh -c` around it would match itself).
gone() {
    if [ "$1" != 0 ] && kill -0 "$1" 2>/dev/null; then
        echo "    still running: $1"
        return 1
    fi
    if pgrep -f "$2" >/dev/null; then
        echo "    still running: $(pgrep -af "$2" | cut -c1-150)"
        return 1
    fi
}
t0=$(date +%s)

# ------------------------------------------------------------------ the stack
echo "the fleet, the S3 server, Kafka Connect"
TMPDIR=$T TS_CHECK=off REGISTRY_REFRESH_S=1 AGG_IDLE_FLUSH_S=3 \
    tools/local-stack --only broker,pg,gw,worker,agg >"$T/stack.out" 2>"$T/stack.err" &
STACK_PID=$!
tools/s3-local --port 0 >"$T/s3.out" 2>"$T/s3.err" &
S3_PID=$!
wait_for "$T/s3.out" "$S3_PID" 60 line
check "tools/s3-local serves ($(head -n 1 "$T/s3.out"))" test -s "$T/s3.out"
wait_for "$T/stack.out" "$STACK_PID" 150 READY
check "tools/local-stack READY ($(($(date +%s) - t0)) s)" grep -qx READY "$T/stack.out"
if ! grep -qx READY "$T/stack.out" || ! [ -s "$T/s3.out" ]; then
    tail -n 20 "$T/stack.err" "$T/s3.err"
    finish
fi
KAFKA_BROKERS=$(val KAFKA_BROKERS "$T/stack.out")
PG_DSN=$(val PG_DSN "$T/stack.out")
GW_URL=$(val GW_URL "$T/stack.out")
GW_TOKEN=$(val GW_TOKEN "$T/stack.out")
WORKER_METRICS=$(val WORKER_METRICS "$T/stack.out")
export S3_ENDPOINT=$(head -n 1 "$T/s3.out") S3_BUCKET=meterflow-archive
export S3_ACCESS_KEY=meterflow S3_SECRET_KEY=meterflow-local

mkfifo "$T/control"
s0=$(date +%s)
CONNECT_COMMIT_MS=2000 tools/connect-local --bootstrap "$KAFKA_BROKERS" --port 0 --dir "$T/connect" \
    --control <"$T/control" >"$T/connect.out" 2>"$T/connect.err" &
CONNECT_PID=$!
exec 7>"$T/control"
wait_for "$T/connect.out" "$CONNECT_PID" 150 line
CONNECT_URL=$(head -n 1 "$T/connect.out")
check "tools/connect-local: both connectors RUNNING ($(($(date +%s) - s0)) s, $CONNECT_URL)" \
    test -n "$CONNECT_URL"
[ -n "$CONNECT_URL" ] || { tail -n 20 "$T/connect.err"; finish; }
# control CMD: one command to connect-local (fd 7), its answer (the next
# line of its stdout, $COUT).
COUT=$T/connect.out
control() {
    local n
    n=$(wc -l <"$COUT")
    echo "$1" >&7
    for _ in $(seq 1500); do
        [ "$(wc -l <"$COUT")" -gt "$n" ] && { sed -n "$((n + 1))p" "$COUT"; return; }
        sleep 0.1
    done
    echo "no answer"
}

# ------------------------------------------------------------------ readings
psql "$PG_DSN" -X -q -v ON_ERROR_STOP=1 -c "INSERT INTO meters (meter_id, max_kw, interval_s)
    SELECT 'S3T-' || lpad(i::text, 2, '0'), 20, 60 FROM generate_series(1, 12) i" ||
    echo "    (registering the meters failed)"
for _ in $(seq 100); do
    [ "$(metric "$WORKER_METRICS" meterflow_worker_registry_meters)" -ge 12 ] && break
    sleep 0.1
done

# send FROM_MIN TO_MIN: one NDJSON request per meter, a reading a minute
# from 2024-03-11T04:00Z + FROM_MIN to TO_MIN (exclusive), varying values.
sent=0
send() {
    local m code
    for m in $(seq -w 1 12); do
        python3 -c '
import sys, datetime
m, a, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t0 = datetime.datetime(2024, 3, 11, 4, 0, tzinfo=datetime.timezone.utc)
for i in range(a, b):
    t = t0 + datetime.timedelta(minutes=i)
    v = 400 + 37 * int(m) + (i * 53) % 300
    print("{\"meter_id\":\"S3T-%s\",\"ts\":\"%s\",\"value\":%d,\"unit\":\"W\",\"interval_s\":60}" % (
        m, t.strftime("%Y-%m-%dT%H:%M:%SZ"), v))' "$m" "$1" "$2" >"$T/body.ndjson"
        code=$(curl -s -m 30 -o "$T/post.json" -w '%{http_code}' -H "Authorization: Bearer $GW_TOKEN" \
            -H 'Content-Type: application/x-ndjson' --data-binary @"$T/body.ndjson" "$GW_URL/v1/readings")
        [ "$code" = 202 ] && sent=$((sent + $2 - $1))
    done
}

send 0 90
# One record that is not JSON, as a meter's own Kafka client could write.
LIBS=$(tools/kafka-fetch)
printf 'S3T-01\tthis is not JSON\n' | java -Xmx128m -Dlog4j.configuration=file:/dev/null -cp "$LIBS/*" \
    kafka.tools.ConsoleProducer --bootstrap-server "$KAFKA_BROKERS" --topic meter.readings.raw \
    --property parse.key=true --property 'key.separator=	' >/dev/null 2>&1
check "1080 readings accepted by the gateway (then one raw record that is not JSON)" test "$sent" -eq 1080

# Until the first readings are in S3 (the sink writes every 2 s here).
first=0
for _ in $(seq 300); do
    first=$(tools/s3-archive summary --kv 2>/dev/null | sed -n 's/^raw_records=//p')
    [ "${first:-0}" -ge 1000 ] && break
    sleep 0.2
done
check "the first readings archived before the kill (${first:-0} raw records in S3)" test "${first:-0}" -ge 1000

# ------------------------------------------------------------------ SIGKILL
echo "Kafka Connect killed with SIGKILL mid-stream, the rest sent meanwhile, started again"
JVM=$(control pid)
check "SIGKILL the Connect worker (pid $JVM): $(control kill)" sh -c "! kill -0 $JVM 2>/dev/null"
send 90 180
check "1080 more readings accepted while it was down" test "$sent" -eq 2160
s0=$(date +%s)
answer=$(control start)
check "started again, connectors RUNNING ($answer, $(($(date +%s) - s0)) s)" test "$answer" = ok

# ------------------------------------------------------------------ the archive
echo "the archive read back (tools/s3-archive check)"
s0=$(date +%s)
# Windows close on the aggregator's idle flush (3 s here) once the readings stop.
tools/s3-archive check --brokers "$KAFKA_BROKERS" --pg "$PG_DSN" --wait 90 >"$T/check.out" 2>&1
rc=$?
sed 's/^/    /' "$T/check.out"
fact() { sed -n "s/^$1=//p" "$T/check.out"; }
check "every raw record exactly once, none missing, none twice ($(fact raw_records) of $(fact raw_in_kafka))" \
    sh -c "[ '$(fact raw_missing)' = 0 ] && [ '$(fact raw_duplicates)' = 0 ] && [ -n '$(fact raw_records)' ] &&
           [ '$(fact raw_records)' = '$(fact raw_in_kafka)' ] && [ '$(fact raw_records)' -eq 2161 ]"
check "every rollup record exactly once ($(fact rollup_rows) rows, $(fact rollups_in_kafka) in Kafka)" \
    sh -c "[ -n '$(fact rollup_rows)' ] && [ '$(fact rollup_rows)' = '$(fact rollups_in_kafka)' ] &&
           [ '$(fact rollup_duplicates)' = 0 ]"
check "the highest revisions equal rollup_1m_stats/rollup_1h_stats ($(fact windows_equal) of $(fact pg_closed_windows) closed windows)" \
    sh -c "[ -n '$(fact pg_closed_windows)' ] && [ '$(fact pg_closed_windows)' -ge 2000 ] &&
           [ '$(fact windows_equal)' = '$(fact pg_closed_windows)' ] && [ '$(fact archive_windows)' = '$(fact pg_closed_windows)' ]"
check "tools/s3-archive check passes (hours, days, names, Snappy) after $(($(date +%s) - s0)) s" test $rc -eq 0
tools/s3-archive summary >"$T/summary.out" 2>&1
sed 's/^/    /' "$T/summary.out"
hours=$(tools/s3-archive summary --kv 2>/dev/null | sed -n 's/^raw_hours=//p')
# 04, 05, 06 of 2024-03-11 and the arrival hour of the record without a ts.
check "raw readings under 2024/03/11/04..06 (+ the non-JSON one's arrival hour): $hours hours" test "${hours:-0}" -eq 4

exec 7>&-
stop_pid "$CONNECT_PID" 40
check "connect-local stopped on EOF, the worker gone" gone "$CONNECT_PID" "ConnectStandalone $T/"
CONNECT_PID=

# ------------------------------------------------------------------ small blocks
# The deployed blocks (10,000 offsets) hold all of this test's records, so
# every object above was rebuilt from its partition's first offset. Blocks of
# 100 cut each partition (about 180 raw records) into finished and open
# blocks: the same files with block.records=100 and their own names (so
# their own consumer groups, reading from the start) into their own bucket,
# killed with SIGKILL as soon as the first object appears (a block finished
# while the others are open), started again, read back.
echo "the same with blocks of 100 offsets, killed with SIGKILL while catching up"
mkdir -p "$T/blocks"
python3 -c '
import json, os, sys
for f in sys.argv[2:]:
    c = json.load(open(f))
    c["name"] += "-blocks"
    c["block.records"] = "100"
    json.dump(c, open(os.path.join(sys.argv[1], os.path.basename(f)), "w"))
' "$T/blocks" deploy/connect/*.json
curl -fs -m 5 -o /dev/null -X PUT "$S3_ENDPOINT/meterflow-blocks"
mkfifo "$T/control2"
S3_BUCKET=meterflow-blocks CONNECT_COMMIT_MS=1000 tools/connect-local --bootstrap "$KAFKA_BROKERS" --port 0 \
    --dir "$T/connect2" --connector "$T/blocks/s3-sink-raw.json" --connector "$T/blocks/s3-sink-rollups.json" \
    --control <"$T/control2" >"$T/connect2.out" 2>"$T/connect2.err" &
CONNECT_PID=$!
exec 7>"$T/control2"
COUT=$T/connect2.out
wait_for "$COUT" "$CONNECT_PID" 150 line
for _ in $(seq 600); do
    curl -fs -m 2 "$S3_ENDPOINT/meterflow-blocks?list-type=2&prefix=raw/" | grep -q '<Key>' && break
    sleep 0.05
done
JVM=$(control pid)
answer=$(control kill)
n=$(S3_BUCKET=meterflow-blocks tools/s3-archive summary --kv 2>/dev/null | sed -n 's/^raw_records=//p')
check "started, SIGKILLed at its first object ($answer; ${n:-0} of 2161 raw records in S3 by then)" \
    sh -c "[ '$answer' = ok ] && ! kill -0 $JVM 2>/dev/null"
answer=$(control start)
check "started again ($answer)" test "$answer" = ok
S3_BUCKET=meterflow-blocks tools/s3-archive check --brokers "$KAFKA_BROKERS" --pg "$PG_DSN" --wait 60 \
    >"$T/check2.out" 2>&1
rc=$?
sed 's/^/    /' "$T/check2.out"
check "blocks of 100: every record exactly once, equal to PostgreSQL ($(sed -n 's/^raw_objects=//p' "$T/check2.out") raw objects)" \
    test $rc -eq 0
exec 7>&-
stop_pid "$CONNECT_PID" 40
CONNECT_PID=

echo "stopping"
stop_pid "$STACK_PID" 90
STACK_PID=
stop_pid "$S3_PID" 10
S3_PID=
check "nothing left under $T (no process names it)" gone 0 "$T/"

# ------------------------------------------------------------------ local-stack --with-s3
echo "tools/local-stack --with-s3 --only broker,s3,connect"
s0=$(date +%s)
TMPDIR=$T tools/local-stack --with-s3 --only broker,s3,connect >"$T/ls.out" 2>"$T/ls.err" &
STACK_PID=$!
wait_for "$T/ls.out" "$STACK_PID" 180 READY
names=$(sed 's/=.*//' "$T/ls.out" | tr '\n' ' ')
check "READY in $(($(date +%s) - s0)) s; lines: $names" test "$names" = \
    "KAFKA_BROKERS S3_ENDPOINT S3_BUCKET S3_ACCESS_KEY S3_SECRET_KEY CONNECT_URL READY "
grep -qx READY "$T/ls.out" || tail -n 20 "$T/ls.err"
U=$(val CONNECT_URL "$T/ls.out")
st=$(curl -fs -m 5 "$U/connectors?expand=status" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(" ".join("%s:%s" % (n, d[n]["status"]["connector"]["state"]) for n in sorted(d)))' 2>/dev/null)
check "its connectors: $st" test "$st" = "s3-sink-raw:RUNNING s3-sink-rollups:RUNNING"
E=$(val S3_ENDPOINT "$T/ls.out")
check "S3_ENDPOINT serves the bucket path-style ($E/$(val S3_BUCKET "$T/ls.out"))" \
    curl -fs -m 5 -o /dev/null "$E/$(val S3_BUCKET "$T/ls.out")"
kill -TERM "$STACK_PID"
rc=0
for _ in $(seq 900); do kill -0 "$STACK_PID" 2>/dev/null || break; sleep 0.1; done
wait "$STACK_PID" || rc=$?
STACK_PID=
check "SIGTERM: exit $rc, nothing left (no process names $T, no mf-stack.*)" \
    sh -c "[ $rc -eq 0 ] && ! ls -d '$T'/mf-stack.* >/dev/null 2>&1"
check "nothing left running" gone 0 "$T/"

echo "s3-archive: $(($(date +%s) - t0)) s"
finish
