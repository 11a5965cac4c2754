#!/bin/bash
# bench-sources.sh: the other sources (DESIGN §11).
#   1. ingest-gw, batches of 500 on 8 keep-alive connections (wrk, same
#      machine, same broker, same run): /v1/readings (wrk-batch.lua) against
#      the polymorphic /v1/telemetry with 500 mixed camelCase items
#      (wrk-telemetry.lua: AC charger readings and vehicle reports, each
#      routed by its shape). Items/s acked and their ratio (goal: within 1.3x),
#      and items per CPU second of ingest-gw in each (the cost of an item).
#   0. (first) source-sink: N distinct vehicle reports (default 400,000: 2,000
#      vehicles x 200 minutes) put on vehicle.telemetry through /v1/vehicles
#      first, then source-sink started on a throw-away PostgreSQL and timed
#      from its first committed batch until the stored offsets reach the
#      topic's end: records/s into vehicle_telemetry_history and
#      vehicle_current_status (goal: 50,000 or more), and the same records per
#      CPU second of source-sink and its PostgreSQL together.
# Appends the figures to RESULTS.
#
#   bench/bench-sources.sh [SECONDS] [RESULTS]   defaults 10, bench/results/results.txt
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
RESULTS=${2:-bench/results/results.txt}
N=${BENCH_SS_RECORDS:-400000}
BIN=build/bin
. bench/lib.sh
mkdir -p "$(dirname "$RESULTS")"
ss_pid= pgdir=
bench_cleanup_more() {
    [ -n "$ss_pid" ] && { kill "$ss_pid" 2>/dev/null || true; wait "$ss_pid" 2>/dev/null || true; }
    [ -n "$pgdir" ] && tests/lib/pgtmp.sh destroy "$pgdir" >/dev/null 2>&1
    return 0
}
gw_bench_start src
chmod 711 "$work" # PostgreSQL runs as postgres under it when we are root (pgtmp.sh)
kafka_warm "${BENCH_KAFKA_WARM_SOURCES:-2000000}"
WATCH="kafka=jvm:$JVM_PID ingest-gw=$gw_pid"

run_wrk() { # phase path script -> ITEMS (items/s acked), NON2XX
    timed "$1" wrk "$work/wrk.out" "$WATCH" -- \
        wrk -t1 -c8 -d"${SECS}s" --latency -s "bench/$3" "http://127.0.0.1:$PORT$2"
    local rps
    rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out")
    NON2XX=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.out"); NON2XX=${NON2XX:-0}
    P99=$(awk '$1 == "99%" {print $2}' "$work/wrk.out")
    ITEMS=$(awk -v r="$rps" 'BEGIN {printf "%.0f", r * 500}')
}
# ---------------------------------------------------------------- source-sink
pgdir=$work/pg
DSN=$(tests/lib/pgtmp.sh start "$pgdir")
PG_DSN=$DSN $BIN/source-sink migrate >/dev/null 2>&1
psql "$DSN" -X -q -c "INSERT INTO vehicles (vehicle_id) SELECT 'BV-' || g FROM generate_series(0, 1999) g"
# Distinct reports (vehicle, minute) put on the topic through the gateway, 5,000 a request.
mins=$(( N / 2000 ))
awk -v mins="$mins" 'BEGIN {
    for (m = 0; m < mins; m++) for (v = 0; v < 2000; v++)
        printf "{\"vehicle_id\":\"BV-%d\",\"ts\":%.0f,\"soc_pct\":%.1f,\"kwh_delivered_dc\":0.1,\"battery_temp_c\":25}\n",
            v, 1710460800000 + m * 60000, (m + v) % 100
}' | split -l 5000 - "$work/ev."
sent=0
for f in "$work"/ev.*; do
    out=$(curl -s -H 'Content-Type: application/x-ndjson' --data-binary @"$f" "http://127.0.0.1:$PORT/v1/vehicles")
    sent=$(( sent + $(printf '%s' "$out" | sed -n 's/.*"accepted":\([0-9]*\).*/\1/p') ))
done
SS_PORT=$(( PORT + 1 ))
KAFKA_BROKERS=$BOOT PG_DSN=$DSN METRICS_ADDR=127.0.0.1:$SS_PORT LOG_LEVEL=warn \
    $BIN/source-sink 2>"$work/ss.err" &
ss_pid=$!
q() { psql "$DSN" -X -q -A -t -c "$1"; }
stored() { q "SELECT coalesce(sum(next_offset), 0) FROM sink_offsets WHERE topic = 'vehicle.telemetry'"; }
# Until the first batch is committed, then (timed, with where the CPU went) until nothing moves
# for 3 s: the topic's end. Its output: the first count and time, the last ones.
for _ in $(seq 600); do [ "$(stored)" -gt 0 ] && break; sleep 0.05; done
# CPU ticks (utime + stime) of source-sink and of the PostgreSQL processes (the postmaster and
# its children, the sink's backend among them), read before and after the timed phase.
pg_pid=$(head -n 1 "$pgdir/data/postmaster.pid")
ticks() {
    local p t=0
    for p in "$ss_pid" "$pg_pid" $(pgrep -P "$pg_pid"); do
        t=$(( t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0) ))
    done
    echo "$t"
}
ticks0=$(ticks)
export DSN
timed "source-sink, vehicle.telemetry into PostgreSQL" wait "$work/ss.out" \
    "source-sink=$ss_pid postgresql=$pg_pid+" -- bash -c '
    stored() { psql "$DSN" -X -q -A -t -c "SELECT coalesce(sum(next_offset), 0) FROM sink_offsets WHERE topic = '"'vehicle.telemetry'"'"; }
    t0=$(date +%s.%N); n0=$(stored); last=$n0; still=0; t1=$t0
    while [ $still -lt 30 ]; do
        sleep 0.1
        n=$(stored)
        if [ "$n" = "$last" ]; then still=$((still + 1)); else still=0; last=$n; t1=$(date +%s.%N); fi
    done
    echo "$n0 $t0 $last $t1"'
read -r n0 t0 last t1 <"$work/ss.out"
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
rate=$(awk -v n="$(( last - n0 ))" -v s="$secs" 'BEGIN {printf "%.0f", (s > 0 ? n / s : 0)}')
# The same records per second of CPU the sink and PostgreSQL took (the timed phase includes the
# 3 s of stillness, when they take next to none): what a busy machine distorts least.
cpu_s=$(awk -v a="$ticks0" -v b="$(ticks)" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", (b - a) / hz}')
cpu_rate=$(awk -v n="$(( last - n0 ))" -v s="$cpu_s" 'BEGIN {printf "%.0f", (s > 0 ? n / s : 0)}')
rows=$(q "SELECT count(*) FROM vehicle_telemetry_history")
kill "$ss_pid"; wait "$ss_pid" 2>/dev/null || true; ss_pid=

# A first run warms the broker's JIT for this load; its figures are not kept.
run_wrk "gateway, warm-up" /v1/readings wrk-batch.lua
run_wrk "gateway, /v1/readings, batches of 500" /v1/readings wrk-batch.lua
readings=$ITEMS; readings_bad=$NON2XX; readings_p99=$P99
run_wrk "gateway, /v1/telemetry, 500 mixed items" /v1/telemetry wrk-telemetry.lua
mixed=$ITEMS; mixed_bad=$NON2XX; mixed_p99=$P99
ratio=$(awk -v a="$readings" -v b="$mixed" 'BEGIN {printf "%.2f", a / b}')
# Items per CPU second of ingest-gw in each phase (its share of the cores): the cost of an item,
# which other work on the machine distorts less than the throughput.
gw_share() { sed -n "s/^cpu, gateway, $1[^(]*(.* ingest-gw \([0-9]*\)%.*/\1/p" "$CPU_LOG"; }
per_cpu() { awk -v n="$1" -v s="$2" -v c="$(nproc)" 'BEGIN {printf "%.0f", (s > 0 ? n / (s / 100 * c) : 0)}'; }
readings_share=$(gw_share "\/v1\/readings"); mixed_share=$(gw_share "\/v1\/telemetry")
readings_cpu=$(per_cpu "$readings" "$readings_share"); mixed_cpu=$(per_cpu "$mixed" "$mixed_share")
cost_ratio=$(awk -v a="$readings_cpu" -v b="$mixed_cpu" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')

{
    echo "== other sources benchmark ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, ${SECS}s per wrk run)"
    echo "broker: $BROKER (tools/kafka-local)"
    echo "/v1/readings,  batches of 500, 8 conns: $readings readings/s acked; p99 $readings_p99; non-2xx $readings_bad"
    echo "/v1/telemetry, 500 mixed camelCase items, 8 conns: $mixed items/s acked; p99 $mixed_p99; non-2xx $mixed_bad"
    echo "readings / telemetry: ${ratio}x (goal: within 1.3x)"
    echo "per CPU second of ingest-gw: readings $readings_cpu, telemetry items $mixed_cpu (${readings_share}% and ${mixed_share}% of the cores): ${cost_ratio}x"
    echo "source-sink: $(( last - n0 )) vehicle.telemetry records in ${secs} s after its first commit = $rate records/s into vehicle_telemetry_history + vehicle_current_status (goal: >= 50,000); $sent distinct reports sent, $rows rows stored"
    echo "source-sink: $cpu_rate records per CPU second of source-sink + PostgreSQL ($cpu_s CPU s)"
    cat "$CPU_LOG"
} | tee -a "$RESULTS"
