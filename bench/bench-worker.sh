#!/bin/sh
# bench-worker.sh: the stream-worker's benchmark figures (issue #3, issue #9).
# Runs build/bin/bench_wk and prints "name value" lines:
#   inproc  our own code alone (parse, rules, serialize; no Kafka)
#   state   RSS growth per meter of state (100,000 meters)
#   e2e     one worker end to end on a real Apache Kafka broker
#           (tools/kafka-local) with PostgreSQL, RECORDS records each run:
#           without WK_EOS (the effectively-once protocol: outputs,
#           changelog, commit) and with WK_EOS=on (one Kafka transaction per
#           batch), records/s each and the cost ratio; where the machine's
#           CPU went in each run (the broker's share by thread role)
#   ceiling a bare consumer and producer on the same broker, input and
#           batches, no worker code (what e2e can at most reach)
# Appends everything to RESULTS (default bench/results/results.txt).
#
# Usage: bench/bench-worker.sh [RECORDS [METERS]]   defaults 2000000 10000 (make first)
set -eu
cd "$(dirname "$0")/.."
BIN=${MF_BIN_DIR:-build/bin}
RECORDS=${1:-2000000}
METERS=${2:-10000}
RESULTS=${RESULTS:-bench/results/results.txt}
mkdir -p "$(dirname "$RESULTS")"
logs=$(mktemp -d /tmp/mf-bench-wk.XXXXXX)
export MF_BIN_DIR="$(cd "$BIN" && pwd)" MF_TOP="$(pwd)" MF_TEST_LOGDIR="$logs"
{
    echo "# stream-worker benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores"
    "$BIN/bench_wk" inproc 1000000 "$METERS"
    "$BIN/bench_wk" rss 100000
    rc=0
    "$BIN/bench_wk" e2e "$RECORDS" "$METERS" || rc=$?
    case $rc in
        0) ;;
        77) echo "e2e skipped (no PostgreSQL)" ;;
        *) echo "e2e failed (exit $rc); logs in $logs"; touch "$logs/failed" ;;
    esac
} 2>"$logs/bench_wk.err" | tee -a "$RESULTS"
# the logs are kept only when something failed
if [ -e "$logs/failed" ]; then tail -n 5 "$logs/bench_wk.err" >&2; exit 1; fi
rm -rf "$logs"
