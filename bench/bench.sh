#!/bin/bash
# make bench: every benchmark on a real Apache Kafka broker (tools/kafka-local:
# a single KRaft node), figures printed and appended to
# bench/results/results.txt. Speed targets live here, never in tests.
#
#   gw       bench-gw.sh: the gateway, single readings and batches, against
#            a bare librdkafka producer on the same broker in the same run
#   worker   bench-worker.sh: the stream-worker with and without WK_EOS
#   agg      bench-aggregator.sh: the aggregator into PostgreSQL (no Kafka)
#   api      bench-api.sh: analytics-api under wrk, cache on and off, against
#            the HTTP server's own ceiling (no Kafka)
#   sources  bench-sources.sh: /v1/telemetry's mixed items against /v1/readings,
#            and source-sink's vehicle telemetry into PostgreSQL
#   overload bench-overload.sh: the gateway offered twice what it acknowledges
#            (open loop): answers, Retry-After, RSS, recovery
#   e2e      the whole fleet: the broker, a throw-away PostgreSQL, ingest-gw,
#            two stream-workers and the aggregator driven by bench_e2e
#            through the gateway; latency at half load; peak RSS of each
#
# Every Kafka part also prints where the machine's CPU went in each phase:
# the broker's share, by thread role (bench/bench_cpu.h).
#
# BENCH_SECONDS (default 10) sets the length of each timed run;
# BENCH_WK_RECORDS (default 2000000) the worker's records per run;
# BENCH_ONLY=gw,worker,agg,api,sources,overload,e2e (any of them) runs only those parts;
# BENCH_API_METERS, BENCH_API_DAYS_1H, BENCH_API_METERS_1M size the API's database;
# BENCH_WK_EOS=on runs the fleet's workers with Kafka transactions;
# BENCH_KAFKA_HEAP (default 512m) sets the broker's heap; BENCH_KAFKA_WARM
# (default 6000000) the records sent through each fresh broker before anything
# is timed (JIT warm-up); BENCH_E2E_WARM (default 20) the seconds the whole
# fleet runs the phase-1 load, untimed, before phase 1: the record warm-up only
# produces, and the broker's JIT compiler still took 10-14 % of the machine in
# phase 1 after 2,000,000 records (fetches, offset commits, several clients),
# 0.9-2.0 % after a 20 s fleet warm-up.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${BENCH_SECONDS:-10}
ONLY=${BENCH_ONLY:-gw,worker,agg,api,sources,overload,e2e}
export RESULTS=bench/results/results.txt
BIN=build/bin
. bench/lib.sh
mkdir -p bench/results
want() { case ",$ONLY," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
echo "== make bench $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB; Kafka: Apache Kafka on tools/kafka-local (KRaft single node, heap $BENCH_KAFKA_HEAP)" | tee -a "$RESULTS"

want gw && bench/bench-gw.sh "$SECS" "$RESULTS"
want worker && bench/bench-worker.sh "${BENCH_WK_RECORDS:-2000000}"
if want agg; then bench/bench-aggregator.sh || echo "bench-aggregator: exit $? (skipped or failed)"; fi
if want api; then RESULTS=$RESULTS bench/bench-api.sh || echo "bench-api: exit $? (skipped or failed)"; fi
want sources && bench/bench-sources.sh "$SECS" "$RESULTS"
want overload && bench/bench-overload.sh "$SECS" "$RESULTS"
want e2e || exit 0

# ---------------------------------------------------------------- the fleet
work=$(mktemp -d /tmp/mf-bench-e2e.XXXXXX)
chmod 755 "$work" # the PostgreSQL server runs as postgres when we are root
CPU_LOG=$work/cpu.txt
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    kafka_stop
    tests/lib/pgtmp.sh destroy "$work/pg" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

kafka_start "$work"
kafka_warm
export KAFKA_BROKERS=$BOOT
export PG_DSN=$(tests/lib/pgtmp.sh start "$work/pg")
export LOG_LEVEL=warn TS_CHECK=off KAFKA_STATISTICS_INTERVAL_MS=1000 REGISTRY_REFRESH_S=1
$BIN/aggregator migrate >/dev/null 2>&1
pg_pid=$(head -n 1 "$work/pg/data/postmaster.pid")

# A port free right now (the kernel picks it), not a random guess: a guess
# that hit another engineer's service left a worker dead at start.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
GW=$(port); W1=$(port); W2=$(port); AG=$(port)
GW_AUTH=off HTTP_ADDR=127.0.0.1:$GW $BIN/ingest-gw 2>"$work/gw.err" &
pids+=($!); gw_pid=$!
export WK_EOS=${BENCH_WK_EOS:-off}
METRICS_ADDR=127.0.0.1:$W1 WORKER_ID=w1 $BIN/stream-worker 2>"$work/w1.err" &
pids+=($!); w1_pid=$!
METRICS_ADDR=127.0.0.1:$W2 WORKER_ID=w2 $BIN/stream-worker 2>"$work/w2.err" &
pids+=($!); w2_pid=$!
METRICS_ADDR=127.0.0.1:$AG AGG_IDLE_FLUSH_S=5 $BIN/aggregator 2>"$work/agg.err" &
pids+=($!); agg_pid=$!
for p in $GW $W1 $W2 $AG; do
    for _ in $(seq 300); do curl -sf "http://127.0.0.1:$p/readyz" >/dev/null && break; sleep 0.1; done
done
for e in gw w1 w2 agg; do
    pid_var=${e}_pid
    kill -0 "${!pid_var}" 2>/dev/null || { echo "bench: $e exited at start:" >&2; cat "$work/$e.err" >&2; exit 1; }
done

{
    echo "== whole fleet ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores): ingest-gw, 2 stream-workers (WK_EOS=$WK_EOS), 1 aggregator, PostgreSQL"
    echo "broker: $BROKER (tools/kafka-local, warmed with $BENCH_KAFKA_WARM records, then the fleet's load for ${BENCH_E2E_WARM:-20} s)"
} | tee -a "$RESULTS"
$BIN/bench_e2e --gw "http://127.0.0.1:$GW/v1/readings" --pg "$PG_DSN" \
    --worker-metrics "http://127.0.0.1:$W1/metrics,http://127.0.0.1:$W2/metrics" \
    --agg-metrics "http://127.0.0.1:$AG/metrics" --warm-seconds "${BENCH_E2E_WARM:-20}" \
    --meters 10000 --max-seconds "$((SECS + 5))" --lat-seconds "$SECS" \
    --cpu "kafka=jvm:$JVM_PID,ingest-gw=$gw_pid,stream-worker-1=$w1_pid,stream-worker-2=$w2_pid,aggregator=$agg_pid,postgresql=$pg_pid+" |
    tee -a "$RESULTS"

rss() { awk '/VmHWM/ {printf "%.0f MiB", $2 / 1024}' "/proc/$1/status"; }
echo "peak RSS: ingest-gw $(rss $gw_pid), stream-worker $(rss $w1_pid) and $(rss $w2_pid), aggregator $(rss $agg_pid), Kafka broker JVM $(rss "$JVM_PID") (heap $BENCH_KAFKA_HEAP)" | tee -a "$RESULTS"
