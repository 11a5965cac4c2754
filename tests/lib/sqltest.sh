# sqltest.sh: sourced by the SQL test scripts that need a throw-away
# PostgreSQL with every migration applied and the ok / not ok protocol.
#   sqltest_start NAME   skips (77) without PostgreSQL's server binaries,
#                        else starts one (DSN), applies schemas/sql in order
#   pass NAME / fail NAME [DETAIL...] / finish: the protocol ("ok - NAME",
#     "not ok - NAME" with the details, "NAME: N passed, M failed", exit 0/1)
#   q SQL: one query (or several as one string), unaligned, tuples only
#   same NAME WANT GOT: GOT must equal WANT
#   expect NAME WANT SQL: the query's output must equal WANT exactly
# The cluster is destroyed on exit.

SQLTEST_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
PASSED=0
FAILED=0
WORK=
SQLTEST_NAME=sql

sqltest_cleanup() {
    if [ -n "$WORK" ]; then
        "$SQLTEST_ROOT/tests/lib/pgtmp.sh" destroy "$WORK/pg" >/dev/null 2>&1
        rm -rf "$WORK"
    fi
}

pass() {
    PASSED=$((PASSED + 1))
    echo "ok - $1"
}
fail() {
    FAILED=$((FAILED + 1))
    echo "not ok - $1"
    shift
    [ $# -eq 0 ] || printf '%s\n' "$@" | sed 's/^/#   /'
}
finish() {
    echo "$SQLTEST_NAME: $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ] && exit 0
    exit 1
}
q() {
    "$PSQL" "$DSN" -X -A -t -q -v ON_ERROR_STOP=1 -c "$1"
}
same() {
    if [ "$3" = "$2" ]; then
        pass "$1"
    else
        fail "$1" "want: $2" "got:  $3"
    fi
}
expect() {
    same "$1" "$2" "$(q "$3" 2>&1)"
}

sqltest_start() {
    SQLTEST_NAME=$1
    local initdb f
    initdb=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$initdb" ]; then
        echo "$SQLTEST_NAME: skipped: PostgreSQL server binaries absent (apt-get install postgresql)"
        exit 77
    fi
    PSQL=${initdb%/initdb}/psql
    trap sqltest_cleanup EXIT
    trap 'exit 130' INT TERM
    WORK=$(mktemp -d "/tmp/$SQLTEST_NAME.XXXXXX")
    chmod 755 "$WORK"
    if ! DSN=$("$SQLTEST_ROOT/tests/lib/pgtmp.sh" start "$WORK/pg" 2>"$WORK/pgtmp.err"); then
        fail "a throw-away PostgreSQL starts" "$(cat "$WORK/pgtmp.err")"
        finish
    fi
    for f in "$SQLTEST_ROOT"/schemas/sql/[0-9][0-9][0-9]_*.sql; do
        if ! "$PSQL" "$DSN" -X -q -1 -v ON_ERROR_STOP=1 -f "$f" >/dev/null 2>"$WORK/mig.err"; then
            fail "migration ${f##*/} applies" "$(cat "$WORK/mig.err")"
            finish
        fi
    done
}
