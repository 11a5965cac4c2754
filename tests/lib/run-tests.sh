#!/bin/bash
# Runs every test of the suite, each in its own process with a timeout,
# MF_TEST_JOBS at a time (default 3: the integration tests mostly wait on
# brokers and timers, not on the CPU), and prints one closing line:
# "tests: N passed, M failed, K skipped".
#
#   run-tests.sh BINDIR TESTDIR [FILTER]
#
# Tests are the compiled binaries in TESTDIR (cmocka unit tests, then
# integration and fault tests) and the scripts tests/scripts/test_*.{sh,py}.
# With MF_SANITIZED=1 (make check) the scripts that exercise no C code of
# ours under the sanitizers (SQL, schemas, deploy manifests; the fuzzers are
# sanitized builds already) are left to the release run.
# A test passes with exit 0, is skipped with exit 77, fails otherwise; the
# output of a failing test is shown, of a passing one only its last line.
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
if [ "${MF_SANITIZED:-0}" != 1 ]; then
    for t in tests/scripts/test_*.sh tests/scripts/test_*.py; do
        [ -x "$t" ] && tests+=("$t")
    done
fi

# One test: runs it, writes "<status> <name> <secs>" to its .result file.
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
    echo "$status $name $secs $rc" >"$LOGDIR/$name.result"
}

report() {
    local name=$1 status secs rc
    read -r status _ secs rc <"$LOGDIR/$name.result"
    if [ "$status" = FAIL ]; then
        printf '  FAIL  %-32s %3ss  exit %s\n' "$name" "$secs" "$rc"
        sed 's/^/      | /' "$LOGDIR/$name.log" | tail -n 60
    else
        printf '  %s  %-32s %3ss  %s\n' "$status" "$name" "$secs" \
            "$(tail -n 1 "$LOGDIR/$name.log" | cut -c1-80)"
    fi
}

running=0
for t in "${tests[@]}"; do
    case "$(basename "$t")" in *"$FILTER"*) ;; *) continue ;; esac
    if [ "$running" -ge "$JOBS" ]; then
        wait -n
        running=$((running - 1))
    fi
    run_one "$t" &
    running=$((running + 1))
done
wait

pass=0; fail=0; skip=0; failed=""
for r in "$LOGDIR"/*.result; do
    [ -e "$r" ] || continue
    name=$(basename "$r" .result)
    report "$name"
    case "$(cut -d' ' -f1 "$r")" in
        PASS) pass=$((pass + 1)) ;;
        SKIP) skip=$((skip + 1)) ;;
        *) fail=$((fail + 1)); failed="$failed $name" ;;
    esac
done

echo
[ -n "$failed" ] && echo "failed:$failed (logs in $LOGDIR)"
echo "tests: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ] || exit 1
rm -rf "$LOGDIR"
