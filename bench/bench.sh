#!/bin/bash
# make bench: every benchmark, figures printed and appended to
# bench/results/results.txt. Speed targets live here, never in tests.
#
#   stage benchmarks   bench-gw.sh, bench-worker.sh, bench-aggregator.sh
#   the whole fleet    the local broker, a throw-away PostgreSQL, ingest-gw,
#                      two stream-workers and the aggregator driven by
#                      bench_e2e through the gateway; peak RSS of each process
#
# BENCH_SECONDS (default 10) sets the length of each timed run;
# BENCH_ONLY=e2e runs only the whole-fleet part.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${BENCH_SECONDS:-10}
RESULTS=bench/results/results.txt
BIN=build/bin
mkdir -p bench/results
echo "== make bench $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB" | tee -a "$RESULTS"

if [ "${BENCH_ONLY:-}" != e2e ]; then
    bench/bench-gw.sh "$SECS" "$RESULTS"
    bench/bench-worker.sh 2>&1 | tee -a "$RESULTS"
    bench/bench-aggregator.sh 2>&1 | tee -a "$RESULTS"
fi

# ---------------------------------------------------------------- the fleet
work=$(mktemp -d /tmp/mf-bench-e2e.XXXXXX)
chmod 755 "$work" # the PostgreSQL server runs as postgres when we are root
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    tests/lib/pgtmp.sh destroy "$work/pg" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

$BIN/mf-localbroker >"$work/broker.out" 2>/dev/null &
pids+=($!); broker_pid=$!
for _ in $(seq 50); do [ -s "$work/broker.out" ] && break; sleep 0.1; done
export KAFKA_BROKERS=$(head -n 1 "$work/broker.out")
export PG_DSN=$(tests/lib/pgtmp.sh start "$work/pg")
export LOG_LEVEL=warn TS_CHECK=off KAFKA_STATISTICS_INTERVAL_MS=1000 REGISTRY_REFRESH_S=1
$BIN/aggregator migrate >/dev/null 2>&1

port() { echo $(( 20000 + RANDOM % 10000 )); }
GW=$(port); W1=$(port); W2=$(port); AG=$(port)
GW_AUTH=off HTTP_ADDR=127.0.0.1:$GW $BIN/ingest-gw 2>"$work/gw.err" &
pids+=($!); gw_pid=$!
METRICS_ADDR=127.0.0.1:$W1 WORKER_ID=w1 $BIN/stream-worker 2>"$work/w1.err" &
pids+=($!); w1_pid=$!
METRICS_ADDR=127.0.0.1:$W2 WORKER_ID=w2 $BIN/stream-worker 2>"$work/w2.err" &
pids+=($!); w2_pid=$!
METRICS_ADDR=127.0.0.1:$AG AGG_IDLE_FLUSH_S=5 $BIN/aggregator 2>"$work/agg.err" &
pids+=($!); agg_pid=$!
for p in $GW $W1 $W2 $AG; do
    for _ in $(seq 200); do curl -sf "http://127.0.0.1:$p/readyz" >/dev/null && break; sleep 0.1; done
done

$BIN/bench_e2e --gw "http://127.0.0.1:$GW/v1/readings" --pg "$PG_DSN" \
    --worker-metrics "http://127.0.0.1:$W1/metrics,http://127.0.0.1:$W2/metrics" \
    --meters 10000 --max-seconds "$((SECS + 5))" --lat-seconds "$SECS" | tee -a "$RESULTS"

rss() { awk '/VmHWM/ {printf "%.0f MiB", $2 / 1024}' "/proc/$1/status"; }
echo "peak RSS: ingest-gw $(rss $gw_pid), stream-worker $(rss $w1_pid) and $(rss $w2_pid), aggregator $(rss $agg_pid), mf-localbroker $(rss $broker_pid)" | tee -a "$RESULTS"
