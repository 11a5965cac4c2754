#!/bin/bash
# test_demo.sh: a small `make demo` (300 meters, 1 simulated day, trouble at
# higher rates so every kind shows up) and checks of its summary's key facts:
# every record accounted for (accepted + malformed = validated + quarantine
# + DLQ), alerts detected with none missed or false, the reading faults
# that need no rate-of-change rule all detected, rollup rows written,
# the S3 archive read back equal to Kafka and PostgreSQL, the neighborhood
# correlation's score against the injected atypical meters,
# the report's PNGs. Prints "demo: N passed, M failed" last; exit 0/1.
# Needs the programs built (MF_BIN_DIR, default build/bin).
set -u
cd "$(dirname "$0")/../.."
REPORT=$(mktemp -d /tmp/mf-test-demo.XXXXXX)
trap 'rm -rf "$REPORT"' EXIT
pass=0
fail=0
. tests/lib/check.sh

start=$(date +%s)
# Every neighborhood sends the correlation's history (DEMO_HISTORY_HOODS=0):
# 300 meters make neighborhoods of about 6, the least the correlation judges.
DEMO_METERS=300 DEMO_HOURS=30 DEMO_REPORT="$REPORT" DEMO_DRAIN_TIMEOUT=60 DEMO_HISTORY_HOODS=0 \
    DEMO_TROUBLE="night_shift=0.03,wrong_premises=0.03,stuck=0.02,zero=0.02,overload=0.02,gap_5h=0.02,gap_25h=0.02,spike=0.02,drop=0.02,negative=0.02,duplicate=0.02,out_of_order=0.02,gap_short=0.02,glitch=0.02,unit_slip=0.02,dropout=0.02,ct_reversal=0.02" \
    tools/demo.sh >"$REPORT/demo.out" 2>&1
rc=$?
secs=$(($(date +%s) - start))
check "demo.sh exits 0 (took ${secs}s)" test $rc -eq 0
[ $rc -eq 0 ] || tail -n 40 "$REPORT/demo.out"
# No bound on the time here: a timed test fails on a loaded machine, not on
# slow code (it failed at 102 s against 90 with five engineers' tests on two
# cores). The runner's per-test timeout catches a hang; `make bench` and the
# README say how fast the demo is.

facts="$REPORT/facts.env"
check "facts written" test -s "$facts"
if [ -s "$facts" ]; then
    # shellcheck disable=SC1090
    . "$facts"
    check "readings generated ($generated) all accepted by the gateway" \
        test "$generated" -gt 0 -a "$gw_accepted" -eq "$generated" -a "$gw_rejected" -eq 0
    check "accepted + malformed = validated + quarantine + dlq ($((gw_accepted + malformed)) = $((validated + quarantine + dlq)))" \
        test $((gw_accepted + malformed)) -eq $((validated + quarantine + dlq))
    check "malformed records all in the DLQ ($dlq)" test "$dlq" -eq "$malformed" -a "$malformed" -gt 0
    # The operations scene (meterctl, DESIGN §14).
    check "ops: 3 unit-ambiguous readings approved, in the rollups once (${ops_rollup:-?})" \
        test "${ops_approved:-0}" -eq 3 -a "${ops_rollup:-0}" -eq 3
    check "ops: approving again is refused" test "${ops_refused_again:-0}" -eq 1
    check "ops: the fixed DLQ records replayed once each (${ops_replayed:-?} of ${ops_replays_wanted:-?})" \
        test "${ops_replays_wanted:-0}" -gt 0 -a "${ops_replayed:-0}" -eq "${ops_replays_wanted:-0}"
    check "ops: the audit log holds exactly the actions (${ops_audit:-?} of ${ops_audit_wanted:-?})" \
        test "${ops_audit:-0}" -eq "${ops_audit_wanted:--1}"
    check "ops: the pending unknown_meter readings are the simulator's unregistered meters' (${ops_unknown_pending:-?} of ${ops_unknown_injected:-?})" \
        test "${ops_unknown_injected:-0}" -gt 0 -a "${ops_unknown_pending:-0}" -eq "${ops_unknown_injected:--1}"
    check "alerts detected ($alerts_detected of $alerts_expected expected)" \
        test "$alerts_detected" -gt 0 -a "$alerts_detected" -eq "$alerts_expected"
    check "no false alarms ($alerts_false)" test "$alerts_false" -eq 0
    # Reading faults (sim_rscore): a unit slip is over max_kw and a CT reversal
    # negative, whatever the rate-of-change rule; glitches, dropouts, spikes
    # and drops depend on it and are printed in the summary, not checked here.
    for kind in unit_slip ct_reversal negative; do
        eval "set -- \${faults_$kind:-0 -1}"
        check "reading faults: $kind detected ($2 of $1)" test "$1" -gt 0 -a "$2" -eq "$1"
    done
    # The neighborhood correlation (the aggregator's daily round) against the
    # atypical profiles injected (night_shift, wrong_premises), DESIGN §13.
    check "correlation: meters judged (${corr_judged:-?}, the truth expects at least ${corr_judged_at_least:-?})" \
        test "${corr_judged:-0}" -gt 0 -a "${corr_judged:-0}" -ge "${corr_judged_at_least:-1}"
    check "correlation: recall >= 95 % (${corr_detected:-?} of ${corr_expected:-?} atypical meters)" \
        test "${corr_expected:-0}" -gt 0 -a $((100 * ${corr_detected:-0})) -ge $((95 * ${corr_expected:-1}))
    check "correlation: false alarms <= 1 % of the meters judged (${corr_false:-?} of ${corr_judged:-?})" \
        test -n "${corr_false:-}" -a $((100 * ${corr_false:-1})) -le "${corr_judged:-0}"
    # The daily analytics in the summary: peaks with their exclusions, a DST billing day.
    check "peaks: every region and the fleet for each whole day (${peaks_days:-?} region-days)" \
        test "${peaks_days:-0}" -ge 6
    check "peaks: the holiday excludes R-2's and the fleet's day (${peaks_holiday:-?})" \
        test "${peaks_holiday:-0}" -eq 1
    check "peaks: the heat wave excludes a day for extreme weather (${peaks_weather:-?})" \
        test "${peaks_weather:-0}" -ge 1
    check "a billing day across the DST change (${dst_day:-?}: ${dst_hours:-?} hours)" \
        test "${dst_hours:-0}" = 23 -o "${dst_hours:-0}" = 25
    check "spike/drop flags on good readings counted (${false_flags_per_1000:-?} per 1000)" \
        test -n "${false_flags_per_1000:-}"
    check "rollup rows written (1m $rollup_1m, 1h $rollup_1h)" test "$rollup_1m" -gt 0 -a "$rollup_1h" -gt 0
    check "the S3 archive read back, equal to Kafka and PostgreSQL (${s3_raw_objects:-?} raw/ and ${s3_analytics_objects:-?} analytics/ objects, Parquet/JSON ${s3_parquet_vs_json:-?})" \
        test "${s3_checked:-0}" = 1 -a "${s3_raw_objects:-0}" -gt 0 -a "${s3_analytics_objects:-0}" -gt 0
    check "every validated reading in the rollups" \
        test "$rollup_readings" -eq $((validated + interpolated))
    # The other sources (meter-sim sources, source-sink).
    check "grid feeds: every accepted reading stored (${sources_grid_stored:-?} of ${sources_grid_accepted:-?})" \
        test "${sources_grid_accepted:-0}" -gt 0 -a "${sources_grid_stored:--1}" -eq "${sources_grid_accepted:-0}"
    check "vehicles: every report stored (${sources_ev_stored:-?} of ${sources_ev_sent:-?})" \
        test "${sources_ev_sent:-0}" -gt 0 -a "${sources_ev_stored:--1}" -eq "${sources_ev_sent:-0}"
    check "the feeder balance finds the unregistered load (top: ${sources_top_feeder:-?}, simulated: ${sources_unregistered_feeder:-?})" \
        test -n "${sources_top_feeder:-}" -a "${sources_top_feeder:-}" = "${sources_unregistered_feeder:-x}"
    check "the heat wave shows in weather_hourly (${sources_hottest_c:-?} °C)" \
        awk -v t="${sources_hottest_c:-0}" 'BEGIN { exit !(t > 35) }'
    check "the degrading vehicle, and only it, below 75 % (${sources_degraded:-none})" \
        test "${sources_degraded:-}" = EV-006
fi
check "summary.txt" grep -q "accounted for: yes" "$REPORT/summary.txt"
check "summary says how many alerts were raised and cleared" \
    grep -q "^alerts (meter.alerts: [0-9]* records = [0-9]* raised + [0-9]* cleared" "$REPORT/summary.txt"
# hourly.dat: one line per hour of the range and the closing hour; its
# quarantine columns (5-9), read back from the topic, add up to the workers' count.
hours=$(grep -vc '^#' "$REPORT/hourly.dat")
qsum=$(awk '!/^#/ { s += $5 + $6 + $7 + $8 + $9 } END { print s + 0 }' "$REPORT/hourly.dat")
check "hourly.dat has 31 hours ($hours)" test "$hours" -eq 31
check "hourly.dat's quarantined readings ($qsum) = the workers' quarantine (${quarantine:-?})" \
    test "$qsum" -eq "${quarantine:--1}"
check "summary scores the neighborhood correlation" \
    grep -q "^  detected [0-9]*, missed [0-9]*: recall" "$REPORT/summary.txt"
check "reading checks all match" grep -q "reading checks \([0-9]*\) of \1 match" "$REPORT/summary.txt"
for png in fleet_load.png quality.png; do
    check "$png is a PNG" sh -c "head -c 8 '$REPORT/$png' | od -An -c | grep -q 'P   N   G'"
done
# Nothing the demo started may outlive it: its programs, and PostgreSQL under its work dir.
left_behind() {
    local p
    for p in ${pids:-}; do
        kill -0 "$p" 2>/dev/null && return 0
    done
    [ -n "${workdir:-}" ] && pgrep -f "$workdir/" >/dev/null && return 0
    [ -n "${workdir:-}" ] && [ -e "$workdir" ] && return 0
    return 1
}
check "no process left behind, work dir removed" eval '! left_behind'
echo "demo: $pass passed, $fail failed"
[ $fail -eq 0 ]
