#!/bin/bash
# test_sql.sh: the migrations in schemas/sql against a real, throw-away
# PostgreSQL (tests/lib/pgtmp.sh).
#
# Applies every migration the way the C runner does (one transaction per
# file, under an advisory lock, recorded in schema_migrations, skipped once
# recorded), twice, then once more raw as PQexec would send each file, and
# checks partitions, inserts, views, retention and concurrency.
# Prints "ok - ..." / "not ok - ..." per check and a last line
# "sql: N passed, M failed". Exit 0 if all pass, 1 if not, 77 (skip) without
# PostgreSQL's server binaries.

set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd -P)
PGTMP=$ROOT/tests/lib/pgtmp.sh
SQLDIR=$ROOT/schemas/sql

INITDB=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)
if [ -z "$INITDB" ]; then
    echo "sql: skipped: PostgreSQL server binaries absent (apt-get install postgresql)"
    exit 77
fi
BIN=${INITDB%/initdb}
PSQL=$BIN/psql

# The advisory lock key our runner simulation uses (the real runner has its
# own; migrations never depend on it).
RUNNER_LOCK=4242001

# pass / fail / finish / q / expect: shared with the other SQL scripts.
. "$ROOT/tests/lib/sqltest.sh"

cleanup() {
    if [ -n "$WORK" ]; then
        "$PGTMP" destroy "$WORK/pg" >/dev/null 2>&1
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# expect_error NAME SQLSTATE SQL: the statement must fail with that SQLSTATE.
expect_error() {
    local name=$1 state=$2 got
    got=$("$PSQL" "$DSN" -X -A -t -q -v ON_ERROR_STOP=1 -v VERBOSITY=verbose \
        -c "$3" 2>&1)
    # shellcheck disable=SC2181 # $? of the assignment above
    if [ $? -ne 0 ] && printf '%s' "$got" | grep -q "ERROR:  $state:"; then
        pass "$name"
    else
        fail "$name" "want: ERROR $state" "got:  $got"
    fi
}

# The runner, simulated in psql: schema_migrations made under the lock, then
# each file in its own transaction that takes the lock, skips a recorded
# version, else applies the file and records it. Prints "applied NAME" per
# file applied. $1 = DSN, $2 = the last version to apply (default: all).
run_migrations() {
    local dsn=$1 upto=${2:-999} f base ver
    {
        echo '\set ON_ERROR_STOP on'
        echo 'BEGIN;'
        echo "SELECT pg_advisory_xact_lock($RUNNER_LOCK);"
        echo 'CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());'
        echo 'COMMIT;'
        for f in "$SQLDIR"/[0-9][0-9][0-9]_*.sql; do
            base=${f##*/}
            ver=$((10#${base%%_*}))
            [ "$ver" -le "$upto" ] || continue
            echo 'BEGIN;'
            echo "SELECT pg_advisory_xact_lock($RUNNER_LOCK);"
            echo "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $ver) AS mf_done \\gset"
            echo '\if :mf_done'
            echo '\else'
            echo "\\i $f"
            echo "INSERT INTO schema_migrations (version, name) VALUES ($ver, '$base');"
            echo "\\echo applied $base"
            echo '\endif'
            echo 'COMMIT;'
        done
    } | "$PSQL" "$dsn" -X -q -A -t -v ON_ERROR_STOP=1 2>&1 | grep -v -E '^(NOTICE|psql:.*NOTICE)'
    return "${PIPESTATUS[1]}"
}

# ---------------------------------------------------------------------------
# Static checks on the files: the runner sends each one as a single string
# inside its own transaction.

FILES=("$SQLDIR"/[0-9][0-9][0-9]_*.sql)
NFILES=${#FILES[@]}
if [ "$NFILES" -gt 0 ] && [ -f "${FILES[0]}" ]; then
    pass "found $NFILES migrations in schemas/sql"
else
    fail "no migrations in schemas/sql"
    finish
fi

# Numbers are reserved in ranges per piece of work (gaps allowed); the
# runner applies each unrecorded one in order, so each must be unique.
last=0
bad=
for f in "${FILES[@]}"; do
    base=${f##*/}
    [[ $base =~ ^[0-9]{3}_[a-z0-9_]+\.sql$ ]] || bad="$bad $base(name)"
    [ $((10#${base%%_*})) -gt $last ] || bad="$bad $base(version not above $last)"
    last=$((10#${base%%_*}))
done
if [ -z "$bad" ]; then pass "migrations are numbered from 001, each version once"; else fail "migration numbering" "$bad"; fi

# Top-level transaction control, psql meta-commands and CONCURRENTLY cannot
# run inside the runner's transaction. Function bodies ($$ ... $$, where
# plpgsql's BEGIN ... END; is fine) and -- comments are left out of the search.
top_level_sql() {
    awk '{ line = $0; sub(/--.*/, "", line)
           n = gsub(/\$\$/, "&", line)
           if (!inbody && n == 0) print FILENAME ":" FNR ": " line
           if (n % 2 == 1) inbody = !inbody }' "$@"
}
bad=$(top_level_sql "${FILES[@]}" |
    grep -i -E ': \s*(BEGIN|START TRANSACTION|COMMIT|ROLLBACK|END|ABORT)\s*;|: \s*\\|CONCURRENTLY|VACUUM')
if [ -z "$bad" ]; then pass "migrations have no transaction control or psql meta-commands"; else fail "migrations are runner-safe" "$bad"; fi

# ---------------------------------------------------------------------------
# The server.

WORK=$(mktemp -d /tmp/mf-test-sql.XXXXXX)
chmod 755 "$WORK" # the cluster runs as postgres when we are root
if ! DSN=$("$PGTMP" start "$WORK/pg" 2>"$WORK/pgtmp.err"); then
    fail "pgtmp.sh start" "$(cat "$WORK/pgtmp.err")"
    finish
fi
if [[ $DSN =~ ^host=127\.0\.0\.1\ port=[0-9]+\ dbname=meterflow\ user=[a-z_][a-z0-9_-]*$ ]] &&
    [ "$(cat "$WORK/pg/dsn")" = "$DSN" ]; then
    pass "pgtmp.sh start prints the DSN and writes DIR/dsn"
else
    fail "pgtmp.sh start DSN" "got: $DSN"
fi
expect "cluster is tuned for tests and listens on loopback only" "off|off|off|127.0.0.1|UTC" \
    "SELECT current_setting('fsync'), current_setting('synchronous_commit'),
            current_setting('full_page_writes'), current_setting('listen_addresses'),
            current_setting('TimeZone')"

# ---------------------------------------------------------------------------
# Migrations: runner pass 1 applies all, pass 2 none, raw re-run changes nothing.

out=$(run_migrations "$DSN")
rc=$?
n=$(printf '%s\n' "$out" | grep -c '^applied ')
if [ $rc -eq 0 ] && [ "$n" -eq "$NFILES" ]; then
    pass "runner pass 1 applies all $NFILES migrations"
else
    fail "runner pass 1" "rc=$rc applied=$n" "$out"
fi

out=$(run_migrations "$DSN")
rc=$?
n=$(printf '%s\n' "$out" | grep -c '^applied ')
if [ $rc -eq 0 ] && [ "$n" -eq 0 ]; then
    pass "runner pass 2 skips every recorded migration"
else
    fail "runner pass 2" "rc=$rc applied=$n" "$out"
fi
expect "schema_migrations records each version once" "$NFILES|$NFILES" \
    "SELECT count(*), count(DISTINCT version) FROM schema_migrations"

"$BIN/pg_dump" -d "$DSN" --schema-only --no-owner -f "$WORK/before.sql" 2>"$WORK/dump.err"
bad=
for f in "${FILES[@]}"; do
    # One string, one transaction: exactly what PQexec gets from the runner.
    if ! err=$("$PSQL" "$DSN" -X -q -v ON_ERROR_STOP=1 -1 -c "$(cat "$f")" 2>&1 >/dev/null |
        grep -v NOTICE); then
        :
    fi
    [ -z "$err" ] || bad="$bad
${f##*/}: $err"
done
if [ -z "$bad" ]; then pass "every migration re-runs raw without error"; else fail "raw re-run" "$bad"; fi
"$BIN/pg_dump" -d "$DSN" --schema-only --no-owner -f "$WORK/after.sql" 2>>"$WORK/dump.err"
# pg_dump >= 15.14 wraps its output in \restrict <random key>: not schema.
sed -i -E '/^\\(un)?restrict /d' "$WORK/before.sql" "$WORK/after.sql"
if [ -s "$WORK/before.sql" ] && diff -q "$WORK/before.sql" "$WORK/after.sql" >/dev/null; then
    pass "raw re-run leaves the schema identical (pg_dump)"
else
    fail "schema changed on re-run" "$(diff "$WORK/before.sql" "$WORK/after.sql" | head -n 20)" "$(cat "$WORK/dump.err")"
fi

# Several runners at once on a fresh database: the lock serializes them and
# each version is applied exactly once.
q "CREATE DATABASE meterflow_conc" >/dev/null
DSN2=${DSN/dbname=meterflow/dbname=meterflow_conc}
for i in 1 2 3; do
    (run_migrations "$DSN2" >"$WORK/conc$i.out" 2>&1; echo "rc=$?" >>"$WORK/conc$i.out") &
done
wait
n=$(cat "$WORK"/conc[123].out | grep -c '^applied ')
rcs=$(cat "$WORK"/conc[123].out | grep -c '^rc=0$')
if [ "$n" -eq "$NFILES" ] && [ "$rcs" -eq 3 ]; then
    pass "3 concurrent runners apply each migration once"
else
    fail "concurrent runners" "applied=$n ok=$rcs" "$(cat "$WORK"/conc[123].out)"
fi

# ---------------------------------------------------------------------------
# Tables as DESIGN §6 and the brief define them.

cols() {
    q "SELECT string_agg(column_name || ' ' || data_type || ' ' || is_nullable, ', ' ORDER BY ordinal_position)
         FROM information_schema.columns WHERE table_schema = 'public' AND table_name = '$1'"
}
check_cols() {
    local got
    got=$(cols "$1")
    if [ "$got" = "$2" ]; then pass "table $1 has the contract's columns"; else fail "columns of $1" "want: $2" "got:  $got"; fi
}
check_cols meters "meter_id text NO, class text YES, max_kw double precision NO, interval_s integer NO, vacant boolean NO, neighborhood text YES, region text YES, active boolean NO, updated_at timestamp with time zone NO, feeder_id text YES, tz text YES"
ROLLUP_COLS="meter_id text NO, window_start timestamp with time zone NO, count bigint NO, sum_kw double precision NO, min_kw double precision NO, max_kw double precision NO, m2 double precision NO, energy_kwh double precision NO, quality_sum double precision NO, premium integer NO, standard integer NO, interpolated integer NO, closed boolean NO, revision integer NO, updated_at timestamp with time zone NO"
check_cols rollup_1m "$ROLLUP_COLS, part integer YES"
check_cols rollup_1h "$ROLLUP_COLS"
STATS_COLS="${ROLLUP_COLS// NO/ YES}, avg_kw double precision YES, stddev_kw double precision YES, quality_avg double precision YES, window_end timestamp with time zone YES, stddev_pop_kw double precision YES"
check_cols rollup_1m_stats "$STATS_COLS"
check_cols rollup_1h_stats "$STATS_COLS"
check_cols meter_current_status "meter_id text NO, ts timestamp with time zone NO, value_kw double precision NO, quality integer NO, tier text NO, updated_at timestamp with time zone NO"
check_cols sink_offsets "consumer_group text NO, topic text NO, partition integer NO, next_offset bigint NO"
check_cols source_positions "consumer_group text NO, partition integer NO, src_partition integer NO, src_offset bigint NO, src_index integer NO"
check_cols region_load_1h "region text NO, window_start timestamp with time zone NO, energy_kwh double precision NO, readings bigint NO, meters integer NO, quality_sum double precision NO"
# DESIGN §13, §14: what meterctl writes.
check_cols audit_log "id bigint NO, at timestamp with time zone NO, actor text NO, action text NO, target text YES, why text YES, detail jsonb NO"
check_cols holidays "day date NO, region text YES, name text NO"
check_cols grid_maintenance "id bigint NO, region text NO, from_ts timestamp with time zone NO, to_ts timestamp with time zone NO, note text YES"
check_cols peak_hours "day date NO, region text NO, rank smallint NO, hour_start timestamp with time zone NO, energy_kwh double precision NO, excluded boolean NO, exclusion text YES"
check_cols peak_periods "season text YES, region text YES, hour_of_day integer YES, days_in_top3 integer YES, share double precision YES"
check_cols rollup_1d_local "meter_id text YES, day date YES, tz text YES, hours double precision YES, count bigint YES, energy_kwh double precision YES, avg_kw double precision YES, min_kw double precision YES, max_kw double precision YES, quality_avg double precision YES, premium bigint YES, standard bigint YES, interpolated bigint YES, exact boolean YES"
# The review stores (DESIGN §14) and the alerts store: what meterctl and the API read.
check_cols alerts "id bigint NO, meter_id text NO, type text NO, severity text NO, state text NO, since timestamp with time zone NO, raised_at timestamp with time zone YES, cleared_at timestamp with time zone YES, detail jsonb NO, src_partition integer YES, src_offset bigint YES, src_index integer YES, updated_at timestamp with time zone NO, acked_at timestamp with time zone YES, acked_by text YES, ack_why text YES"

expect "primary keys are the contract's (and the aggregator's own tables')" \
    "agg_watermarks|consumer_group,partition
alerts|id
analytics_alert_outbox|id
analytics_alert_state|type,subject
audit_log|id
dlq_records|id,received_at
feeders|feeder_id
fleet_load_1h|window_start
fleet_settings|name
grid_feed_readings|feeder_id,ts
grid_maintenance|id
meter_current_status|meter_id
meters|meter_id
peak_days_dirty|day
peak_hours|day,region,rank
quarantine_readings|id,received_at
region_load_1h|region,window_start
rollup_1h|meter_id,window_start
rollup_1m|meter_id,window_start
sink_offsets|consumer_group,topic,partition
source_positions|consumer_group,partition,src_partition
vehicle_current_status|vehicle_id
vehicles|vehicle_id
weather_observations|station_id,ts
weather_stations|station_id" \
    "SELECT t.relname, string_agg(a.attname, ',' ORDER BY k.n)
       FROM pg_constraint c
       CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, n)
       JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
       JOIN pg_class t ON t.oid = c.conrelid
      WHERE c.contype = 'p' AND c.connamespace = 'public'::regnamespace
        AND NOT t.relispartition AND t.relname <> 'schema_migrations'
      GROUP BY t.relname ORDER BY t.relname"
expect "rollup tables (on window_start), the vehicle history (on ts) and the review stores (on received_at) are range-partitioned with no default partition" \
    "dlq_records|r|received_at|0
quarantine_readings|r|received_at|0
rollup_1h|r|window_start|0
rollup_1m|r|window_start|0
vehicle_telemetry_history|r|ts|0" \
    "SELECT p.partrelid::regclass, p.partstrat, a.attname, p.partdefid
       FROM pg_partitioned_table p JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
      ORDER BY p.partrelid::regclass::text"

# meters: defaults, checks, updated_at trigger.
expect "meters defaults: max_kw 20, interval_s 60, not vacant, active" "20|60|f|t" \
    "INSERT INTO meters (meter_id) VALUES ('MTR-1') RETURNING max_kw, interval_s, vacant, active"
expect_error "meters refuses interval_s 0" 23514 "INSERT INTO meters (meter_id, interval_s) VALUES ('MTR-2', 0)"
expect_error "meters refuses a meter_id outside [A-Za-z0-9._:-]{1,64}" 23514 "INSERT INTO meters (meter_id) VALUES ('bad id')"
expect_error "meters refuses max_kw NaN" 23514 "INSERT INTO meters (meter_id, max_kw) VALUES ('MTR-3', 'NaN')"
expect "meters.updated_at moves on UPDATE" "t" \
    "UPDATE meters SET updated_at = '2000-01-01Z' WHERE meter_id = 'MTR-1';
     SELECT updated_at > '2000-01-02Z' FROM meters WHERE meter_id = 'MTR-1'"

# ---------------------------------------------------------------------------
# Partitions: a range crossing a month boundary. The session's TimeZone is
# set far from UTC on purpose: days and months must still be UTC.

PARTS="SELECT string_agg(c.relname || ' ' || pg_get_expr(c.relpartbound, c.oid), E'\n' ORDER BY c.relname)
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"

expect "ensure_partitions(rollup_1m) creates the 3 UTC days of a range crossing a month" "3" \
    "SET TimeZone = 'Pacific/Kiritimati';
     SELECT meterflow_ensure_partitions('rollup_1m', '2024-01-30 22:00Z', '2024-02-01 03:00Z')"
expect "ensure_partitions(rollup_1h) creates the 2 UTC months" "2" \
    "SET TimeZone = 'America/Los_Angeles';
     SELECT meterflow_ensure_partitions('rollup_1h', '2024-01-30 22:00Z', '2024-02-01 03:00Z')"
expect "partitions are named and bounded in UTC" \
    "rollup_1h_p202401 FOR VALUES FROM ('2024-01-01 00:00:00+00') TO ('2024-02-01 00:00:00+00')
rollup_1h_p202402 FOR VALUES FROM ('2024-02-01 00:00:00+00') TO ('2024-03-01 00:00:00+00')
rollup_1m_p20240130 FOR VALUES FROM ('2024-01-30 00:00:00+00') TO ('2024-01-31 00:00:00+00')
rollup_1m_p20240131 FOR VALUES FROM ('2024-01-31 00:00:00+00') TO ('2024-02-01 00:00:00+00')
rollup_1m_p20240201 FOR VALUES FROM ('2024-02-01 00:00:00+00') TO ('2024-02-02 00:00:00+00')" \
    "SET TimeZone = 'UTC'; $PARTS WHERE i.inhparent IN ('rollup_1m'::regclass, 'rollup_1h'::regclass)"
expect "ensure_partitions again creates nothing" "0|0" \
    "SELECT meterflow_ensure_partitions('rollup_1m', '2024-01-30 00:00Z', '2024-02-01 23:59:59Z'),
            meterflow_ensure_partitions('rollup_1h', '2024-01-01 00:00Z', '2024-02-29 23:00Z')"
expect "ensure_partitions includes p_to's partition, and Feb 29" "2|rollup_1m_p20240229" \
    "SELECT meterflow_ensure_partitions('rollup_1m', '2024-02-28 10:00Z', '2024-02-29 00:00Z'),
            to_regclass('rollup_1m_p20240229')"
expect "new partitions carry the parent's indexes" "rollup_1m_p20240131|3" \
    "SELECT indrelid::regclass, count(*) FROM pg_index WHERE indrelid = 'rollup_1m_p20240131'::regclass GROUP BY 1"

expect_error "ensure_partitions refuses an unknown table" 22023 \
    "SELECT meterflow_ensure_partitions('meters', now(), now())"
expect_error "ensure_partitions refuses an infinite range" 22023 \
    "SELECT meterflow_ensure_partitions('rollup_1m', now(), 'infinity')"
expect_error "ensure_partitions refuses p_from > p_to" 22023 \
    "SELECT meterflow_ensure_partitions('rollup_1m', '2024-02-02Z', '2024-02-01Z')"
expect_error "ensure_partitions refuses more than 400 partitions at once" 54000 \
    "SELECT meterflow_ensure_partitions('rollup_1m', 'epoch', '2024-01-01Z')"

# ---------------------------------------------------------------------------
# Writes: rows land in their partition, nothing outside the partitions.

ROW="count, sum_kw, min_kw, max_kw, m2, energy_kwh, quality_sum, premium, standard, interpolated"
VALS="1, 1.0, 1.0, 1.0, 0, 0.0167, 95, 1, 0, 0"
expect "rollup_1m rows land in their UTC day, boundary included" \
    "rollup_1m_p20240130
rollup_1m_p20240131
rollup_1m_p20240201
rollup_1m_p20240201" \
    "INSERT INTO rollup_1m (meter_id, window_start, $ROW) VALUES
        ('MTR-1', '2024-01-30 22:00Z', $VALS),
        ('MTR-1', '2024-01-31 23:59Z', $VALS),
        ('MTR-1', '2024-02-01 00:00Z', $VALS),
        ('MTR-1', '2024-02-01 03:00+02', $VALS)
     RETURNING tableoid::regclass"
expect "rollup_1h rows land in their UTC month" \
    "rollup_1h_p202401
rollup_1h_p202402" \
    "INSERT INTO rollup_1h (meter_id, window_start, $ROW) VALUES
        ('MTR-1', '2024-01-31 23:00Z', $VALS),
        ('MTR-1', '2024-02-29 23:00Z', $VALS)
     RETURNING tableoid::regclass"
expect_error "rollup_1m refuses a window after its partitions" 23514 \
    "INSERT INTO rollup_1m (meter_id, window_start, $ROW) VALUES ('MTR-1', '2024-02-02 00:00Z', $VALS)"
expect_error "rollup_1m refuses a window before its partitions" 23514 \
    "INSERT INTO rollup_1m (meter_id, window_start, $ROW) VALUES ('MTR-1', '2024-01-29 23:59Z', $VALS)"
expect_error "rollup_1h refuses a window outside its partitions" 23514 \
    "INSERT INTO rollup_1h (meter_id, window_start, $ROW) VALUES ('MTR-1', '2024-03-01 00:00Z', $VALS)"
expect_error "rollup_1m refuses a window not on a minute" 23514 \
    "INSERT INTO rollup_1m (meter_id, window_start, $ROW) VALUES ('MTR-9', '2024-01-31 10:00:30Z', $VALS)"
expect_error "rollup_1h refuses a window not on a UTC hour (+05:30)" 23514 \
    "INSERT INTO rollup_1h (meter_id, window_start, $ROW) VALUES ('MTR-9', '2024-01-31 10:00+05:30', $VALS)"
expect_error "rollup_1m refuses count 0" 23514 \
    "INSERT INTO rollup_1m (meter_id, window_start, $ROW) VALUES ('MTR-9', '2024-01-31 10:00Z', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)"
expect_error "rollup_1m refuses a duplicate window" 23505 \
    "INSERT INTO rollup_1m (meter_id, window_start, $ROW) VALUES ('MTR-1', '2024-01-30 22:00Z', $VALS)"

# The aggregator's merge: ON CONFLICT on the partitioned table, parallel
# variance formula, RETURNING. Merging {1} with {2,3,4} must give the
# stats of {1,2,3,4}: count 4, mean 2.5, m2 5.
expect "ON CONFLICT DO UPDATE merges partials (parallel variance)" "4|10|1|4|5|0" \
    "INSERT INTO rollup_1m AS r (meter_id, window_start, $ROW)
     VALUES ('MTR-1', '2024-01-30 22:00Z', 3, 9.0, 2.0, 4.0, 2.0, 0.15, 285, 3, 0, 0)
     ON CONFLICT (meter_id, window_start) DO UPDATE SET
        count = r.count + EXCLUDED.count,
        sum_kw = r.sum_kw + EXCLUDED.sum_kw,
        min_kw = least(r.min_kw, EXCLUDED.min_kw),
        max_kw = greatest(r.max_kw, EXCLUDED.max_kw),
        m2 = r.m2 + EXCLUDED.m2 + (EXCLUDED.sum_kw / EXCLUDED.count - r.sum_kw / r.count) ^ 2
                                  * r.count * EXCLUDED.count / (r.count + EXCLUDED.count),
        energy_kwh = r.energy_kwh + EXCLUDED.energy_kwh,
        quality_sum = r.quality_sum + EXCLUDED.quality_sum,
        premium = r.premium + EXCLUDED.premium,
        standard = r.standard + EXCLUDED.standard,
        interpolated = r.interpolated + EXCLUDED.interpolated,
        revision = r.revision + (r.closed)::int,
        updated_at = now()
     RETURNING count, sum_kw, min_kw, max_kw, m2, revision"

# ---------------------------------------------------------------------------
# Views: {1,2,3,4} -> avg 2.5, sample stddev sqrt(5/3) (= stddev()),
# population sqrt(1.25) (= stddev_pop()), quality 95.

expect "rollup_1m_stats: avg_kw, sample stddev_kw, population stddev_pop_kw, quality_avg, window_end" \
    "2.5|t|t|95|2024-01-30 22:01:00+00" \
    "SET TimeZone = 'UTC';
     SELECT avg_kw,
            abs(stddev_kw - (SELECT stddev(v) FROM unnest(ARRAY[1, 2, 3, 4]::float8[]) v)) < 1e-12,
            abs(stddev_pop_kw - (SELECT stddev_pop(v) FROM unnest(ARRAY[1, 2, 3, 4]::float8[]) v)) < 1e-12,
            quality_avg, window_end
       FROM rollup_1m_stats WHERE meter_id = 'MTR-1' AND window_start = '2024-01-30 22:00Z'"
expect "rollup_1h_stats: m2 a rounding error below 0 gives stddev 0, not an error" \
    "0|1|2024-02-01 00:00:00+00" \
    "SET TimeZone = 'UTC';
     UPDATE rollup_1h SET m2 = -1e-15 WHERE meter_id = 'MTR-1' AND window_start = '2024-01-31 23:00Z';
     SELECT stddev_pop_kw, avg_kw, window_end FROM rollup_1h_stats
      WHERE meter_id = 'MTR-1' AND window_start = '2024-01-31 23:00Z'"

# A 1-minute row is closed by its partition's stored watermark (011), not
# by a write: revision 0 stored reads 1 once closed; a stored close (late
# data) keeps its revision; a row without part (before 011) keeps its own.
got=$(q "SET TimeZone = 'UTC';
     SELECT meterflow_ensure_partitions('rollup_1m', '2024-01-30Z', '2024-01-30Z');
     INSERT INTO rollup_1m (meter_id, window_start, count, sum_kw, min_kw, max_kw, m2, energy_kwh,
                            quality_sum, premium, standard, interpolated, closed, revision, part)
     VALUES ('W1', '2024-01-30 10:00Z', 1, 1, 1, 1, 0, 0, 90, 1, 0, 0, false, 0, 7),
            ('W2', '2024-01-30 10:00Z', 1, 1, 1, 1, 0, 0, 90, 1, 0, 0, true, 3, 7),
            ('W3', '2024-01-30 10:00Z', 1, 1, 1, 1, 0, 0, 90, 1, 0, 0, false, 0, NULL);
     SELECT closed || '|' || revision FROM rollup_1m_stats
      WHERE meter_id = 'W1' AND window_start = '2024-01-30 10:00Z';
     INSERT INTO agg_watermarks (consumer_group, partition, watermark_ms)
     VALUES ('g1', 7, (extract(epoch FROM timestamptz '2024-01-30 10:00:59.999Z') * 1000)::bigint);
     SELECT closed || '|' || revision FROM rollup_1m_stats
      WHERE meter_id = 'W1' AND window_start = '2024-01-30 10:00Z';
     INSERT INTO agg_watermarks (consumer_group, partition, watermark_ms)
     VALUES ('g2', 7, (extract(epoch FROM timestamptz '2024-01-30 10:01Z') * 1000)::bigint);
     SELECT string_agg(closed || '|' || revision, '|' ORDER BY meter_id) FROM rollup_1m_stats
      WHERE window_start = '2024-01-30 10:00Z';
     DELETE FROM agg_watermarks WHERE consumer_group IN ('g1', 'g2');
     DELETE FROM rollup_1m WHERE meter_id IN ('W1', 'W2', 'W3');" 2>&1 | tr '\n' ' ')
want="0 false|0 false|0 true|1|true|3|false|0 "
if [ "$got" = "$want" ]; then
    pass "rollup_1m_stats: closed and revision follow the newest watermark of the row's partition"
else
    fail "rollup_1m_stats: derived close" "want: $want" "got:  $got"
fi

# An hour is stored once closed (012): rollup_1h_stats serves one with no
# stored row from its minutes (m2 merged exactly: readings 1, 2 and 4),
# open with revision 0; a stored row wins over the minutes (never counted
# twice); only the minutes from the hour holding the lowest watermark on
# are summed: an hour the watermark passed is closed, so stored.
got=$(q "SET TimeZone = 'UTC';
     INSERT INTO rollup_1m (meter_id, window_start, count, sum_kw, min_kw, max_kw, m2, energy_kwh,
                            quality_sum, premium, standard, interpolated, part)
     VALUES ('H1', '2024-01-30 10:00Z', 2, 3, 1, 2, 0.5, 0.05, 180, 1, 1, 0, 7),
            ('H1', '2024-01-30 10:59Z', 1, 4, 4, 4, 0, 0.0625, 90, 0, 1, 1, 7);
     SELECT concat_ws(',', count, sum_kw, min_kw, max_kw, round(m2::numeric, 12), energy_kwh,
                      quality_sum, premium, standard, interpolated, closed, revision, window_end)
       FROM rollup_1h_stats WHERE meter_id = 'H1';
     INSERT INTO rollup_1h (meter_id, window_start, count, sum_kw, min_kw, max_kw, m2, energy_kwh,
                            quality_sum, premium, standard, interpolated, closed, revision)
     VALUES ('H1', '2024-01-30 10:00Z', 3, 7, 1, 4, 42.0 / 9, 0.1125, 270, 1, 2, 1, true, 1);
     SELECT count(*) || ',' || bool_and(closed)::int FROM rollup_1h_stats WHERE meter_id = 'H1';
     DELETE FROM rollup_1h WHERE meter_id = 'H1';
     INSERT INTO agg_watermarks (consumer_group, partition, watermark_ms)
     VALUES ('g1', 7, (extract(epoch FROM timestamptz '2024-01-30 10:59:59.999Z') * 1000)::bigint);
     SELECT sum(count) FROM rollup_1h_stats WHERE meter_id = 'H1';
     UPDATE agg_watermarks SET watermark_ms = (extract(epoch FROM timestamptz '2024-01-30 11:00Z') * 1000)::bigint
      WHERE consumer_group = 'g1';
     SELECT count(*) FROM rollup_1h_stats WHERE meter_id = 'H1';
     DELETE FROM agg_watermarks WHERE consumer_group = 'g1';
     DELETE FROM rollup_1m WHERE meter_id = 'H1';" 2>&1 | tr '\n' ' ')
want="3,7,1,4,4.666666666667,0.1125,270,1,2,1,f,0,2024-01-30 11:00:00+00 1,1 3 0 "
if [ "$got" = "$want" ]; then
    pass "rollup_1h_stats: an hour without a stored row is summed from its minutes, a stored one wins"
else
    fail "rollup_1h_stats: open hours from the minutes" "want: $want" "got:  $got"
fi

# ---------------------------------------------------------------------------
# The other tables.

expect "meter_current_status upserts keep the newest reading" "2024-02-01 00:05:00+00|2.5" \
    "SET TimeZone = 'UTC';
     INSERT INTO meter_current_status (meter_id, ts, value_kw, quality, tier)
          VALUES ('MTR-1', '2024-02-01 00:05Z', 2.5, 95, 'premium');
     INSERT INTO meter_current_status AS s (meter_id, ts, value_kw, quality, tier)
          VALUES ('MTR-1', '2024-02-01 00:01Z', 9.9, 80, 'standard')
     ON CONFLICT (meter_id) DO UPDATE SET ts = EXCLUDED.ts, value_kw = EXCLUDED.value_kw,
            quality = EXCLUDED.quality, tier = EXCLUDED.tier, updated_at = now()
      WHERE s.ts <= EXCLUDED.ts;
     SELECT ts, value_kw FROM meter_current_status WHERE meter_id = 'MTR-1'"
expect_error "meter_current_status refuses quality 101" 23514 \
    "INSERT INTO meter_current_status (meter_id, ts, value_kw, quality, tier) VALUES ('MTR-2', now(), 1, 101, 'premium')"
expect_error "meter_current_status refuses an unknown tier" 23514 \
    "INSERT INTO meter_current_status (meter_id, ts, value_kw, quality, tier) VALUES ('MTR-2', now(), 1, 90, 'gold')"
expect "sink_offsets and source_positions upsert" "101|7|2" \
    "INSERT INTO sink_offsets VALUES ('agg', 'meter.readings.validated', 3, 100);
     INSERT INTO sink_offsets VALUES ('agg', 'meter.readings.validated', 3, 101)
       ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset;
     INSERT INTO source_positions VALUES ('agg', 3, 5, 7, 1);
     INSERT INTO source_positions VALUES ('agg', 3, 5, 7, 2)
       ON CONFLICT (consumer_group, partition, src_partition)
       DO UPDATE SET src_offset = EXCLUDED.src_offset, src_index = EXCLUDED.src_index;
     SELECT next_offset, src_offset, src_index FROM sink_offsets, source_positions"
expect_error "sink_offsets refuses a negative offset" 23514 \
    "INSERT INTO sink_offsets VALUES ('agg', 't', 0, -1)"
expect_error "source_positions refuses a negative src_index" 23514 \
    "INSERT INTO source_positions VALUES ('agg', 0, 0, 0, -1)"

# ---------------------------------------------------------------------------
# Retention.

expect "drop_partitions_before drops the partitions entirely before the cut" "2" \
    "SELECT meterflow_drop_partitions_before('rollup_1m', '2024-02-01 00:00Z')"
expect "drop_partitions_before keeps a partition straddling the cut" "0" \
    "SELECT meterflow_drop_partitions_before('rollup_1m', '2024-02-01 12:00Z')"
expect "drop_partitions_before keeps the straddling and later partitions and their rows" \
    "rollup_1m_p20240201,rollup_1m_p20240228,rollup_1m_p20240229|2" \
    "SELECT (SELECT string_agg(c.relname, ',' ORDER BY c.relname)
               FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
              WHERE i.inhparent = 'rollup_1m'::regclass),
            (SELECT count(*) FROM rollup_1m)"
expect "drop_partitions_before(rollup_1h) drops the month before the cut" "1" \
    "SELECT meterflow_drop_partitions_before('rollup_1h', '2024-02-15Z')"
expect "drop_partitions_before(rollup_1h) keeps the month holding the cut" "rollup_1h_p202402" \
    "SELECT string_agg(c.relname, ',') FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = 'rollup_1h'::regclass"
expect_error "drop_partitions_before refuses an unknown table" 22023 \
    "SELECT meterflow_drop_partitions_before('meters', now())"
# The vehicle history's days (023): past VEHICLE_RETENTION_DAYS by the UTC date, rows and all,
# through the rollups' retention function.
q "SET TimeZone = 'UTC';
   SELECT meterflow_vehicle_history_days(ARRAY[current_date - 10, current_date - 5, current_date]);
   INSERT INTO vehicles (vehicle_id) VALUES ('EV-R');
   INSERT INTO vehicle_telemetry_history (vehicle_id, ts, soc_pct)
   SELECT 'EV-R', (d::timestamp AT TIME ZONE 'UTC') + interval '1 hour', 50
     FROM unnest(ARRAY[current_date - 10, current_date]) d" >/dev/null
expect "drop_partitions_before(vehicle_telemetry_history) 5 days back drops the day 10 days back" "1" \
    "SELECT meterflow_drop_partitions_before('vehicle_telemetry_history',
            date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - 5 * interval '1 day')"
expect "drop_partitions_before(vehicle_telemetry_history) keeps 5 days back and today, and their rows" \
    "vehicle_telemetry_history_p$(date -u -d '-5 days' +%Y%m%d),vehicle_telemetry_history_p$(date -u +%Y%m%d)|1" \
    "SELECT (SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_inherits i
               JOIN pg_class c ON c.oid = i.inhrelid
              WHERE i.inhparent = 'vehicle_telemetry_history'::regclass),
            (SELECT count(*) FROM vehicle_telemetry_history)"

# ---------------------------------------------------------------------------
# Concurrency.

# Four sessions ensure overlapping 90-day ranges at once (together
# 2025-01-06 .. 2025-04-20, 105 days): none fails, and between them they
# create each partition exactly once.
for i in 1 2 3 4; do
    (timeout 120 "$PSQL" "$DSN" -X -A -t -q -v ON_ERROR_STOP=1 \
        -c "SELECT meterflow_ensure_partitions('rollup_1m', '2025-01-01Z'::timestamptz + interval '$((i * 5)) days',
                                                '2025-03-31Z'::timestamptz + interval '$((i * 5)) days')" \
        >"$WORK/ens$i.out" 2>&1
    echo "rc=$?" >>"$WORK/ens$i.out") &
done
wait
sum=0
bad=
for i in 1 2 3 4; do
    grep -q '^rc=0$' "$WORK/ens$i.out" || bad="$bad $(tr '\n' ' ' <"$WORK/ens$i.out")"
    v=$(head -n 1 "$WORK/ens$i.out")
    [[ $v =~ ^[0-9]+$ ]] && sum=$((sum + v))
done
made=$(q "SELECT count(*) FROM pg_class WHERE relkind = 'r' AND relname LIKE 'rollup\_1m\_p2025%'")
if [ -z "$bad" ] && [ "$sum" -eq 105 ] && [ "$made" -eq 105 ]; then
    pass "4 concurrent ensure_partitions calls succeed and create each partition once"
else
    fail "concurrent ensure_partitions" "created=$sum existing=$made (want 105)" "$bad"
fi

# ensure_partitions must not wait behind an analyst's open read transaction
# (ATTACH needs SHARE UPDATE EXCLUSIVE on the parent, readers hold ACCESS SHARE).
"$PSQL" "$DSN" -X -q -c "BEGIN; SELECT count(*) FROM rollup_1h; SELECT pg_sleep(30); COMMIT;" \
    >/dev/null 2>&1 &
reader=$!
for _ in $(seq 1 100); do
    [ "$(q "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' AND wait_event = 'PgSleep'")" = 1 ] && break
    sleep 0.1
done
expect "ensure_partitions does not block behind an open reader" "1" \
    "SET lock_timeout = '3s'; SELECT meterflow_ensure_partitions('rollup_1h', '2024-05-01Z', '2024-05-01Z')"
q "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()" >/dev/null
wait "$reader" 2>/dev/null

# ---------------------------------------------------------------------------
# A database made by the version before 009 keeps its data after migrating
# forward: its rollups as they were, region_load_1h filled from them.

q "CREATE DATABASE meterflow_fwd" >/dev/null
DSN3=${DSN/dbname=meterflow/dbname=meterflow_fwd}
out=$(run_migrations "$DSN3" 8)
n=$(printf '%s\n' "$out" | grep -c '^applied ')
if [ "$n" -eq 8 ]; then pass "forward: 001-008 applied alone"; else fail "forward: 001-008" "$out"; fi
"$PSQL" "$DSN3" -X -q -v ON_ERROR_STOP=1 >/dev/null 2>"$WORK/fwd.err" <<'SQL'
SELECT meterflow_ensure_partitions('rollup_1h', '2024-03-01Z', '2024-03-01Z');
SELECT meterflow_ensure_partitions('rollup_1m', '2024-03-01Z', '2024-03-01Z');
INSERT INTO meters (meter_id, region) VALUES ('M1', 'north'), ('M2', 'north'), ('M3', NULL);
INSERT INTO rollup_1h (meter_id, window_start, count, sum_kw, min_kw, max_kw, m2, energy_kwh,
                       quality_sum, premium, standard, interpolated, closed, revision)
VALUES ('M1', '2024-03-01 10:00Z', 4, 10, 1, 4, 5, 0.5, 380, 4, 0, 0, true, 1),
       ('M2', '2024-03-01 10:00Z', 2, 3, 1, 2, 0.5, 0.25, 190, 1, 1, 0, true, 2),
       ('M3', '2024-03-01 10:00Z', 1, 2, 2, 2, 0, 0.125, 90, 0, 1, 0, true, 1),
       ('M4', '2024-03-01 11:00Z', 1, 2, 2, 2, 0, 1, 90, 0, 1, 0, false, 0);
INSERT INTO rollup_1m (meter_id, window_start, count, sum_kw, min_kw, max_kw, m2, energy_kwh,
                       quality_sum, premium, standard, interpolated, closed, revision)
VALUES ('M1', '2024-03-01 10:00Z', 4, 10, 1, 4, 5, 0.5, 380, 4, 0, 0, true, 1),
       ('M4', '2024-03-01 11:00Z', 1, 2, 2, 2, 0, 1, 90, 0, 1, 0, false, 0);
SQL
[ -s "$WORK/fwd.err" ] && fail "forward: data of the old version" "$(cat "$WORK/fwd.err")"
out=$(run_migrations "$DSN3")
n=$(printf '%s\n' "$out" | grep -c '^applied ')
if [ "$n" -eq $((NFILES - 8)) ]; then
    pass "forward: the later migrations apply over the old data"
else
    fail "forward: later migrations" "$out"
fi
qf() { "$PSQL" "$DSN3" -X -A -t -q -v ON_ERROR_STOP=1 -c "$1" 2>&1; }
got=$(qf "SET TimeZone = 'UTC';
          SELECT string_agg(concat_ws(',', region, window_start, energy_kwh, readings, meters), ' '
                            ORDER BY region, window_start) FROM region_load_1h")
want="north,2024-03-01 10:00:00+00,0.75,6,2 unknown,2024-03-01 10:00:00+00,0.125,1,1 unknown,2024-03-01 11:00:00+00,1,1,1"
if [ "$got" = "$want" ]; then pass "forward: region_load_1h filled from the old rollup_1h"; else fail "forward: region_load_1h" "want: $want" "got:  $got"; fi
# 040: quality_sum from the old rollup_1h (380 + 190 for north).
got=$(qf "SET TimeZone = 'UTC';
          SELECT string_agg(concat_ws(',', region, window_start, quality_sum), ' '
                            ORDER BY region, window_start) FROM region_load_1h")
want="north,2024-03-01 10:00:00+00,570 unknown,2024-03-01 10:00:00+00,90 unknown,2024-03-01 11:00:00+00,90"
if [ "$got" = "$want" ]; then pass "forward: region_load_1h.quality_sum filled from the old rollup_1h"; else fail "forward: region_load_1h.quality_sum" "want: $want" "got:  $got"; fi
# 031: fleet_load_1h filled from region_load_1h, and 040's quality_sum
# carried into it by the update trigger.
got=$(qf "SET TimeZone = 'UTC';
          SELECT string_agg(concat_ws(',', window_start, energy_kwh, readings, meters, quality_sum), ' '
                            ORDER BY window_start) FROM fleet_load_1h")
want="2024-03-01 10:00:00+00,0.875,7,3,660 2024-03-01 11:00:00+00,1,1,1,90"
if [ "$got" = "$want" ]; then pass "forward: fleet_load_1h sums region_load_1h (quality_sum from 040)"; else fail "forward: fleet_load_1h" "want: $want" "got:  $got"; fi
got=$(qf "SELECT string_agg(concat_ws(',', meter_id, count, closed, revision, coalesce(stddev_kw::text, 'null'),
                                    round(stddev_pop_kw::numeric, 9)), ' ' ORDER BY meter_id)
            FROM rollup_1h_stats")
want="M1,4,t,1,1.2909944487358056,1.118033989 M2,2,t,2,0.7071067811865476,0.500000000 M3,1,t,1,null,0.000000000 M4,1,f,0,null,0.000000000"
if [ "$got" = "$want" ]; then pass "forward: the old rows read through the views (sample and population stddev)"; else fail "forward: views" "want: $want" "got:  $got"; fi

# A database made before 040 where a meter moved region after its hour was
# counted: the hour's readings in region_load_1h no longer match the
# registry's, so 040 estimates it from the fleet's average quality of that
# hour (never 0, which would read as a quality collapse).
q "CREATE DATABASE meterflow_fwd40" >/dev/null
DSN4=${DSN/dbname=meterflow/dbname=meterflow_fwd40}
run_migrations "$DSN4" 39 >/dev/null
"$PSQL" "$DSN4" -X -q -v ON_ERROR_STOP=1 >/dev/null 2>"$WORK/fwd40.err" <<'SQL'
SELECT meterflow_ensure_partitions('rollup_1h', '2024-03-01Z', '2024-03-01Z');
INSERT INTO meters (meter_id, region) VALUES ('M1', 'south'), ('M2', 'north');
INSERT INTO rollup_1h (meter_id, window_start, count, sum_kw, min_kw, max_kw, m2, energy_kwh,
                       quality_sum, premium, standard, interpolated, closed, revision)
VALUES ('M1', '2024-03-01 10:00Z', 4, 10, 1, 4, 5, 0.5, 360, 4, 0, 0, true, 1),
       ('M2', '2024-03-01 10:00Z', 2, 3, 1, 2, 0.5, 0.25, 180, 1, 1, 0, true, 1);
-- As the aggregator counted them while M1 was still in north.
INSERT INTO region_load_1h VALUES ('north', '2024-03-01 10:00Z', 0.75, 6, 2);
SQL
[ -s "$WORK/fwd40.err" ] && fail "forward 040: data of the old version" "$(cat "$WORK/fwd40.err")"
run_migrations "$DSN4" >/dev/null
got=$("$PSQL" "$DSN4" -X -A -t -q -c "SELECT region, quality_sum FROM region_load_1h" 2>&1)
if [ "$got" = "north|540" ]; then pass "forward 040: a moved meter's hour gets the fleet's average quality"; else fail "forward 040: moved meter" "want: north|540" "got:  $got"; fi

# ---------------------------------------------------------------------------
# pgtmp.sh fault helpers: kill (immediate) then restart keeps data and DSN.

if "$PGTMP" kill "$WORK/pg" 2>"$WORK/pgtmp.err" && ! q "SELECT 1" >/dev/null 2>&1; then
    pass "pgtmp.sh kill stops the server at once"
else
    fail "pgtmp.sh kill" "$(cat "$WORK/pgtmp.err")"
fi
if dsn2=$("$PGTMP" restart "$WORK/pg" 2>"$WORK/pgtmp.err") && [ "$dsn2" = "$DSN" ]; then
    pass "pgtmp.sh restart comes back on the same DSN"
else
    fail "pgtmp.sh restart" "got: $dsn2" "$(cat "$WORK/pgtmp.err")"
fi
expect "data survives kill + restart" "2" "SELECT count(*) FROM rollup_1m"

finish
