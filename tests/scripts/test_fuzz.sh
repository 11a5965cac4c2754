#!/bin/sh
# Runs every libFuzzer target for FUZZ_SECONDS (default 10) from its seed
# corpus in tests/fuzz/corpus/. New interesting inputs go to a scratch
# corpus, not the repo. A crash, leak or sanitizer report fails the test.
set -u
cd "${MF_TOP:-.}"
if ! command -v clang >/dev/null 2>&1; then
    echo "skip: clang is not installed (apt-get install clang libclang-rt-14-dev)"
    exit 77
fi
# The build's output goes to a file of our own, removed unless the build fails.
buildlog=$(mktemp /tmp/mf-fuzz-build.XXXXXX.log)
trap 'rm -f "$buildlog"' EXIT
if ! make -s -j2 fuzz-build >"$buildlog" 2>&1; then
    trap - EXIT
    cat "$buildlog"
    echo "fuzz: the build failed; its output is kept in $buildlog"
    echo "fuzz: 0 passed, 1 failed"
    exit 1
fi
secs=${FUZZ_SECONDS:-10}
pass=0; fail=0
for bin in build/fuzz/fuzz_*; do
    name=$(basename "$bin" | sed 's/^fuzz_//')
    seeds=tests/fuzz/corpus/$name
    [ -d "$seeds" ] || seeds=tests/fuzz/corpus/body
    scratch=$(mktemp -d /tmp/mf-fuzz-$name.XXXXXX)
    if "$bin" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$scratch/" "$scratch" "$seeds" >"$scratch/log" 2>&1; then
        pass=$((pass + 1))
        echo "fuzz_$name: $(grep -o 'Done [0-9]* runs' "$scratch/log" | tail -n 1) in ${secs}s"
        rm -rf "$scratch"
    else
        fail=$((fail + 1))
        tail -n 40 "$scratch/log"
        echo "fuzz_$name FAILED: crash input kept in $scratch"
    fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
