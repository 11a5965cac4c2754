#!/bin/bash
# test_gw_tls.sh: ingest-gw over HTTPS (issue 17). A throw-away CA signs a
# certificate for 127.0.0.1; the gateway serves HTTPS with it
# (GW_TLS_CERT_FILE, GW_TLS_KEY_FILE, libmicrohttpd with GnuTLS): a client
# trusting the CA gets /healthz, /metrics and its POST answered (401 without
# a token, 503 with Retry-After with no broker, the whole request over TLS);
# a client that does not trust it is refused by its own verification; plain
# HTTP to the port gets no answer; a certificate without its key, a key file
# that is not a key, a missing file, and a key of another certificate each
# fail at start with one line naming the variable. Prints "tls: N passed,
# M failed"; 77 without openssl or curl.
set -u
cd "$(dirname "$0")/../.."
bin=${MF_BIN_DIR:-build/bin}
for t in openssl curl; do
    command -v $t >/dev/null 2>&1 || { echo "tls: skipped: $t absent"; exit 77; }
done
T=$(mktemp -d /tmp/mf-test-tls.XXXXXX)
GW=
cleanup() { [ -n "$GW" ] && kill "$GW" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
pass=0 fail=0
check() { # check NAME CMD...
    local name=$1
    shift
    if "$@"; then pass=$((pass + 1)); echo "  ok    $name"; else fail=$((fail + 1)); echo "  FAIL  $name"; fi
}

# The CA and a server certificate it signs, for IP 127.0.0.1.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/ca.key" -out "$T/ca.pem" -days 2 \
    -subj /CN=meterflow-test-ca 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$T/gw.key" -out "$T/gw.csr" -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$T/ext"
openssl x509 -req -in "$T/gw.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
    -out "$T/gw.pem" -days 2 -extfile "$T/ext" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/other.key" -out "$T/other.pem" -days 2 \
    -subj /CN=other 2>/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf '%s tls-client *\n' "$(printf %s secret-tls-token | sha256sum | cut -d' ' -f1)" >"$T/tokens"
KAFKA_BROKERS=127.0.0.1:1 HTTP_ADDR=127.0.0.1:$port GW_TOKENS_FILE="$T/tokens" \
    GW_ACK_TIMEOUT_MS=1000 GW_TLS_CERT_FILE="$T/gw.pem" GW_TLS_KEY_FILE="$T/gw.key" \
    "$bin/ingest-gw" 2>"$T/gw.log" &
GW=$!
url=https://127.0.0.1:$port
up=1
for _ in $(seq 100); do
    curl -fs --cacert "$T/ca.pem" "$url/healthz" >/dev/null 2>&1 && { up=0; break; }
    sleep 0.1
done
check "HTTPS /healthz with the CA" test $up -eq 0
check "HTTPS /metrics" sh -c "curl -fs --cacert '$T/ca.pem' '$url/metrics' | grep -q meterflow_gw_requests_total"
check "the log says HTTPS" grep -q 'HTTPS' "$T/gw.log"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/ca.pem" -H 'Content-Type: application/json' \
    -d '{"meter_id":"T-1","ts":0,"value":1}' "$url/v1/readings")
check "POST without a token over TLS: 401 ($code)" test "$code" = 401
code=$(curl -s -D "$T/h" -o "$T/b" -w '%{http_code}' --cacert "$T/ca.pem" \
    -H 'Authorization: Bearer secret-tls-token' -H 'Content-Type: application/json' \
    -d '{"meter_id":"T-1","ts":0,"value":1}' "$url/v1/readings")
check "POST with the token, no broker: 503 + Retry-After over TLS ($code)" \
    sh -c "test '$code' = 503 && grep -qi '^retry-after:' '$T/h'"
curl -s -o /dev/null "$url/healthz" 2>/dev/null
check "a client without the CA refuses the certificate (curl exit $?)" test $? -eq 60
curl -s -m 5 -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null
rc=$?
check "plain HTTP to the HTTPS port gets no answer (curl exit $rc)" test $rc -ne 0
kill "$GW" && wait "$GW" 2>/dev/null
GW=

# Bad settings: one line naming the variable, exit 2 (or 1 once the pair is refused by GnuTLS).
bad() { # bad WANT ENV...: the program's stderr must contain WANT
    local want=$1
    shift
    env KAFKA_BROKERS=127.0.0.1:1 HTTP_ADDR=127.0.0.1:0 GW_AUTH=off "$@" timeout 10 "$bin/ingest-gw" \
        >/dev/null 2>"$T/err"
    local rc=$?
    grep -q -- "$want" "$T/err" && [ $rc -ne 0 ] && [ $rc -ne 124 ]
}
check "a certificate without its key" bad "missing GW_TLS_KEY_FILE" GW_TLS_CERT_FILE="$T/gw.pem"
check "a key without its certificate" bad "missing GW_TLS_CERT_FILE" GW_TLS_KEY_FILE="$T/gw.key"
check "a key file that holds no key" bad "invalid GW_TLS_KEY_FILE" \
    GW_TLS_CERT_FILE="$T/gw.pem" GW_TLS_KEY_FILE="$T/gw.pem"
check "a missing certificate file" bad "invalid GW_TLS_CERT_FILE '$T/none'" \
    GW_TLS_CERT_FILE="$T/none" GW_TLS_KEY_FILE="$T/gw.key"
check "the key of another certificate" bad "cannot start the HTTPS server" \
    GW_TLS_CERT_FILE="$T/gw.pem" GW_TLS_KEY_FILE="$T/other.key"
check "no key material in the log" sh -c "! grep -q 'PRIVATE KEY' '$T/gw.log' '$T/err'"

echo "tls: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
