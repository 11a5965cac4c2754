#!/bin/bash
# Runs every test of the suite, each in its own process with a timeout,
# MF_TEST_JOBS at a time (default 3: the integration tests mostly wait on
# brokers and timers, not on the CPU).
#
#   run-tests.sh BINDIR TESTDIR [FILTER]
#
# Tests are the compiled binaries in TESTDIR (cmocka unit tests, then
# integration and fault tests) and the scripts tests/scripts/test_*.{sh,py}.
# With MF_SANITIZED=1 (make check) the scripts are left to the release run,
# and the runner says so: they check SQL, schemas, deploy manifests, docs
# and the build's include walls (no C code of ours runs), build their own
# sanitized fuzzers, or drive the programs end to end (demo, local-stack,
# S3 archive) as the integration tests already do here.
# A test passes with exit 0, is skipped with exit 77, fails otherwise.
#
# Output: first how many tests will run and where their logs go; then one
# line per test as soon as it finishes (status, seconds, its last output
# line, never cut); at the end the same lines sorted by name, the last 60
# lines of each failing test's output, and the closing line
# "tests: N passed, M failed, K skipped". The logs are removed when every
# test passed, unless MF_KEEP_LOGS=1.
set -u
BINDIR=$1
TESTDIR=$2
FILTER=${3:-}
JOBS=${MF_TEST_JOBS:-3}
export MF_BIN_DIR="$(cd "$BINDIR" && pwd)"
export MF_TOP="$(pwd)"
TIMEOUT=${MF_TEST_TIMEOUT:-300}
LOGDIR=$(mktemp -d /tmp/mf-tests.XXXXXX)
# Programs started by tests log to files here, not into the test output.
export MF_TEST_LOGDIR="$LOGDIR/programs"
mkdir -p "$MF_TEST_LOGDIR"

tests=()
for kind in test_ it_ ft_; do
    for t in "$TESTDIR"/${kind}*; do
        [ -x "$t" ] && tests+=("$t")
    done
done
scripts=()
for t in tests/scripts/test_*.sh tests/scripts/test_*.py; do
    [ -x "$t" ] && scripts+=("$t")
done
if [ "${MF_SANITIZED:-0}" = 1 ]; then
    left=""
    for t in "${scripts[@]}"; do
        case "$(basename "$t")" in *"$FILTER"*) left="$left $(basename "$t")" ;; esac
    done
    [ -n "$left" ] && echo "under ASan+UBSan: the scripts are left to the release run:$left" \
        "(SQL, schemas, manifests, docs and the build's include walls run no C code of ours;" \
        "the fuzzers are sanitized builds of their own; the end-to-end scripts (demo," \
        "local-stack, S3 archive) drive the programs the integration tests run sanitized here)"
else
    tests+=("${scripts[@]}")
fi
selected=()
for t in "${tests[@]}"; do
    case "$(basename "$t")" in *"$FILTER"*) selected+=("$t") ;; esac
done
total=${#selected[@]}
echo "tests: ${total} to run${FILTER:+ (matching '$FILTER')}, $JOBS at a time," \
    "each within ${TIMEOUT}s; logs in $LOGDIR/" \
    "(removed if all pass, unless MF_KEEP_LOGS=1)"

# One test: runs it, writes "<status> <name> <secs> <exit>" to its .result
# file (through a temporary name, so a .result file is always whole).
run_one() {
    local t=$1 name log start rc secs status
    name=$(basename "$t")
    log="$LOGDIR/$name.log"
    start=$(date +%s)
    timeout -k 10 "$TIMEOUT" "$t" >"$log" 2>&1 </dev/null
    rc=$?
    secs=$(( $(date +%s) - start ))
    case $rc in
        0) status=PASS ;;
        77) status=SKIP ;;
        124) status=FAIL; echo "(timed out after ${TIMEOUT}s)" >>"$log" ;;
        *) status=FAIL ;;
    esac
    echo "$status $name $secs $rc" >"$LOGDIR/$name.tmp"
    mv "$LOGDIR/$name.tmp" "$LOGDIR/$name.result"
}

# One line for a test: status, name, seconds, then its last output line
# (whole) or, for a failure, its exit status and where its log is.
line() {
    local name=$1 status secs rc
    read -r status _ secs rc <"$LOGDIR/$name.result"
    if [ "$status" = FAIL ]; then
        printf '  FAIL  %-32s %4ss  exit %s, log %s\n' "$name" "$secs" "$rc" "$LOGDIR/$name.log"
    else
        printf '  %s  %-32s %4ss  %s\n' "$status" "$name" "$secs" \
            "$(tail -n 1 "$LOGDIR/$name.log")"
    fi
}

# Prints the line of every test finished since the last call, as [k/N].
declare -A shown=()
done_n=0
show_finished() {
    local r name
    for r in "$LOGDIR"/*.result; do
        [ -e "$r" ] || continue
        name=$(basename "$r" .result)
        [ -n "${shown[$name]:-}" ] && continue
        shown[$name]=1
        done_n=$((done_n + 1))
        printf '[%*d/%d]%s\n' ${#total} "$done_n" "$total" "$(line "$name")"
    done
}

running=0
for t in "${selected[@]}"; do
    if [ "$running" -ge "$JOBS" ]; then
        wait -n
        running=$((running - 1))
        show_finished
    fi
    run_one "$t" &
    running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
    wait -n
    running=$((running - 1))
    show_finished
done
wait
show_finished

echo
echo "summary (sorted by name):"
pass=0; fail=0; skip=0; failed=""
for r in "$LOGDIR"/*.result; do
    [ -e "$r" ] || continue
    name=$(basename "$r" .result)
    line "$name"
    case "$(cut -d' ' -f1 "$r")" in
        PASS) pass=$((pass + 1)) ;;
        SKIP) skip=$((skip + 1)) ;;
        *) fail=$((fail + 1)); failed="$failed $name" ;;
    esac
done
for name in $failed; do
    echo
    echo "  FAIL  $name: the last 60 lines of its output"
    tail -n 60 "$LOGDIR/$name.log" | sed 's/^/      | /'
done

echo
if [ -n "$failed" ]; then
    echo "failed:$failed (logs in $LOGDIR)"
elif [ "${MF_KEEP_LOGS:-0}" = 1 ]; then
    echo "logs kept in $LOGDIR"
else
    rm -rf "$LOGDIR"
fi
echo "tests: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
