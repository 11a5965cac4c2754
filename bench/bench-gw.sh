#!/bin/bash
# bench-gw.sh: readings/s through ingest-gw into the local broker, single
# readings and batches of 500 on keep-alive connections (wrk on the same
# machine), p50/p99 latency, and the ceiling: the same readings produced
# straight to the broker. Prints figures and appends them to RESULTS.
#
#   bench/bench-gw.sh [SECONDS] [RESULTS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
RESULTS=${2:-bench/results/gw.txt}
BIN=build/bin
mkdir -p "$(dirname "$RESULTS")"
work=$(mktemp -d /tmp/mf-bench-gw.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

command -v wrk >/dev/null || { echo "bench-gw: wrk is not installed (apt-get install wrk)"; exit 1; }

start_stack() {
    $BIN/mf-localbroker >"$work/broker.out" 2>"$work/broker.err" &
    pids+=($!)
    for _ in $(seq 50); do [ -s "$work/broker.out" ] && break; sleep 0.1; done
    BOOT=$(head -n 1 "$work/broker.out")
    PORT=$(( 20000 + RANDOM % 10000 ))
    KAFKA_BROKERS=$BOOT GW_AUTH=off HTTP_ADDR=127.0.0.1:$PORT LOG_LEVEL=warn \
        $BIN/ingest-gw 2>"$work/gw.err" &
    pids+=($!)
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
}

# wrk's numbers: requests/s, p50 and p99 latency, non-2xx answers.
run_wrk() { # conns script
    wrk -t1 -c"$1" -d"${SECS}s" --latency -s "bench/$2" "http://127.0.0.1:$PORT/v1/readings" >"$work/wrk.out"
    RPS=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out")
    P50=$(awk '$1 == "50%" {print $2}' "$work/wrk.out")
    P99=$(awk '$1 == "99%" {print $2}' "$work/wrk.out")
    NON2XX=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.out"); NON2XX=${NON2XX:-0}
    ERRS=$(awk '/Socket errors/ {print}' "$work/wrk.out")
}

start_stack
run_wrk 256 wrk-single.lua
single_rps=$RPS; single_p50=$P50; single_p99=$P99; single_bad=$NON2XX
# Each measurement on a fresh broker: one that just took millions of
# records answers slower, which is not the gateway's doing.
cleanup; pids=(); work=$(mktemp -d /tmp/mf-bench-gw.XXXXXX)
start_stack
run_wrk 8 wrk-batch.lua
batch_rps=$RPS; batch_p50=$P50; batch_p99=$P99; batch_bad=$NON2XX
batch_readings=$(awk -v r="$batch_rps" 'BEGIN {printf "%.0f", r * 500}')
cleanup; pids=(); work=$(mktemp -d /tmp/mf-bench-gw.XXXXXX)

# The ceiling on a fresh broker: no HTTP, same producer settings.
start_stack
ceiling=$($BIN/bench_produce "$BOOT" meter.readings.raw 2000000 | tee "$work/ceiling.out" | awk '{print $7}')

ratio=$(awk -v b="$batch_readings" -v c="$ceiling" 'BEGIN {printf "%.2f", c / b}')
{
    echo "== ingest-gw benchmark ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, ${SECS}s per run)"
    echo "single reading/request, 256 conns: $single_rps req/s = readings/s acked; p50 $single_p50 p99 $single_p99; non-2xx $single_bad"
    echo "batch of 500/request,      8 conns: $batch_rps req/s = $batch_readings readings/s acked; p50 $batch_p50 p99 $batch_p99; non-2xx $batch_bad"
    echo "ceiling (bench_produce, no HTTP):  $ceiling readings/s acked"
    echo "ceiling / gateway batches: ${ratio}x (goal: within 2x)"
} | tee -a "$RESULTS"
