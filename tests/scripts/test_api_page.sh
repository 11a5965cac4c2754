#!/bin/bash
# test_api_page.sh: analytics-api's page at / drawn in a real browser.
#
# Starts the daemon over a throw-away PostgreSQL filled by
# tests/data/api/fixture.sql, opens http://.../#token=... in headless
# Chromium (Debian's chromium, make deps) and reads the page's DOM after
# its scripts ran: every chart canvas must say it drew points
# (data-drawn > 0) and painted pixels (data-ink > 0), from the API's own
# answers through Chart.js as Debian installed it (/chart.js); the fleet
# status line must name the meters reporting. With API_PAGE_SCREENSHOT=FILE
# it also saves a screenshot there. Prints "api-page: ..." last; exit 0/1;
# 77 (skip) without PostgreSQL's server binaries or Chromium.
set -u
cd "$(dirname "$0")/../.."

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "api-page: skipped: PostgreSQL server binaries absent (apt-get install postgresql)"
    exit 77
fi
CHROMIUM=$(command -v chromium || true)
if [ -z "$CHROMIUM" ]; then
    echo "api-page: skipped: chromium absent (apt-get install chromium, or make deps)"
    exit 77
fi

. tests/lib/api-stack.sh
api_stack_init api-page

api_stack_start "$T" "-v meters=30 -v regions=3 -v meters_1h=30 -v days_1h=8 -v meters_1m=2 -v days_1m=1 -v feeders=3 -v vehicles=5" ||
    fail "the stack did not start"

# Headless Chromium: virtual time lets the page's fetches and drawing finish
# before the DOM is dumped; its own profile in $T, no sandbox (root in CI).
chrome() {
    timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
        --no-first-run --user-data-dir="$T/profile" --hide-scrollbars --window-size=1120,1500 \
        --virtual-time-budget=15000 "$@" "$API_URL/#token=$API_TOKEN" 2>>"$T/chromium.log"
}
chrome --dump-dom >"$T/dom.html" || fail "chromium failed: $(tail -n 3 "$T/chromium.log")"
grep -q 'data-ready="1"' "$T/dom.html" || fail "the page's script did not finish: $(grep -o '<div id="status"[^<]*' "$T/dom.html")"

bad=0
for id in load_1h load_1d quality meter_1h feeder_1h vehicles_eff peaks; do
    tag=$(grep -o "<canvas id=\"$id\"[^>]*>" "$T/dom.html")
    drawn=$(echo "$tag" | sed -n 's/.*data-drawn="\([0-9]*\)".*/\1/p')
    ink=$(echo "$tag" | sed -n 's/.*data-ink="\([0-9]*\)".*/\1/p')
    if [ "${drawn:-0}" -gt 0 ] && [ "${ink:-0}" -gt 0 ]; then
        echo "  ok    $id: $drawn points, $ink pixels painted"
    else
        echo "  FAIL  $id did not draw: $tag"
        bad=$((bad + 1))
    fi
done
# MTR-00001's raised alerts in the default 30 days: the fixture's two.
rows=$(grep -o '<table id="meteralerts"[^>]*>' "$T/dom.html" | sed -n 's/.*data-rows="\([0-9]*\)".*/\1/p')
if [ "${rows:-0}" -eq 2 ]; then echo "  ok    alerts: $rows raised"; else echo "  FAIL  alerts: '${rows}' rows, want 2"; bad=$((bad + 1)); fi
status=$(grep -o '<div id="status"[^<]*' "$T/dom.html" | sed 's/.*>//')
case $status in
    "fleet: 30 meters reporting"*) echo "  ok    status line: $status" ;;
    *) echo "  FAIL  status line: $status"; bad=$((bad + 1)) ;;
esac
[ "$bad" -eq 0 ] || fail "$bad check(s) failed"

if [ -n "${API_PAGE_SCREENSHOT:-}" ]; then
    (cd "$T" && chrome --screenshot="$T/page.png" >/dev/null) && cp "$T/page.png" "$API_PAGE_SCREENSHOT" ||
        fail "no screenshot"
    echo "  ok    screenshot: $API_PAGE_SCREENSHOT"
fi
echo "api-page: 7 charts and the alerts drawn in headless Chromium from the API"
