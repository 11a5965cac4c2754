#!/bin/bash
# bench-aggregator.sh: the aggregator's benchmark (issue #4).
#
#   bench/bench-aggregator.sh [METERS [MINUTES [BATCH [PER_MINUTE]]]]   defaults 10000 100 20000 1
#
# BENCH_AGG_DSN=<dsn> uses that (empty) database instead of a throw-away one
# and leaves it as it is afterwards, for EXPLAIN / pg_stat_statements.
#
# No Kafka: it times the aggregator's own path from record bytes to a
# committed PostgreSQL transaction (the whole fleet with Kafka is bench.sh's
# e2e part).
# Runs build/bin/bench_agg against a throw-away PostgreSQL (tests/lib/pgtmp.sh)
# with the UCI household's real 1-minute readings replayed for METERS meters
# (read in place from /work/shared/data; skipped with exit 77 when absent).
# Prints readings/s into rollup_1m + rollup_1h, commit latency p50/p99 and
# memory per open window, appends them to RESULTS (default
# bench/results/results.txt) and keeps a copy of this run in bench/results/
# (not in git).
# Figures only: nothing is asserted. Run it on a quiet machine.
set -u
cd "$(dirname "$0")/.." || exit 1
[ -x build/bin/bench_agg ] || make build/bin/bench_agg || exit 1
RESULTS=${RESULTS:-bench/results/results.txt}
mkdir -p bench/results "$(dirname "$RESULTS")"
out=bench/results/aggregator-$(date -u +%Y%m%dT%H%M%SZ).txt
{
    echo "# aggregator benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores (PostgreSQL only, no Kafka)"
    MF_TOP=$(pwd) build/bin/bench_agg "$@"
} | tee "$out" | tee -a "$RESULTS"
rc=${PIPESTATUS[0]}
[ $rc -eq 77 ] && echo "bench-aggregator: skipped (no data or no PostgreSQL)"
exit $rc
