#!/bin/bash
# test_local_stack.sh: tools/local-stack as a user runs it (issue 9).
#
# The whole stack: its NAME=value lines and READY, two readings POSTed to
# the gateway with its token land in PostgreSQL (rollup_1m, meter_current_
# status) through the real broker, the worker and the aggregator; the
# variables of local-stack's environment reach the daemons (the meter is
# registered after the start and REGISTRY_REFRESH_S=1 is what lets the
# worker see it in time: the default is 60 s); SIGTERM stops everything
# with exit 0, no process and no directory left. Then `--only broker,pg`
# (just those two lines), the same killed with SIGKILL (its children and
# its watchdog clean up), a daemon that fails at start (one line naming
# it, its log's tail, exit 1, nothing left), --help and a bad argument.
# Prints "local-stack: N passed, M failed" last; exit 0/1; 77 (skip)
# without PostgreSQL's server binaries.
set -u
cd "$(dirname "$0")/../.."

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "local-stack: skipped: PostgreSQL server binaries absent (apt-get install postgresql)"
    exit 77
fi

# local-stack makes its directory under TMPDIR: a private one, so "nothing
# left" is "no mf-stack.* in it, no process naming it". PostgreSQL (run as postgres when we are
# root) must be able to traverse it.
T=$(mktemp -d /tmp/mf-test-stack.XXXXXX)
chmod 711 "$T"
STACK_PID=
cleanup() {
    # A failed check must not leave the stack running.
    if [ -n "$STACK_PID" ] && kill -0 "$STACK_PID" 2>/dev/null; then
        kill -TERM "$STACK_PID" 2>/dev/null
        for _ in $(seq 600); do kill -0 "$STACK_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$STACK_PID" 2>/dev/null
    fi
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pass=0
fail=0
. tests/lib/check.sh

# start_stack NAME ARGS...: tools/local-stack in the background (with the
# caller's extra environment), stdout in $T/NAME.out, stderr in $T/NAME.err;
# waits for READY (120 s: the two cores are shared). Sets STACK_PID, DIR.
start_stack() {
    local name=$1
    shift
    TMPDIR=$T tools/local-stack "$@" >"$T/$name.out" 2>"$T/$name.err" &
    STACK_PID=$!
    for _ in $(seq 1200); do
        grep -qx READY "$T/$name.out" && break
        kill -0 "$STACK_PID" 2>/dev/null || break
        sleep 0.1
    done
    DIR=$(sed -n 's/^local-stack: logs in //p' "$T/$name.err" | head -n 1)
    grep -qx READY "$T/$name.out"
}

# The stack's descendants (children and grandchildren: kafka-local's JVM).
descendants() {
    local p c
    for p in $(pgrep -P "$1"); do
        echo "$p"
        for c in $(pgrep -P "$p"); do echo "$c"; done
    done
}

# stop_stack: SIGTERM, wait (90 s); sets STOP_RC.
stop_stack() {
    kill -TERM "$STACK_PID" 2>/dev/null
    for _ in $(seq 900); do kill -0 "$STACK_PID" 2>/dev/null || break; sleep 0.1; done
    STOP_RC=0
    wait "$STACK_PID" 2>/dev/null || STOP_RC=$?
    STACK_PID=
}

# nothing_left PIDS...: none alive, no process naming T, no mf-stack.* in T.
nothing_left() {
    local p
    for p in "$@"; do
        if kill -0 "$p" 2>/dev/null; then
            echo "    still running: $(ps -o pid=,args= -p "$p" | cut -c1-120)"
            return 1
        fi
    done
    if pgrep -f "$T/" >/dev/null; then
        echo "    still running: $(pgrep -af "$T/" | cut -c1-120)"
        return 1
    fi
    if ls -d "$T"/mf-stack.* >/dev/null 2>&1; then
        echo "    left: $(ls -d "$T"/mf-stack.*)"
        return 1
    fi
}

val() { sed -n "s/^$1=//p" "$T/$2.out"; }

metric() { # metric URL FAMILY: the sum of a family's samples
    curl -fs -m 5 "$1" | awk -v fam="$2" '
        $0 !~ /^#/ { n = $1; sub(/\{.*/, "", n); if (n == fam) s += $NF }
        END { printf "%.0f\n", s }'
}

psql_q() { psql "$PG_DSN" -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"; }

t0=$(date +%s)

# ------------------------------------------------------------------ the whole stack
echo "the whole stack"
s0=$(date +%s)
if REGISTRY_REFRESH_S=1 start_stack full; then ok=0; else ok=1; fi
check "READY within 120 s ($(($(date +%s) - s0)) s)" test $ok -eq 0
[ $ok -eq 0 ] || sed 's/^/    | /' "$T/full.err" | tail -n 30
names=$(sed 's/=.*//' "$T/full.out" | tr '\n' ' ')
check "lines: $names" test "$names" = \
    "KAFKA_BROKERS PG_DSN GW_URL GW_TOKEN GW_METRICS WORKER_METRICS AGG_METRICS SS_METRICS API_URL READY "
check "its directory is under TMPDIR ($DIR)" test -n "$DIR" -a -d "$DIR" -a "${DIR#"$T"/}" != "$DIR"
PG_DSN=$(val PG_DSN full)
GW_URL=$(val GW_URL full)
GW_TOKEN=$(val GW_TOKEN full)
GW_METRICS=$(val GW_METRICS full)
WORKER_METRICS=$(val WORKER_METRICS full)
AGG_METRICS=$(val AGG_METRICS full)
KAFKA_BROKERS=$(val KAFKA_BROKERS full)
API_URL=$(val API_URL full)
PIDS=$(descendants "${STACK_PID:-0}" | tr '\n' ' ')
check "the broker is a real Kafka (a java kafka.Kafka under the stack)" \
    sh -c "pgrep -f 'kafka.Kafka $DIR/' >/dev/null"

if [ $ok -eq 0 ]; then
    M=LS-TEST-1
    check "meter registered" psql_q "INSERT INTO meters (meter_id, max_kw, interval_s) VALUES ('$M', 20, 60)"
    # REGISTRY_REFRESH_S=1 from local-stack's environment: the worker reloads its registry.
    seen=0
    for _ in $(seq 100); do
        [ "$(metric "$WORKER_METRICS" meterflow_worker_registry_meters)" -ge 1 ] && { seen=1; break; }
        sleep 0.1
    done
    check "the worker sees the new meter within 10 s (REGISTRY_REFRESH_S=1 reached it)" test $seen -eq 1

    ts1=$(date -u -d '-2 min' +%Y-%m-%dT%H:%M:00Z)
    ts2=$(date -u -d '-1 min' +%Y-%m-%dT%H:%M:00Z)
    body="[{\"meter_id\":\"$M\",\"ts\":\"$ts1\",\"value\":1.5,\"unit\":\"kW\"},{\"meter_id\":\"$M\",\"ts\":\"$ts2\",\"value\":2.5,\"unit\":\"kW\"}]"
    code=$(curl -s -m 15 -o "$T/post.json" -w '%{http_code}' -H "Authorization: Bearer $GW_TOKEN" \
        -H 'Content-Type: application/json' --data "$body" "$GW_URL/v1/readings")
    check "POST two readings with GW_TOKEN: $code $(cat "$T/post.json" 2>/dev/null)" \
        sh -c "[ '$code' = 202 ] && grep -q '\"accepted\":2' '$T/post.json'"
    code=$(curl -s -m 15 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
        --data "$body" "$GW_URL/v1/readings")
    check "without the token: $code" test "$code" = 401

    n=0
    for _ in $(seq 300); do
        n=$(psql_q "SELECT coalesce(sum(count), 0) FROM rollup_1m_stats WHERE meter_id = '$M'" 2>/dev/null)
        [ "${n:-0}" = 2 ] && break
        sleep 0.1
    done
    check "both readings in rollup_1m within 30 s ($n)" test "${n:-0}" = 2
    st=$(psql_q "SELECT value_kw || ' ' || tier FROM meter_current_status
                  WHERE meter_id = '$M' AND ts = '$ts2'" 2>/dev/null)
    check "meter_current_status holds the newer reading ($st)" test "$st" = "2.5 premium"
    # analytics-api reads the same tokens file (GW_TOKEN holds the read scope).
    api=$(curl -s -m 15 -H "Authorization: Bearer $GW_TOKEN" "$API_URL/v1/meters/$M/status")
    check "analytics-api at API_URL answers the meter's status with GW_TOKEN: $api" \
        sh -c "echo '$api' | grep -q '\"value_kw\":2.5'"
    check "gateway metrics: 2 accepted" \
        test "$(metric "$GW_METRICS" meterflow_gw_readings_total)" -ge 2
    check "aggregator metrics: 2 records" \
        test "$(metric "$AGG_METRICS" meterflow_agg_records_total)" -ge 2

    # The other sources: GW_TOKEN holds every scope; source-sink stores the vehicle.
    check "vehicle registered" psql_q "INSERT INTO vehicles (vehicle_id, meter_id) VALUES ('LS-EV-1', '$M')"
    code=$(curl -s -m 15 -o "$T/post.json" -w '%{http_code}' -H "Authorization: Bearer $GW_TOKEN" \
        -H 'Content-Type: application/json' \
        --data "{\"vehicleId\":\"LS-EV-1\",\"soc\":54.5,\"kwhDeliveredDc\":0.4,\"timestamp\":\"$ts2\"}" \
        "$GW_URL/v1/telemetry")
    check "POST a vehicle to /v1/telemetry with GW_TOKEN: $code" test "$code" = 202
    n=0
    for _ in $(seq 300); do
        n=$(psql_q "SELECT count(*) FROM vehicle_current_status WHERE vehicle_id = 'LS-EV-1' AND soc_pct = 54.5" 2>/dev/null)
        [ "${n:-0}" = 1 ] && break
        sleep 0.1
    done
    check "source-sink stored it in vehicle_current_status within 30 s" test "${n:-0}" = 1

    # No secret in a log line or a metric (issue 17): the token and the
    # database password this run used are in no daemon's log and no /metrics.
    PG_PASS=$(val PG_DSN full | sed -n 's|^postgresql://[^:/@]*:\([^@]*\)@.*|\1|p')
    check "PG_DSN carries a password" test -n "$PG_PASS"
    for m in GW WORKER AGG SS; do
        curl -fs -m 10 "$(val ${m}_METRICS full)" >"$T/metrics.$m"
    done
    nlogs=$(find "$DIR" -name '*.log' -size +0 | wc -l)
    leaks=$(grep -l -F -e "$GW_TOKEN" -e "$PG_PASS" "$DIR"/*.log "$DIR"/*/*.log "$T"/metrics.* 2>/dev/null)
    check "neither the token nor the password in $nlogs logs or 4 /metrics${leaks:+ (in: $leaks)}" \
        test -z "$leaks" -a "$nlogs" -ge 4
fi

s0=$(date +%s)
stop_stack
check "SIGTERM: exit 0 ($STOP_RC) in $(($(date +%s) - s0)) s" test "$STOP_RC" -eq 0
[ "$STOP_RC" -eq 0 ] || sed 's/^/    | /' "$T/full.err" | tail -n 30
# shellcheck disable=SC2086
check "nothing left: daemons, kafka-local, the JVM, postgres, the directory" nothing_left $PIDS
if [ -n "$KAFKA_BROKERS" ]; then
    check "the broker's port is closed" bash -c "! (exec 3<>/dev/tcp/${KAFKA_BROKERS%:*}/${KAFKA_BROKERS##*:}) 2>/dev/null"
fi

# ------------------------------------------------------------------ --only broker,pg
echo "--only broker,pg"
if start_stack only --only broker,pg; then ok=0; else ok=1; fi
check "READY" test $ok -eq 0
names=$(sed 's/=.*//' "$T/only.out" | tr '\n' ' ')
check "lines: $names" test "$names" = "KAFKA_BROKERS PG_DSN READY "
PG_DSN=$(val PG_DSN only)
KAFKA_BROKERS=$(val KAFKA_BROKERS only)
PIDS=$(descendants "${STACK_PID:-0}" | tr '\n' ' ')
check "PostgreSQL answers, migrated" test "$(psql_q 'SELECT count(*) > 0 FROM schema_migrations' 2>/dev/null)" = t
check "the broker answers" bash -c "(exec 3<>/dev/tcp/${KAFKA_BROKERS%:*}/${KAFKA_BROKERS##*:}) 2>/dev/null"
check "no daemon started" sh -c "! ps -o comm= --ppid ${STACK_PID:-0} | grep -q -x -e ingest-gw -e stream-worker -e aggregator -e source-sink"
stop_stack
check "SIGTERM: exit 0 ($STOP_RC)" test "$STOP_RC" -eq 0
# shellcheck disable=SC2086
check "nothing left" nothing_left $PIDS

# ------------------------------------------------------------------ killed
echo "local-stack killed with SIGKILL"
if start_stack killed --only broker,pg; then ok=0; else ok=1; fi
check "READY" test $ok -eq 0
PIDS=$(descendants "${STACK_PID:-0}" | tr '\n' ' ')
kill -KILL "$STACK_PID"
wait "$STACK_PID" 2>/dev/null
STACK_PID=
# Its children get SIGTERM (pdeathsig); the watchdog destroys PostgreSQL and the directory.
for _ in $(seq 300); do
    # shellcheck disable=SC2086
    nothing_left $PIDS >/dev/null && break
    sleep 0.1
done
# shellcheck disable=SC2086
check "nothing left within 30 s" nothing_left $PIDS

# ------------------------------------------------------------------ failures, usage
echo "failures"
KAFKA_BROKERS=127.0.0.1:1 GW_MAX_READINGS=0 TMPDIR=$T tools/local-stack --only gw \
    >"$T/bad.out" 2>"$T/bad.err"
rc=$?
check "a daemon that fails at start: exit 1 ($rc)" test $rc -eq 1
check "one line names it" grep -q '^local-stack: ingest-gw exited early (status 2)$' "$T/bad.err"
check "with its log's tail" grep -q "^  | ingest-gw: invalid GW_MAX_READINGS '0'" "$T/bad.err"
check "no READY" test ! -s "$T/bad.out"
check "nothing left" nothing_left
MF_BIN_DIR=$T/none TMPDIR=$T tools/local-stack >/dev/null 2>"$T/nobin.err"
rc=$?
check "a missing build: exit 1 ($rc), named: $(head -n 1 "$T/nobin.err")" \
    sh -c "[ $rc -eq 1 ] && grep -q 'not found' '$T/nobin.err'"
tools/local-stack --only broker,kafka >/dev/null 2>"$T/arg.err"
rc=$?
check "an unknown name: exit 2 ($rc)" sh -c "[ $rc -eq 2 ] && grep -q \"unknown name 'kafka'\" '$T/arg.err'"
check "--help" sh -c "tools/local-stack --help | grep -q -- '--only'"

secs=$(($(date +%s) - t0))
echo "  ($secs s)"
echo "local-stack: $pass passed, $fail failed"
[ $fail -eq 0 ]
