#!/bin/sh
# Runs every test of the suite, each in its own process with a timeout,
# and prints one closing line: "tests: N passed, M failed, K skipped".
#
#   run-tests.sh BINDIR TESTDIR [FILTER]
#
# Tests are the compiled binaries in TESTDIR (cmocka unit tests, then
# integration and fault tests) and the scripts tests/scripts/test_*.{sh,py}.
# A test passes with exit 0, is skipped with exit 77, fails otherwise.
# Output of a failing test is shown; of a passing one, only its last line.
set -u
BINDIR=$1
TESTDIR=$2
FILTER=${3:-}
export MF_BIN_DIR="$(cd "$BINDIR" && pwd)"
export MF_TOP="$(pwd)"
TIMEOUT=${MF_TEST_TIMEOUT:-300}
LOGDIR=$(mktemp -d /tmp/mf-tests.XXXXXX)
# Programs started by tests log to files here, not into the test output.
export MF_TEST_LOGDIR="$LOGDIR/programs"
mkdir -p "$MF_TEST_LOGDIR"
pass=0; fail=0; skip=0; failed=""

run_one() {
    name=$1; shift
    case "$name" in *"$FILTER"*) ;; *) return ;; esac
    log="$LOGDIR/$name.log"
    start=$(date +%s)
    timeout -k 10 "$TIMEOUT" "$@" >"$log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    if [ $rc -eq 0 ]; then
        pass=$((pass + 1))
        printf '  PASS  %-32s %3ss  %s\n' "$name" "$secs" "$(tail -n 1 "$log" | cut -c1-80)"
    elif [ $rc -eq 77 ]; then
        skip=$((skip + 1))
        printf '  SKIP  %-32s %3ss  %s\n' "$name" "$secs" "$(tail -n 1 "$log" | cut -c1-80)"
    else
        fail=$((fail + 1)); failed="$failed $name"
        [ $rc -eq 124 ] && echo "(timed out after ${TIMEOUT}s)" >>"$log"
        printf '  FAIL  %-32s %3ss  exit %s\n' "$name" "$secs" "$rc"
        sed 's/^/      | /' "$log" | tail -n 60
    fi
}

for kind in test_ it_ ft_; do
    for t in "$TESTDIR"/${kind}*; do
        [ -x "$t" ] || continue
        run_one "$(basename "$t")" "$t"
    done
done
for t in tests/scripts/test_*.sh tests/scripts/test_*.py; do
    [ -x "$t" ] || continue
    run_one "$(basename "$t")" "$t"
done

echo
[ -n "$failed" ] && echo "failed:$failed (logs in $LOGDIR)"
echo "tests: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ] || exit 1
rm -rf "$LOGDIR"
