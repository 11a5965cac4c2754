#!/bin/bash
# bench-overload.sh: ingest-gw driven at twice what it can acknowledge
# (issue 17), against a real Apache Kafka broker (tools/kafka-local).
#   1. capacity: batches of BENCH_OVERLOAD_BATCH (2000) readings on 64
#      keep-alive connections (wrk, closed loop) for SECONDS: C requests/s;
#   2. overload: 2C requests/s offered open loop for 2 x SECONDS
#      (bench/overload.py: on schedule whatever the answers, a connection
#      each), the gateway's RSS sampled every 0.5 s;
#   3. recovery: step 1 again.
# Prints what the overload was answered (202 / 503 / 429 / errors), whether
# every 503 and 429 carried Retry-After, the gateway's RSS before and at its
# peak, whether it survived, and the recovery as a ratio of step 1 (goal:
# full speed again, >= 0.8). Appends everything to RESULTS.
#
#   bench/bench-overload.sh [SECONDS] [RESULTS]   defaults 10, bench/results/results.txt
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
RESULTS=${2:-bench/results/results.txt}
BIN=build/bin
. bench/lib.sh
mkdir -p "$(dirname "$RESULTS")"
gw_bench_start overload
kafka_warm "${BENCH_KAFKA_WARM:-2000000}"

BATCH=${BENCH_OVERLOAD_BATCH:-2000} # readings per request: few requests, so Python can offer 2x
capacity() { # -> RPS: batches acknowledged per second, closed loop on 64 connections
    WRK_BATCH=$BATCH wrk -t1 -c64 -d"${SECS}s" -s bench/wrk-batch.lua "http://127.0.0.1:$PORT/v1/readings" >"$work/wrk.out"
    RPS=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$work/wrk.out")
}
capacity
cap=$RPS
rate=$(( cap * 2 ))
python3 bench/overload.py "$PORT" "$rate" $(( SECS * 2 )) "$BATCH" "$gw_pid" >"$work/over.json"
alive=no
kill -0 "$gw_pid" 2>/dev/null && alive=yes
capacity
rec=$RPS
python3 - "$work/over.json" "$cap" "$rec" "$alive" "$SECS" "$BATCH" <<'PY' | tee -a "$RESULTS"
import json, sys
o = json.load(open(sys.argv[1]))
cap, rec, alive, secs, batch = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
c = o["codes"]
print(f"== ingest-gw overload ({secs} s capacity, {2 * secs} s at twice it, open loop)")
print(f"capacity: {cap} batches of {batch}/s acknowledged ({cap * batch} readings/s) on 64 connections")
print(f"offered {o['offered'] // (2 * secs)} requests/s for {2 * secs} s: {o['sent']} sent, "
      f"{o['not_sent']} not sent (the generator's {2000} open connections in use)")
print(f"answered: 202 {c.get('202', 0)}, 503 {c.get('503', 0)}, 429 {c.get('429', 0)}, "
      f"other {sum(v for k, v in c.items() if k not in ('202', '503', '429'))}, "
      f"no answer {o['errors']}; Retry-After missing on {o['retry_after_missing']}; "
      f"p50 {o['p50_ms']} ms, p99 {o['p99_ms']} ms")
print(f"gateway RSS: {o['rss_start_kb'] / 1024:.0f} MB before, {o['rss_max_kb'] / 1024:.0f} MB at "
      f"its peak; alive after: {alive}")
print(f"recovery: {rec} batches/s, {rec / cap:.2f} of capacity (goal >= 0.8)")
PY
