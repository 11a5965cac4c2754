# check.sh: sourced by the end-to-end test scripts (demo, local-stack, S3
# archive, TLS, secure stack) for their one pass/fail protocol.
#   check NAME CMD...   runs CMD; prints "  ok    NAME" or "  FAIL  NAME" and
#                       counts it in $pass or $fail (the caller sets both to 0
#                       and prints the total)
check() {
    local name=$1
    shift
    if "$@"; then
        pass=$((pass + 1))
        echo "  ok    $name"
    else
        fail=$((fail + 1))
        echo "  FAIL  $name"
    fi
}
