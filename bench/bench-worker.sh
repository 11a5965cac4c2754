#!/bin/sh
# bench-worker.sh: the stream-worker's benchmark figures (issue #3).
# Runs build/bin/bench_wk three ways and prints "name value" lines:
#   inproc  our own code alone (parse, rules, serialize; no Kafka)
#   rss     RSS growth per meter of state (100,000 meters)
#   e2e     one worker end to end from the local broker, with the delivery
#           protocol (outputs, changelog, commit); needs PostgreSQL
#   ceiling the broker's ceiling: a bare consumer and producer on the same
#           input and batches, no worker code (what e2e can at most reach)
# Usage: bench/bench-worker.sh [records] [meters]   (make first)
set -eu
BIN=${MF_BIN_DIR:-build/bin}
RECORDS=${1:-300000}
METERS=${2:-10000}
export MF_BIN_DIR="$(cd "$BIN" && pwd)" MF_TOP="$(pwd)"
echo "# stream-worker benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores"
"$BIN/bench_wk" inproc 1000000 "$METERS"
"$BIN/bench_wk" rss 100000
"$BIN/bench_wk" e2e "$RECORDS" "$METERS" 2>/dev/null | grep '^e2e_' || echo "e2e skipped (no PostgreSQL?)"
"$BIN/bench_wk" ceiling "$RECORDS" "$METERS" 2>/dev/null | grep '^ceiling_' || echo "ceiling skipped"
