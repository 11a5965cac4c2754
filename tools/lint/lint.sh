#!/bin/bash
# make lint: clang-tidy (.clang-tidy) and cppcheck over the project's own C
# files, each compiled as the Makefile compiles it (tools/compile-db). Prints
# the findings and one summary line; exit 0 only if neither finds anything.
#
# Linted: every .c file the Makefile builds (common, the three programs,
# tools, tests, fuzz targets, benchmarks) and the project headers they
# include; not build/.
#   LINT_JOBS=N    parallel clang-tidy processes (default: the CPU count)
set -uo pipefail
cd "$(dirname "$0")/../.."
top=$PWD
jobs=${LINT_JOBS:-$(nproc)}

for t in clang-tidy cppcheck; do
    command -v "$t" >/dev/null 2>&1 ||
        { echo "lint: $t not found; install it: apt-get install -y $t (or: make deps)" >&2; exit 1; }
done
db=$(tools/compile-db) || exit 1
mkdir -p build/lint
# The linted subset of the compile database, for both tools.
python3 - "$db" build/lint/compile_commands.json <<'EOF' || exit 1
import json, sys
entries = json.load(open(sys.argv[1]))
json.dump(entries, open(sys.argv[2], "w"), indent=1)
print(len(entries), "files", file=sys.stderr)
EOF
files=$(python3 -c 'import json,sys; print("\n".join(e["file"] for e in json.load(open(sys.argv[1]))))' \
        build/lint/compile_commands.json)

rc=0
start=$(date +%s)
# One clang-tidy per file, $jobs at a time; only findings reach the log.
printf '%s\n' $files | xargs -P "$jobs" -n 1 clang-tidy -p build/lint --quiet \
    --extra-arg=-include --extra-arg="$top/tools/lint/cmocka-noreturn.h" \
    >build/lint/clang-tidy.log 2>build/lint/clang-tidy.err
tidy_rc=$?
tidy_s=$(( $(date +%s) - start ))
tidy_n=$(grep -cE '^[^ ].*:[0-9]+:[0-9]+: (warning|error):' build/lint/clang-tidy.log)
if [ "$tidy_rc" -ne 0 ] || [ "$tidy_n" -ne 0 ]; then
    cat build/lint/clang-tidy.log
    grep -v 'warnings\? generated\|^Suppressed\|^Use -header-filter\|NOLINT' build/lint/clang-tidy.err >&2
    rc=1
fi

# cppcheck: warning, portability and performance classes. Suppressed, each
# with its reason:
#  uselessAssignmentPtrArg: `conf = NULL; /* rk owns it */` on a parameter is
#    rule 9's way of saying ownership moved, not a forgotten dereference.
#  missingIncludeSystem: system headers are not cppcheck's to parse.
start=$(date +%s)
cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
    --library=posix --inline-suppr -j "$jobs" \
    --suppress=missingIncludeSystem --suppress=uselessAssignmentPtrArg \
    --project=build/lint/compile_commands.json >build/lint/cppcheck.log 2>&1
cpp_rc=$?
cpp_s=$(( $(date +%s) - start ))
cpp_n=$(grep -cE '^[^ ].*:[0-9]+:[0-9]+: ' build/lint/cppcheck.log)
if [ "$cpp_rc" -ne 0 ]; then
    cat build/lint/cppcheck.log
    rc=1
fi
echo "lint: $(printf '%s\n' $files | wc -l) files; clang-tidy $(clang-tidy --version | sed -n 's/.*LLVM version \([0-9.]*\).*/\1/p'): $tidy_n findings (${tidy_s} s); cppcheck $(cppcheck --version | cut -d' ' -f2): $cpp_n findings (${cpp_s} s)"
exit $rc
