#!/bin/bash
# test_secure_stack.sh: the fleet over SASL_SSL to Kafka and verify-full TLS
# to PostgreSQL (issue 17), as a cluster with Strimzi's SCRAM listener and a
# managed PostgreSQL would ask of it.
#
# A throw-away CA signs one certificate for 127.0.0.1/localhost. The real
# broker (tools/kafka-local --sasl-ssl) gets a SASL_SSL listener with a
# SCRAM-SHA-512 user; a throw-away PostgreSQL (pgtmp.sh, PGTMP_TLS_DIR)
# takes TCP only over TLS with a password. ingest-gw, stream-worker and the
# aggregator run with KAFKA_SECURITY_PROTOCOL=SASL_SSL and the SCRAM user
# (the KAFKA_* pass-through), and PG_DSN with sslmode=verify-full:
#   - readings POSTed reach rollup_1m through both;
#   - the sessions really are TLS (pg_stat_ssl), plain TCP is refused, a
#     client trusting another CA refuses the server;
#   - a wrong SCRAM password keeps the gateway not ready and its POSTs 503;
#   - one PostgreSQL role per program (migration 060): the owner migrates;
#     stream-worker logs in as a member of meterflow_worker, the aggregator,
#     source-sink and meterctl of meterflow_writer, analytics-api of
#     meterflow_api; partitions are made through the owner's SECURITY DEFINER
#     functions; each role is refused what it must not do; a program whose
#     role may not migrate says the owner must;
#   - no password appears in any program's log or /metrics.
# Prints "secure: N passed, M failed"; 77 without openssl.
set -u
cd "$(dirname "$0")/../.."
bin=${MF_BIN_DIR:-build/bin}
command -v openssl >/dev/null 2>&1 || { echo "secure: skipped: openssl absent"; exit 77; }
T=$(mktemp -d /tmp/mf-test-secure.XXXXXX)
chmod 755 "$T" # the PostgreSQL server runs as postgres when we are root
PIDS=()
KAFKA=
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    [ -n "$KAFKA" ] && kill "$KAFKA" 2>/dev/null
    wait 2>/dev/null
    tests/lib/pgtmp.sh destroy "$T/pg" >/dev/null 2>&1
    [ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
pass=0 fail=0
. tests/lib/check.sh
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # URL: 200 within 30 s
    for _ in $(seq 300); do curl -fs -m 2 "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
}

# The CA, and one certificate for the broker and PostgreSQL; another CA nobody uses.
mkdir -p "$T/tls" "$T/other"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/tls/ca.key" -out "$T/tls/ca.pem" -days 2 \
    -subj /CN=meterflow-test-ca 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$T/tls/server.key" -out "$T/tls/server.csr" \
    -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$T/tls/ext"
openssl x509 -req -in "$T/tls/server.csr" -CA "$T/tls/ca.pem" -CAkey "$T/tls/ca.key" \
    -CAcreateserial -out "$T/tls/server.pem" -days 2 -extfile "$T/tls/ext" 2>/dev/null
cp "$T/tls/server.pem" "$T/tls/broker.pem"
cp "$T/tls/server.key" "$T/tls/broker.key"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/other/ca.key" -out "$T/other/ca.pem" \
    -days 2 -subj /CN=other-ca 2>/dev/null
KPASS=kafka-$(openssl rand -hex 12)
PGPASS=pg-$(openssl rand -hex 12)

tools/kafka-local --port 0 --sasl-ssl "$T/tls" --sasl-user "meterflow:$KPASS" \
    >"$T/kafka.out" 2>"$T/kafka.err" &
KAFKA=$!
for _ in $(seq 900); do
    [ "$(wc -l <"$T/kafka.out")" -ge 2 ] && break
    kill -0 "$KAFKA" 2>/dev/null || break
    sleep 0.1
done
SECURE=$(sed -n 2p "$T/kafka.out")
check "the broker has a SASL_SSL listener ($SECURE)" test -n "$SECURE"
[ -n "$SECURE" ] || { cat "$T/kafka.err"; echo "secure: $pass passed, $((fail + 1)) failed"; exit 1; }

dsn=$(PGTMP_TLS_DIR="$T/tls" tests/lib/pgtmp.sh start "$T/pg") || { echo "secure: pgtmp failed"; exit 1; }
pgport=$(sed 's/.*port=\([0-9]*\).*/\1/' <<<"$dsn")
pguser=$(sed 's/.*user=\([^ ]*\).*/\1/' <<<"$dsn")
psql -X -q -h "$T/pg" -p "$pgport" -U "$pguser" -d meterflow -c "ALTER ROLE \"$pguser\" PASSWORD '$PGPASS'"
DSN="host=localhost port=$pgport dbname=meterflow user=$pguser password=$PGPASS sslmode=verify-full sslrootcert=$T/tls/ca.pem"
q() { psql -X -q -t -A "$DSN" -c "$1" 2>"$T/psql.err"; }
check "PostgreSQL over verify-full: the session is TLS ($(q 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'))" \
    test "$(q 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')" = t
psql -X -q -t -A "host=127.0.0.1 port=$pgport dbname=meterflow user=$pguser password=$PGPASS sslmode=disable" \
    -c 'SELECT 1' >/dev/null 2>"$T/plain.err"
check "plain TCP to PostgreSQL is refused ($(grep -o 'no encryption' "$T/plain.err" | head -n 1))" \
    grep -q 'no encryption' "$T/plain.err"
psql -X -q -t -A "host=localhost port=$pgport dbname=meterflow user=$pguser password=$PGPASS sslmode=verify-full sslrootcert=$T/other/ca.pem" \
    -c 'SELECT 1' >/dev/null 2>"$T/other.err"
check "a client trusting another CA refuses the server" grep -q 'certificate verify failed' "$T/other.err"

export KAFKA_BROKERS=$SECURE KAFKA_SECURITY_PROTOCOL=SASL_SSL KAFKA_SASL_MECHANISMS=SCRAM-SHA-512 \
    KAFKA_SASL_USERNAME=meterflow KAFKA_SASL_PASSWORD=$KPASS KAFKA_SSL_CA_LOCATION=$T/tls/ca.pem \
    PG_DSN=$DSN LOG_LEVEL=info
"$bin/aggregator" migrate >"$T/migrate.log" 2>&1
check "migrations over verify-full, by the owner" test "$(q "SELECT to_regclass('meters') IS NOT NULL")" = t
q "INSERT INTO meters (meter_id, max_kw, interval_s, region) SELECT 'SEC-' || g, 20, 60, 'north' FROM generate_series(1, 10) g" >/dev/null
q "INSERT INTO vehicles (vehicle_id, meter_id) VALUES ('SEC-EV-1', 'SEC-1')" >/dev/null

# The operator's log-in roles, one per program, members of 060's roles.
for r in wk:meterflow_worker agg:meterflow_writer ss:meterflow_writer ctl:meterflow_writer api:meterflow_api; do
    q "CREATE ROLE mf_${r%%:*} LOGIN PASSWORD '$PGPASS-${r%%:*}' IN ROLE ${r#*:}" >/dev/null
done
dsn_as() { echo "host=localhost port=$pgport dbname=meterflow user=mf_$1 password=$PGPASS-$1 sslmode=verify-full sslrootcert=$T/tls/ca.pem"; }
as() { local who=$1; shift; psql -X -q -t -A "$(dsn_as "$who")" -c "$1" 2>&1; }
check "analytics-api's role may not write ($(as api "INSERT INTO meters (meter_id) VALUES ('X')" | head -n 1))" \
    sh -c "psql -X -q '$(dsn_as api)' -c \"INSERT INTO meters (meter_id) VALUES ('X')\" 2>&1 | grep -q 'permission denied'"
check "stream-worker's role reads only the registry" \
    sh -c "psql -X -q '$(dsn_as wk)' -c 'SELECT count(*) FROM rollup_1m' 2>&1 | grep -q 'permission denied'"
check "a writer may not drop a table" \
    sh -c "psql -X -q '$(dsn_as agg)' -c 'DROP TABLE audit_log' 2>&1 | grep -q 'must be owner'"
check "a writer may not create one" \
    sh -c "psql -X -q '$(dsn_as agg)' -c 'CREATE TABLE mine (x int)' 2>&1 | grep -q 'permission denied'"
check "only a writer may make partitions" \
    sh -c "psql -X -q '$(dsn_as api)' -c \"SELECT meterflow_ensure_partitions('rollup_1m', now(), now())\" 2>&1 | grep -q 'permission denied'"
last=$(q "SELECT max(version) FROM schema_migrations")
q "DELETE FROM schema_migrations WHERE version = $last" >/dev/null
PG_DSN=$(dsn_as wk) METRICS_ADDR=127.0.0.1:0 timeout 30 "$bin/stream-worker" >/dev/null 2>"$T/wk-pending.err"
check "a migration pending: stream-worker's role says the owner must migrate" \
    grep -q "schema's owner" "$T/wk-pending.err"
q "INSERT INTO schema_migrations (version, name) SELECT $last, 'restored'" >/dev/null

GW=$(free_port) WK=$(free_port) AG=$(free_port) SS=$(free_port) API=$(free_port)
HTTP_ADDR=127.0.0.1:$GW GW_AUTH=off "$bin/ingest-gw" 2>"$T/gw.log" &
PIDS+=($!)
PG_DSN=$(dsn_as wk) METRICS_ADDR=127.0.0.1:$WK TS_CHECK=off REGISTRY_REFRESH_S=1 \
    "$bin/stream-worker" 2>"$T/wk.log" &
PIDS+=($!)
PG_DSN=$(dsn_as agg) METRICS_ADDR=127.0.0.1:$AG AGG_IDLE_FLUSH_S=1 "$bin/aggregator" 2>"$T/agg.log" &
PIDS+=($!)
PG_DSN=$(dsn_as ss) METRICS_ADDR=127.0.0.1:$SS SS_BATCH_MS=100 "$bin/source-sink" 2>"$T/ss.log" &
PIDS+=($!)
PG_DSN=$(dsn_as api) API_ADDR=127.0.0.1:$API API_AUTH=off "$bin/analytics-api" 2>"$T/api.log" &
PIDS+=($!)
up=0
wait_http "http://127.0.0.1:$GW/readyz" && wait_http "http://127.0.0.1:$WK/readyz" &&
    wait_http "http://127.0.0.1:$AG/readyz" && wait_http "http://127.0.0.1:$SS/readyz" &&
    wait_http "http://127.0.0.1:$API/readyz" && up=1
check "the fleet ready over SASL_SSL and verify-full, each program as its own role" test $up -eq 1

body=$(python3 -c 'import json
print(json.dumps([{"meter_id": "SEC-%d" % m, "ts": 1710511200000 + i * 60000, "value": 1.5 + i,
                   "unit": "kW"} for m in range(1, 11) for i in range(10)]))')
code=$(curl -s -m 30 -o "$T/post.json" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data "$body" "http://127.0.0.1:$GW/v1/readings")
check "100 readings acknowledged by the broker over SASL_SSL ($code)" \
    sh -c "[ '$code' = 202 ] && grep -q '\"accepted\":100' '$T/post.json'"
n=0
for _ in $(seq 600); do
    n=$(q "SELECT coalesce(sum(count), 0) FROM rollup_1m_stats WHERE meter_id LIKE 'SEC-%'")
    [ "${n:-0}" = 100 ] && break
    sleep 0.1
done
check "all 100 in rollup_1m through the worker and the aggregator ($n)" test "${n:-0}" = 100
curl -s -m 10 -o "$T/api.json" "http://127.0.0.1:$API/v1/meters/SEC-1/rollups?width=1m&from=2024-03-15T14:00:00Z&to=2024-03-15T15:00:00Z"
got=$(python3 -c 'import json,sys; print(sum(r["count"] for r in json.load(open(sys.argv[1]))["items"]))' "$T/api.json" 2>/dev/null)
check "analytics-api serves them as its read-only role ($got of SEC-1's 10)" test "${got:-0}" = 10
code=$(curl -s -m 30 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    --data '[{"vehicleId":"SEC-EV-1","soc":50,"kwhDeliveredDc":1,"batteryTemp":20,"timestamp":"2024-03-15T14:00:00Z"}]' \
    "http://127.0.0.1:$GW/v1/telemetry")
n=0
for _ in $(seq 300); do
    n=$(q "SELECT count(*) FROM vehicle_telemetry_history WHERE vehicle_id = 'SEC-EV-1'")
    [ "${n:-0}" = 1 ] && break
    sleep 0.1
done
check "source-sink as a writer stores a vehicle in a new day partition ($code, $n)" test "${n:-0}" = 1
PG_DSN=$(dsn_as ctl) "$bin/meterctl" maintenance add --region north --from 2024-03-16T00:00:00Z \
    --to 2024-03-16T04:00:00Z --why test >"$T/ctl.out" 2>&1
check "meterctl as a writer records a maintenance window and its audit row" \
    test "$(q "SELECT count(*) FROM audit_log WHERE actor IS NOT NULL")" -ge 1

# A wrong SCRAM password: never ready, its POSTs 503, the log says why.
BAD=$(free_port)
HTTP_ADDR=127.0.0.1:$BAD GW_AUTH=off GW_ACK_TIMEOUT_MS=2000 KAFKA_SASL_PASSWORD=wrong-$KPASS \
    "$bin/ingest-gw" 2>"$T/gw-bad.log" &
PIDS+=($!)
wait_http "http://127.0.0.1:$BAD/healthz"
sleep 3
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$BAD/readyz")
check "a wrong SCRAM password: not ready ($code)" test "$code" = 503
code=$(curl -s -m 15 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    --data '[{"meter_id":"SEC-1","ts":1710511200000,"value":1,"unit":"kW"}]' "http://127.0.0.1:$BAD/v1/readings")
check "a wrong SCRAM password: POST answered 503 ($code)" test "$code" = 503
check "a wrong SCRAM password: the log says authentication failed" \
    grep -qi 'authentication' "$T/gw-bad.log"

for p in $GW $WK $AG $SS $API $BAD; do curl -fs -m 5 "http://127.0.0.1:$p/metrics" >>"$T/metrics.txt"; done
leaks=$(grep -l -e "$KPASS" -e "$PGPASS" "$T"/*.log "$T"/*.err "$T/ctl.out" "$T/metrics.txt" 2>/dev/null |
    xargs -r -n 1 basename)
check "neither password in any log or /metrics${leaks:+ (found in: $leaks)}" test -z "$leaks"
echo "secure: $pass passed, $fail failed"
[ $fail -eq 0 ]
