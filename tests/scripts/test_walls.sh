#!/bin/bash
# The walls the build enforces (docs/architecture.md): a program's objects
# see their own headers and common's, never another program's; common sees
# no program. For each directory, a probe that includes one of its own
# headers must compile with the directory's include flags (as the Makefile
# gives them), and a probe that includes another program's header must not.
# Prints "walls: N passed, M failed".
set -u
cd "$(dirname "$0")/../.."
pass=0; fail=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
declare -A own=([common]=mf_buf.h [ingest-gw]=gw_auth.h [stream-worker]=wk_rules.h
                [aggregator]=agg_window.h [tools]=sim_rng.h
                [analytics-api]=api_params.h [source-sink]=ss_batch.h
                [meterctl]=ctl_rows.h)
programs=(ingest-gw stream-worker aggregator tools analytics-api source-sink meterctl)
probe() { # dir header -> 0 if it compiles
    printf '#include "%s"\nint mf_walls_probe(void);\nint mf_walls_probe(void) { return 0; }\n' "$2" >"$tmp/p.c"
    # shellcheck disable=SC2046
    ${CC:-cc} -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I/usr/include/postgresql \
        $(make -s --no-print-directory print-incs D="$1") -fsyntax-only "$tmp/p.c" 2>"$tmp/err"
}
check() { if [ "$1" = ok ]; then pass=$((pass + 1)); echo "ok   $2"; else fail=$((fail + 1)); echo "FAIL $2"; fi; }
for d in "${!own[@]}"; do
    [ -n "$(make -s --no-print-directory print-incs D="$d")" ] || { check bad "$d has include flags"; continue; }
    if probe "$d" "${own[$d]}"; then check ok "$d includes its own ${own[$d]}"
    else check bad "$d includes its own ${own[$d]}: $(head -1 "$tmp/err")"; fi
    for p in "${programs[@]}"; do
        [ "$p" = "$d" ] && continue
        if probe "$d" "${own[$p]}"; then check bad "$d must not see $p's ${own[$p]}, yet it compiles"
        else check ok "$d cannot include $p's ${own[$p]}"; fi
    done
done
echo "walls: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
