#!/bin/bash
# test_gw_tls.sh: ingest-gw and analytics-api over HTTPS (issue 17). A
# throw-away CA signs a certificate for 127.0.0.1; each program serves HTTPS
# with it (GW_TLS_CERT_FILE/GW_TLS_KEY_FILE, API_TLS_CERT_FILE/
# API_TLS_KEY_FILE; libmicrohttpd with GnuTLS): a client trusting the CA
# gets /healthz, /metrics and a request of its API answered (the gateway's
# POST: 401 without a token, 503 with Retry-After with no broker; the API's
# GET: 401 without a token), a client that does not trust it is refused by
# its own verification; plain HTTP to the port gets no answer. SIGHUP puts
# a renewed certificate (signed by a second CA) in force without a restart,
# and a broken pair sent by SIGHUP is refused with the renewed one staying
# in force. analytics-api's SIGHUP reloads API_TOKENS_FILE too: a removed
# token gets 401, a broken file keeps the tokens in force. A certificate
# without its key, a key file that is not a key, a missing file, and a key
# of another certificate each fail at start with one line naming the
# variable. Prints "tls: N passed, M failed"; 77
# without openssl or curl.
set -u
cd "$(dirname "$0")/../.."
bin=${MF_BIN_DIR:-build/bin}
for t in openssl curl; do
    command -v $t >/dev/null 2>&1 || { echo "tls: skipped: $t absent"; exit 77; }
done
T=$(mktemp -d /tmp/mf-test-tls.XXXXXX)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
pass=0 fail=0
. tests/lib/check.sh

# Two CAs, each signing a server certificate for IP 127.0.0.1 (srv1 by ca1,
# srv2 by ca2: the renewal), and a self-signed certificate of another key.
printf 'subjectAltName=IP:127.0.0.1\n' >"$T/ext"
for n in 1 2; do
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/ca$n.key" -out "$T/ca$n.pem" -days 2 \
        -subj "/CN=meterflow-test-ca-$n" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout "$T/srv$n.key" -out "$T/srv$n.csr" -subj /CN=127.0.0.1 2>/dev/null
    openssl x509 -req -in "$T/srv$n.csr" -CA "$T/ca$n.pem" -CAkey "$T/ca$n.key" -CAcreateserial \
        -out "$T/srv$n.pem" -days 2 -extfile "$T/ext" 2>/dev/null
done
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/other.key" -out "$T/other.pem" -days 2 \
    -subj /CN=other 2>/dev/null
# token_line NAME TOKEN SCOPES: a tokens-file line for TOKEN, every meter.
token_line() { printf '%s %s * %s\n' "$(printf %s "$2" | sha256sum | cut -d' ' -f1)" "$1" "$3"; }
token_line tls-client secret-tls-token readings,read >"$T/tokens"

# Waits until CMD succeeds (10 s at most); its status.
until_ok() {
    for _ in $(seq 100); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

# The status of a GET of a meter's status with token $2 (no PostgreSQL: 503
# when the token is let in, 401 when not).
api_get() {
    curl -s -o /dev/null -w '%{http_code}' --cacert "$T/ca2.pem" \
        -H "Authorization: Bearer $2" "$1/v1/meters/T-1/status"
}
# analytics-api's API_TOKENS_FILE on SIGHUP (the gateway's: it_gw_tokens):
# a removed token is refused, a new one let in; a broken file keeps them.
api_token_reload() {
    local url=$1 code
    code=$(api_get "$url" secret-tls-token)
    check "the API lets the token in before the reload ($code)" test "$code" != 401
    token_line api-2 secret-api-2 read >"$T/tokens"
    kill -HUP "$PID"
    check "SIGHUP: the removed token gets 401" until_ok sh -c "test \$(curl -s -o /dev/null \
        -w '%{http_code}' --cacert '$T/ca2.pem' -H 'Authorization: Bearer secret-tls-token' \
        '$url/v1/meters/T-1/status') = 401"
    code=$(api_get "$url" secret-api-2)
    check "SIGHUP: the new token is let in ($code)" test "$code" != 401
    check "SIGHUP: the log says 1 token reloaded" grep -q '1 tokens reloaded from API_TOKENS_FILE' \
        "$T/$prog.log"
    echo 'not a tokens line' >"$T/tokens"
    kill -HUP "$PID"
    check "SIGHUP with a broken tokens file: refused, logged" \
        until_ok grep -q 'tokens not reloaded, the old ones stay in force' "$T/$prog.log"
    code=$(api_get "$url" secret-api-2)
    check "SIGHUP refused: the token in force still let in ($code)" test "$code" != 401
    token_line tls-client secret-tls-token readings,read >"$T/tokens" # for the checks below
}

# suite NAME PREFIX ADDR_VAR PROGRAM-ENV...: the checks above for one program.
suite() {
    local prog=$1 pfx=$2 addrvar=$3
    shift 3
    echo "$prog:"
    local port url
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    url=https://127.0.0.1:$port
    cp "$T/srv1.pem" "$T/cert.pem"
    cp "$T/srv1.key" "$T/key.pem"
    env "$@" "$addrvar=127.0.0.1:$port" "${pfx}_TLS_CERT_FILE=$T/cert.pem" \
        "${pfx}_TLS_KEY_FILE=$T/key.pem" "$bin/$prog" 2>"$T/$prog.log" &
    PID=$!
    check "HTTPS /healthz with the CA" until_ok curl -fs --cacert "$T/ca1.pem" "$url/healthz" -o /dev/null
    check "HTTPS /metrics" sh -c "curl -fs --cacert '$T/ca1.pem' '$url/metrics' | grep -q meterflow_"
    check "the log says HTTPS" grep -q 'HTTPS' "$T/$prog.log"
    local code
    if [ "$prog" = ingest-gw ]; then
        code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/ca1.pem" -H 'Content-Type: application/json' \
            -d '{"meter_id":"T-1","ts":0,"value":1}' "$url/v1/readings")
        check "POST without a token over TLS: 401 ($code)" test "$code" = 401
        code=$(curl -s -D "$T/h" -o "$T/b" -w '%{http_code}' --cacert "$T/ca1.pem" \
            -H 'Authorization: Bearer secret-tls-token' -H 'Content-Type: application/json' \
            -d '{"meter_id":"T-1","ts":0,"value":1}' "$url/v1/readings")
        check "POST with the token, no broker: 503 + Retry-After over TLS ($code)" \
            sh -c "test '$code' = 503 && grep -qi '^retry-after:' '$T/h'"
    else
        code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/ca1.pem" "$url/v1/fleet/load")
        check "GET without a token over TLS: 401 ($code)" test "$code" = 401
        code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/ca1.pem" "$url/")
        check "the page over TLS: 200 ($code)" test "$code" = 200
    fi
    curl -s -o /dev/null "$url/healthz" 2>/dev/null
    check "a client without the CA refuses the certificate (curl exit $?)" test $? -eq 60
    curl -s -m 5 -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null
    local rc=$?
    check "plain HTTP to the HTTPS port gets no answer (curl exit $rc)" test $rc -ne 0

    # Renewal: the second CA's certificate in the same files, then SIGHUP.
    cp "$T/srv2.pem" "$T/cert.pem"
    cp "$T/srv2.key" "$T/key.pem"
    kill -HUP "$PID"
    check "SIGHUP: the renewed certificate is served" \
        until_ok curl -fs --cacert "$T/ca2.pem" "$url/healthz" -o /dev/null
    curl -s -o /dev/null --cacert "$T/ca1.pem" "$url/healthz" 2>/dev/null
    check "SIGHUP: the old certificate is not (curl exit $?)" test $? -eq 60
    check "SIGHUP: the log says reloaded" grep -q 'certificate and key reloaded' "$T/$prog.log"
    # A broken renewal: the key of another certificate.
    cp "$T/other.key" "$T/key.pem"
    kill -HUP "$PID"
    check "SIGHUP with a key of another certificate: refused, logged" \
        until_ok grep -q "not reloaded.*not the key of the certificate in ${pfx}_TLS_CERT_FILE" "$T/$prog.log"
    check "SIGHUP refused: the renewed certificate still served" \
        curl -fs --cacert "$T/ca2.pem" "$url/healthz" -o /dev/null
    check "still running" kill -0 "$PID"
    [ "$prog" = analytics-api ] && api_token_reload "$url"
    kill "$PID" && wait "$PID" 2>/dev/null
    PID=

    # Bad settings: one line naming the variable, exit 2.
    bad() { # bad WANT ENV...: the program's stderr must contain WANT
        local want=$1
        shift
        env "$@" timeout 10 "$bin/$prog" >/dev/null 2>"$T/err"
        local rc=$?
        grep -q -- "$want" "$T/err" && [ $rc -eq 2 ]
    }
    local env0=("$@" "$addrvar=127.0.0.1:0")
    check "a certificate without its key" bad "missing ${pfx}_TLS_KEY_FILE" "${env0[@]}" \
        "${pfx}_TLS_CERT_FILE=$T/srv1.pem"
    check "a key without its certificate" bad "missing ${pfx}_TLS_CERT_FILE" "${env0[@]}" \
        "${pfx}_TLS_KEY_FILE=$T/srv1.key"
    check "a key file that holds no key" bad "invalid ${pfx}_TLS_KEY_FILE" "${env0[@]}" \
        "${pfx}_TLS_CERT_FILE=$T/srv1.pem" "${pfx}_TLS_KEY_FILE=$T/srv1.pem"
    check "a missing certificate file" bad "invalid ${pfx}_TLS_CERT_FILE '$T/none'" "${env0[@]}" \
        "${pfx}_TLS_CERT_FILE=$T/none" "${pfx}_TLS_KEY_FILE=$T/srv1.key"
    check "the key of another certificate" bad "invalid ${pfx}_TLS_KEY_FILE: not the key of the certificate in ${pfx}_TLS_CERT_FILE" \
        "${env0[@]}" "${pfx}_TLS_CERT_FILE=$T/srv1.pem" "${pfx}_TLS_KEY_FILE=$T/other.key"
    check "no key material in the log" sh -c "! grep -q 'PRIVATE KEY' '$T/$prog.log' '$T/err'"
}

suite ingest-gw GW HTTP_ADDR KAFKA_BROKERS=127.0.0.1:1 GW_TOKENS_FILE="$T/tokens" GW_ACK_TIMEOUT_MS=1000
# PostgreSQL is not needed to serve /healthz, the page or a 401.
suite analytics-api API API_ADDR PG_DSN="host=127.0.0.1 port=1 dbname=none" API_TOKENS_FILE="$T/tokens"

echo "tls: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
