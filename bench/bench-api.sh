#!/bin/bash
# bench-api.sh: analytics-api under wrk (make bench; BENCH_ONLY=api alone).
#
# A throw-away PostgreSQL filled by tests/data/api/fixture.sql with
# BENCH_API_METERS meters (default 10000) and BENCH_API_DAYS_1H days of
# hourly rollups (default 30), 1-minute rollups for BENCH_API_METERS_1M
# meters over 2 days (default 10000; the mix does not read them, they make
# the database the size DESIGN's fleet has), then wrk with 64 connections
# for BENCH_SECONDS (default 10) per run, the mix of bench/wrk-api.lua
# (40 % status, 40 % a meter's day of hourly rollups, 20 % the fleet's
# week of load; 90 % of meters among 500 hot ones):
#   ceiling   GET /healthz: the HTTP server alone, no cache, no database
#   cached    the mix with the cache on (the goal: >= 50,000 req/s, p95 < 10 ms)
#   uncached  the mix with API_CACHE=off (the goal: >= 5,000 req/s)
#   rollups   a meter's day of hourly rollups alone, cache off (p95 < 20 ms)
# Prints each with its ratio to the ceiling and what the cache buys, and
# appends them to $RESULTS (bench/results/results.txt). BENCH_API_THREADS
# and BENCH_API_POOL set API_THREADS and API_PG_POOL (default: the program's
# own defaults, 4 each: what a user runs; 8 each oversubscribed the 2 cores
# PostgreSQL shares and lengthened the p95s). Not a test: the
# goals are printed beside the figures, never enforced.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${BENCH_SECONDS:-10}
RESULTS=${RESULTS:-bench/results/results.txt}
METERS=${BENCH_API_METERS:-10000}
DAYS=${BENCH_API_DAYS_1H:-30}
METERS_1M=${BENCH_API_METERS_1M:-10000}
command -v wrk >/dev/null || { echo "bench-api: wrk not installed (make deps)"; exit 77; }
. tests/lib/api-stack.sh
api_stack_init bench-api
mkdir -p "$(dirname "$RESULTS")"

t0=$(date +%s)
api_stack_start "$T" "-v meters=$METERS -v regions=20 -v meters_1h=$METERS -v days_1h=$DAYS \
    -v meters_1m=$METERS_1M -v days_1m=2 -v feeders=200 -v vehicles=100" \
    API_THREADS=${BENCH_API_THREADS:-4} API_PG_POOL=${BENCH_API_POOL:-4} LOG_LEVEL=warn || fail "the stack did not start"
rows=$(psql -X -A -t "$API_DSN" -c "SELECT (SELECT count(*) FROM rollup_1h) || ' 1h rows, ' ||
    (SELECT count(*) FROM rollup_1m) || ' 1m rows, ' || pg_size_pretty(pg_database_size(current_database()))")
echo "bench-api: $METERS meters, $rows, filled in $(($(date +%s) - t0)) s"

run() { # run NAME URL-PATH-OR-MIX: one wrk run, prints its RESULT line
    local name=$1 mix=$2
    WRK_API_TOKEN=$API_TOKEN WRK_API_METERS=$METERS WRK_API_MIX=$mix \
        wrk -t2 -c64 -d"${SECS}s" -s bench/wrk-api.lua "$API_URL" >"$T/$name.wrk" 2>&1 ||
        fail "wrk failed: $(tail -n 3 "$T/$name.wrk")"
    grep '^RESULT' "$T/$name.wrk" | sed "s/^RESULT/$name/"
}
field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<"$2"; }

# Warm: every hot key once, PostgreSQL's pages in memory.
BENCH_SECONDS=3 run warm 40,40,20 >/dev/null
ceiling=$(WRK_API_TOKEN=$API_TOKEN wrk -t2 -c64 -d"${SECS}s" --latency "$API_URL/healthz" 2>&1 |
    awk '/Requests\/sec/ {print $2}')
cached=$(run cached 40,40,20)
api_stack_stop_api() { kill -TERM "$API_PID"; wait "$API_PID" 2>/dev/null || true; API_PID=; }
api_stack_stop_api
env PG_DSN="$API_DSN" API_ADDR="127.0.0.1:$API_PORT" API_TOKENS_FILE="$T/tokens" API_CACHE=off \
    API_THREADS=${BENCH_API_THREADS:-4} API_PG_POOL=${BENCH_API_POOL:-4} LOG_LEVEL=warn "${MF_BIN_DIR:-build/bin}/analytics-api" >>"$T/api.log" 2>&1 &
API_PID=$!
for _ in $(seq 100); do curl -fs "$API_URL/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
uncached=$(run uncached 40,40,20)
rollups=$(run rollups 0,100,0)

line() { # NAME RESULT GOAL
    local rs p95
    rs=$(field req_s "$2")
    p95=$(field p95_ms "$2")
    printf '  %-34s %8s req/s (%3s %% of the ceiling)  p95 %6s ms  %s\n' "$1" "$rs" \
        "$(awk -v a="$rs" -v b="$ceiling" 'BEGIN {printf "%d", 100 * a / b}')" "$p95" "$3"
}
{
    echo "== bench-api $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores: $METERS meters, $rows; wrk 64 connections, ${SECS} s a run"
    printf '  %-34s %8s req/s\n' "ceiling: GET /healthz" "${ceiling%.*}"
    line "mix, cache on" "$cached" "(goal >= 50,000 req/s, p95 < 10 ms)"
    line "mix, cache off" "$uncached" "(goal >= 5,000 req/s)"
    line "a meter's day of 1h rollups, no cache" "$rollups" "(goal p95 < 20 ms)"
    echo "  the cache buys $(awk -v a="$(field req_s "$cached")" -v b="$(field req_s "$uncached")" \
        'BEGIN {printf "%.1fx", a / b}') the throughput; non-2xx answers: cached $(field non2xx "$cached"), uncached $(field non2xx "$uncached")"
} | tee -a "$RESULTS"
