#!/bin/bash
# bench-gw.sh: readings/s through ingest-gw into a real Apache Kafka broker
# (tools/kafka-local), single readings and batches of 500 on keep-alive
# connections (wrk on the same machine), p50/p99 latency; the batches again
# on 64 connections (a request is answered after Kafka's ack, so 8
# connections hold at most 4,000 readings in flight); then the ceiling
# in the same run on the same broker: a bare librdkafka producer
# (bench_produce, the gateway's producer settings) sending the very records
# the gateway just wrote (read back from the topic), as many as the batch
# run on 8 connections acknowledged (at least 2,000,000). Prints the
# figures, their ratio, and where the machine's CPU went in each run (the
# broker's share, by thread role). Appends everything to RESULTS.
#
#   bench/bench-gw.sh [SECONDS] [RESULTS]   defaults 10, bench/results/results.txt
#
# BENCH_KAFKA_HEAP sets the broker's heap (default 512m); BENCH_KAFKA_WARM the
# records sent through it before anything is timed (default 6,000,000).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
RESULTS=${2:-bench/results/results.txt}
BIN=build/bin
. bench/lib.sh
mkdir -p "$(dirname "$RESULTS")"
gw_bench_start gw
kafka_warm
WATCH="kafka=jvm:$JVM_PID ingest-gw=$gw_pid"

# wrk's numbers: requests/s, p50 and p99 latency, non-2xx answers, 2xx requests in all.
run_wrk() { # phase conns script
    timed "$1" wrk "$work/wrk.out" "$WATCH" -- \
        wrk -t1 -c"$2" -d"${SECS}s" --latency -s "bench/$3" "http://127.0.0.1:$PORT/v1/readings"
    RPS=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out")
    P50=$(awk '$1 == "50%" {print $2}' "$work/wrk.out")
    P99=$(awk '$1 == "99%" {print $2}' "$work/wrk.out")
    NON2XX=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.out"); NON2XX=${NON2XX:-0}
    REQS=$(awk '/requests in/ {print $1}' "$work/wrk.out")
    OK=$(( REQS - NON2XX ))
}

run_wrk "gateway, single readings, 256 connections" 256 wrk-single.lua
single_rps=$RPS; single_p50=$P50; single_p99=$P99; single_bad=$NON2XX
run_wrk "gateway, batches of 500, 8 connections" 8 wrk-batch.lua
batch_rps=$RPS; batch_p50=$P50; batch_p99=$P99; batch_bad=$NON2XX
batch_readings=$(awk -v r="$batch_rps" 'BEGIN {printf "%.0f", r * 500}')
batch_total=$(( OK * 500 ))
run_wrk "gateway, batches of 500, 64 connections" 64 wrk-batch.lua
wide_rps=$RPS; wide_p50=$P50; wide_p99=$P99; wide_bad=$NON2XX
wide_readings=$(awk -v r="$wide_rps" 'BEGIN {printf "%.0f", r * 500}')

# The ceiling: the same broker, the same records, as many as the gateway acknowledged
# on 8 connections (at least 2,000,000, a run of seconds).
ceiling_n=$(( batch_total > 2000000 ? batch_total : 2000000 ))
timed "ceiling, bench_produce" bench_produce "$work/ceiling.out" "kafka=jvm:$JVM_PID" -- \
    $BIN/bench_produce "$BOOT" meter.readings.raw "$ceiling_n" --replay 10000
ceiling=$(awk '{print $7}' "$work/ceiling.out")
ceiling_secs=$(awk '{print $5}' "$work/ceiling.out")

ratio=$(awk -v b="$batch_readings" -v c="$ceiling" 'BEGIN {printf "%.2f", c / b}')
wide_ratio=$(awk -v b="$wide_readings" -v c="$ceiling" 'BEGIN {printf "%.2f", c / b}')
{
    echo "== ingest-gw benchmark ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, ${SECS}s per run)"
    echo "broker: $BROKER (tools/kafka-local, one broker for every run, warmed with $BENCH_KAFKA_WARM records)"
    echo "single reading/request, 256 conns: $single_rps req/s = readings/s acked; p50 $single_p50 p99 $single_p99; non-2xx $single_bad"
    echo "batch of 500/request,      8 conns: $batch_rps req/s = $batch_readings readings/s acked ($batch_total in ${SECS} s); p50 $batch_p50 p99 $batch_p99; non-2xx $batch_bad"
    echo "batch of 500/request,     64 conns: $wide_rps req/s = $wide_readings readings/s acked; p50 $wide_p50 p99 $wide_p99; non-2xx $wide_bad"
    echo "ceiling (bench_produce, no HTTP, the gateway's last 10,000 records replayed): $ceiling readings/s acked ($ceiling_n in $ceiling_secs s)"
    echo "ceiling / gateway batches: ${ratio}x on 8 connections (goal: within 2x), ${wide_ratio}x on 64"
    cat "$CPU_LOG"
} | tee -a "$RESULTS"
