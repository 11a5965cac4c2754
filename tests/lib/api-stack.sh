# api-stack.sh: sourced by the analytics-api scripts (tests, bench): a
# throw-away PostgreSQL with the migrations and tests/data/api/fixture.sql,
# a tokens file with one read token, and the daemon on a free port.
#
#   api_stack_start DIR "FIXTURE PSQL VARS" [VAR=value...]
#       sets API_DSN, API_PORT, API_PID, API_URL, API_TOKEN; the daemon's
#       log is DIR/api.log; extra VAR=value go to the daemon's environment.
#       Returns non-zero with a line on stderr when something failed.
#   api_stack_stop DIR      stops the daemon and destroys the PostgreSQL
#   api_stack_init NAME     a private directory $T removed (with the stack)
#                           on exit; fail MSG then prints "NAME: FAILED: MSG"
#                           and the daemon's last log lines, and exits 1
#
# BIN (default $MF_BIN_DIR or build/bin) holds the programs; run from the
# repo's top directory.
API_PID=

api_stack_start() {
    local dir=$1 vars=$2 bin=${MF_BIN_DIR:-build/bin}
    shift 2
    API_DSN=$(tests/lib/pgtmp.sh start "$dir/pg") || { echo "api-stack: PostgreSQL did not start" >&2; return 1; }
    PG_DSN="$API_DSN" "$bin/aggregator" migrate >"$dir/migrate.log" 2>&1 ||
        { echo "api-stack: migrations: $(tail -n 1 "$dir/migrate.log")" >&2; return 1; }
    # shellcheck disable=SC2086  # the fixture's -v options, our own text
    psql -X -q -v ON_ERROR_STOP=1 "$API_DSN" $vars -f tests/data/api/fixture.sql \
        >"$dir/fixture.log" 2>&1 || { echo "api-stack: fixture: $(grep -v NOTICE "$dir/fixture.log" | tail -n 4)" >&2; return 1; }
    API_TOKEN=tok-api-stack
    echo "$(printf %s "$API_TOKEN" | sha256sum | cut -d' ' -f1) api-stack * read" >"$dir/tokens"
    API_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    API_URL=http://127.0.0.1:$API_PORT
    env PG_DSN="$API_DSN" API_ADDR="127.0.0.1:$API_PORT" API_TOKENS_FILE="$dir/tokens" "$@" \
        "$bin/analytics-api" >"$dir/api.log" 2>&1 &
    API_PID=$!
    for _ in $(seq 300); do
        curl -fs "$API_URL/readyz" >/dev/null 2>&1 && return 0
        kill -0 "$API_PID" 2>/dev/null || { echo "api-stack: analytics-api exited at start" >&2; return 1; }
        sleep 0.1
    done
    echo "api-stack: analytics-api not ready in 30 s" >&2
    return 1
}

api_stack_stop() {
    if [ -n "$API_PID" ]; then
        kill -TERM "$API_PID" 2>/dev/null
        wait "$API_PID" 2>/dev/null
        API_PID=
    fi
    tests/lib/pgtmp.sh destroy "$1/pg" >/dev/null 2>&1
}

api_stack_init() {
    API_NAME=$1
    T=$(mktemp -d "/tmp/mf-test-$1.XXXXXX")
    chmod 711 "$T" # PostgreSQL runs as postgres under it when we are root
    trap 'api_stack_stop "$T"; rm -rf "$T"' EXIT
    trap 'exit 130' INT TERM
}

fail() {
    echo "$API_NAME: FAILED: $*"
    [ -f "$T/api.log" ] && tail -n 20 "$T/api.log"
    exit 1
}
