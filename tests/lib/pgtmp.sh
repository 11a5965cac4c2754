#!/bin/bash
# pgtmp.sh: a throw-away PostgreSQL cluster for tests (DESIGN §10).
#
# Uses Debian's server binaries directly (/usr/lib/postgresql/<ver>/bin), never
# pg_ctlcluster or the system cluster: everything lives under the DIR the
# caller passes, the server listens on 127.0.0.1 only and its unix socket is in
# DIR. Durability is traded for speed (fsync=off ...): tests only.
#
#   pgtmp.sh start DIR [PORT]  initdb (first time) + start; prints the DSN
#                              "host=127.0.0.1 port=N dbname=meterflow user=U"
#                              on stdout (one line) and writes it to DIR/dsn
#   pgtmp.sh stop DIR          fast shutdown; no error if not running
#   pgtmp.sh kill DIR          immediate shutdown (crash-like), for fault tests
#   pgtmp.sh freeze DIR        SIGSTOP the server and its backends: it accepts
#                              TCP connections (the kernel does) and answers
#                              nothing, as one cut off by the network would
#   pgtmp.sh thaw DIR          SIGCONT them (stop, kill and destroy thaw first)
#   pgtmp.sh restart DIR       start again, same data and port; prints the DSN
#   pgtmp.sh destroy DIR       stop, then rm -rf DIR
#   pgtmp.sh status DIR        exit 0 if running, 3 if not
#   pgtmp.sh dsn DIR           print the DSN
#
# Without PORT, start picks a free port in 20000-32767 (below Linux's
# ephemeral range, where the Kafka mock cluster's brokers bind) and retries
# with another one if the bind loses a race with a concurrent test.
# Run as root, the cluster belongs to the postgres user (initdb refuses root):
# DIR is chowned to postgres and every server command runs via runuser.
# Errors: one line on stderr starting with "pgtmp:", exit status 1 (2: usage).
#
# PGTMP_TLS_DIR=DIR at the first start: the server speaks TLS with DIR's
# server.pem and server.key, and TCP clients must use TLS and a password
# (scram-sha-256; set one with ALTER ROLE over the unix socket, which stays
# trusted): what `sslmode=verify-full` is tested against.

set -u
umask 022

PROG=pgtmp
MARKER=.pgtmp          # marks DIR as ours, so destroy never rm -rf's a stranger
START_TIMEOUT=60       # seconds pg_ctl waits for the server
PORT_TRIES=20          # random ports tried when the caller gives none

die() {
    printf '%s: %s\n' "$PROG" "$*" >&2
    exit 1
}

usage() {
    printf 'usage: %s start DIR [PORT] | stop DIR | kill DIR | freeze DIR | thaw DIR | restart DIR | destroy DIR | status DIR | dsn DIR\n' \
        "$0" >&2
    exit 2
}

# --- environment --------------------------------------------------------------

# Newest installed server version: ls sorts 9.6 after 15, so sort -V.
find_bindir() {
    local initdb
    initdb=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)
    [ -n "$initdb" ] || die "initdb not found in /usr/lib/postgresql/*/bin: apt-get install postgresql"
    BIN=${initdb%/initdb}
    local b
    for b in pg_ctl postgres createdb psql; do
        [ -x "$BIN/$b" ] || die "$BIN/$b not found: apt-get install postgresql"
    done
}

# Server commands run as the cluster owner. As root that is postgres.
setup_user() {
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || die "user 'postgres' does not exist: apt-get install postgresql"
        PGUSER_NAME=postgres
        AS_ROOT=1
    else
        PGUSER_NAME=$(id -un)
        AS_ROOT=0
    fi
}

as_owner() {
    if [ "$AS_ROOT" -eq 1 ]; then
        if command -v runuser >/dev/null 2>&1; then
            runuser -u postgres -- "$@"
        else
            su -s /bin/sh postgres -c "$(printf '%q ' "$@")"
        fi
    else
        "$@"
    fi
}

# The caller's libpq variables must not redirect our own client calls.
unset PGHOST PGHOSTADDR PGPORT PGDATABASE PGUSER PGSERVICE PGOPTIONS PGSSLMODE \
    PGCONNECT_TIMEOUT PGPASSFILE PGSERVICEFILE PGDATA

# --- helpers ------------------------------------------------------------------

# Absolute, symlink-free DIR; sets DIR, DATA.
resolve_dir() {
    local d=$1
    [ -n "$d" ] || usage
    if [ -d "$d" ]; then
        DIR=$(cd "$d" && pwd -P) || die "cannot enter '$d'"
    else
        DIR=
    fi
    DATA=${DIR:+$DIR/data}
}

is_ours() {
    [ -f "$DIR/$MARKER" ]
}

# Port recorded at the last successful configure.
saved_port() {
    [ -f "$DIR/port" ] || die "'$DIR' has no port file: not started with pgtmp.sh start"
    cat "$DIR/port"
}

dsn_for() {
    printf 'host=127.0.0.1 port=%s dbname=meterflow user=%s' "$1" "$PGUSER_NAME"
}

# Is something accepting TCP connections on 127.0.0.1:$1?
port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pick_port() {
    local p
    for _ in $(seq 1 50); do
        p=$(shuf -i 20000-32767 -n 1)
        if ! port_busy "$p"; then
            echo "$p"
            return 0
        fi
    done
    die "no free TCP port found in 20000-32767"
}

# pg_ctl status: 0 running, 3 not running, 4 no data directory.
is_running() {
    [ -f "$DATA/PG_VERSION" ] || return 1
    as_owner "$BIN/pg_ctl" status -D "$DATA" >/dev/null 2>&1
}

# The last FATAL/ERROR/PANIC line of the server log, to put into our one line.
last_log_error() {
    [ -f "$DIR/pg.log" ] || return 0
    grep -E 'FATAL|PANIC|ERROR|could not' "$DIR/pg.log" 2>/dev/null | tail -n 1 | cut -c1-300
}

# Our settings live in their own file, included from postgresql.conf, so a
# port change on retry rewrites one file instead of editing initdb's.
write_conf() {
    local port=$1 sockdir
    # postgresql.conf strings use '' for a quote.
    sockdir=${DIR//\'/\'\'}
    cat >"$DATA/pgtmp.conf" <<EOF
# written by pgtmp.sh: throw-away test cluster, not durable
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$sockdir'
max_connections = 100
shared_buffers = 64MB
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
timezone = 'UTC'
log_timezone = 'UTC'
lc_messages = 'C'
log_line_prefix = '%m [%p] %q%u@%d '
logging_collector = off
EOF
    echo "$port" >"$DIR/port"
    if [ "$AS_ROOT" -eq 1 ]; then
        chown postgres: "$DATA/pgtmp.conf" "$DIR/port"
    fi
}

write_dsn() {
    dsn_for "$1" >"$DIR/dsn"
    echo >>"$DIR/dsn"
}

# pg_ctl start; returns 0 when up, 1 on failure (log in DIR/pg.log).
pg_start() {
    as_owner "$BIN/pg_ctl" start -w -t "$START_TIMEOUT" -D "$DATA" -l "$DIR/pg.log" \
        >>"$DIR/pg_ctl.log" 2>&1 || return 1
    # pg_ctl creates the log 0600; let any user of the test read it.
    as_owner chmod a+r "$DIR/pg.log" 2>/dev/null
    return 0
}

# The server failed because its port was taken (lost a race)?
bind_failed() {
    tail -n 20 "$DIR/pg.log" 2>/dev/null | grep -q -E 'could not (bind|create any TCP/IP sockets)|Address already in use'
}

create_db() {
    local port=$1 out
    # Over the unix socket in DIR: needs no TCP and no password.
    out=$(as_owner "$BIN/psql" -X -q -h "$DIR" -p "$port" -d postgres -v ON_ERROR_STOP=1 \
        -c "SELECT 1 FROM pg_database WHERE datname = 'meterflow'" -t -A 2>&1) ||
        die "cannot query server on port $port: $(echo "$out" | head -n 1)"
    if [ "$out" != "1" ]; then
        out=$(as_owner "$BIN/createdb" -h "$DIR" -p "$port" meterflow 2>&1) ||
            die "createdb meterflow failed: $(echo "$out" | head -n 1)"
    fi
}

# --- commands -----------------------------------------------------------------

cmd_start() {
    local arg_dir=$1 want_port=${2:-} port try
    if [ -n "$want_port" ]; then
        case $want_port in
        *[!0-9]* | '') die "invalid port '$want_port': want 1024-65535" ;;
        esac
        [ "$want_port" -ge 1024 ] && [ "$want_port" -le 65535 ] ||
            die "invalid port '$want_port': want 1024-65535"
    fi

    mkdir -p "$arg_dir" 2>/dev/null || die "cannot create directory '$arg_dir'"
    resolve_dir "$arg_dir"
    if ! is_ours; then
        [ -z "$(ls -A "$DIR")" ] || die "'$DIR' is not empty and not a pgtmp directory"
        : >"$DIR/$MARKER" || die "cannot write in '$DIR'"
    fi
    chmod 755 "$DIR" || die "cannot chmod '$DIR'"

    # A unix socket path is limited to 107 bytes (sun_path).
    [ ${#DIR} -le 90 ] || die "directory path too long for a unix socket (${#DIR} > 90 bytes): '$DIR'"

    if [ "$AS_ROOT" -eq 1 ]; then
        chown -R postgres: "$DIR" || die "cannot chown '$DIR' to postgres"
        as_owner test -x "$DIR" -a -w "$DIR" ||
            die "user postgres cannot reach '$DIR': a parent directory is not traversable (chmod o+x)"
    fi

    # Already running: just report it (start is idempotent).
    if is_running; then
        port=$(saved_port)
        [ -z "$want_port" ] || [ "$want_port" = "$port" ] ||
            die "cluster in '$DIR' already runs on port $port, not $want_port"
        create_db "$port"
        write_dsn "$port"
        dsn_for "$port"
        echo
        return 0
    fi

    if [ ! -f "$DATA/PG_VERSION" ]; then
        # C locale: a fresh Debian may have no other locale generated, and
        # byte order is what tests expect. --no-sync: nothing here is durable.
        as_owner "$BIN/initdb" -D "$DATA" -U "$PGUSER_NAME" --auth=trust -E UTF8 --locale=C \
            --no-sync >"$DIR/initdb.log" 2>&1 ||
            die "initdb failed: $(grep -v '^$' "$DIR/initdb.log" | tail -n 1) (see $DIR/initdb.log)"
        # Loopback only; trust is fine because nothing else can connect.
        cat >"$DATA/pg_hba.conf" <<'EOF'
# written by pgtmp.sh: throw-away test cluster, loopback only
local all all              trust
host  all all 127.0.0.1/32 trust
EOF
        echo "include 'pgtmp.conf'" >>"$DATA/postgresql.conf"
        if [ -n "${PGTMP_TLS_DIR:-}" ]; then
            cp "$PGTMP_TLS_DIR/server.pem" "$DATA/server.crt" &&
                cp "$PGTMP_TLS_DIR/server.key" "$DATA/server.key" ||
                die "PGTMP_TLS_DIR=$PGTMP_TLS_DIR: want server.pem and server.key there"
            chmod 600 "$DATA/server.key"
            cat >"$DATA/pg_hba.conf" <<'EOF'
# written by pgtmp.sh (PGTMP_TLS_DIR): TCP only over TLS and with a password
local   all all              trust
hostssl all all 127.0.0.1/32 scram-sha-256
host    all all 127.0.0.1/32 reject
EOF
            printf "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n" \
                >>"$DATA/postgresql.conf"
        fi
        if [ "$AS_ROOT" -eq 1 ]; then
            chown postgres: "$DATA/pg_hba.conf" "$DATA"/server.* 2>/dev/null
        fi
    elif [ -f "$DIR/port" ] && [ -z "$want_port" ]; then
        # Existing stopped cluster: keep its port, like restart.
        want_port=$(cat "$DIR/port")
    fi

    try=0
    while :; do
        try=$((try + 1))
        if [ -n "$want_port" ]; then port=$want_port; else port=$(pick_port); fi
        if [ -n "$want_port" ] && port_busy "$port"; then
            die "port $port is already in use"
        fi
        write_conf "$port"
        if pg_start; then
            break
        fi
        if [ -z "$want_port" ] && [ "$try" -lt "$PORT_TRIES" ] && bind_failed; then
            continue # lost a race for the port: pick another
        fi
        die "server did not start on port $port: $(last_log_error) (see $DIR/pg.log)"
    done

    create_db "$port"
    write_dsn "$port"
    dsn_for "$port"
    echo
}

# SIGSTOP or SIGCONT the server's processes (the postmaster and its children), by pid.
signal_server() {
    local sig=$1 pid
    [ -f "$DATA/postmaster.pid" ] || return 0
    pid=$(head -n 1 "$DATA/postmaster.pid")
    [ -n "$pid" ] || return 0
    kill "-$sig" "$pid" $(pgrep -P "$pid") 2>/dev/null
    return 0
}

cmd_signal() {
    resolve_dir "$2"
    [ -n "$DIR" ] && [ -f "$DATA/PG_VERSION" ] || die "no cluster in '$2'"
    signal_server "$1"
}

cmd_stop() {
    local mode=$1
    resolve_dir "$2"
    [ -n "$DIR" ] && [ -f "$DATA/PG_VERSION" ] || return 0
    signal_server CONT # a frozen server would never act on the stop
    if is_running; then
        as_owner "$BIN/pg_ctl" stop -w -t "$START_TIMEOUT" -D "$DATA" -m "$mode" \
            >>"$DIR/pg_ctl.log" 2>&1 || {
            # It may have exited between status and stop: only fail if it is still up.
            is_running && die "pg_ctl stop -m $mode failed (see $DIR/pg.log)"
        }
    fi
    return 0
}

cmd_restart() {
    local port
    resolve_dir "$1"
    [ -n "$DIR" ] && [ -f "$DATA/PG_VERSION" ] || die "no cluster in '$1': run pgtmp.sh start first"
    port=$(saved_port)
    if is_running; then
        as_owner "$BIN/pg_ctl" restart -w -t "$START_TIMEOUT" -D "$DATA" -m fast -l "$DIR/pg.log" \
            >>"$DIR/pg_ctl.log" 2>&1 ||
            die "restart on port $port failed: $(last_log_error) (see $DIR/pg.log)"
    else
        port_busy "$port" && die "cannot restart: port $port is now used by another process"
        pg_start || die "server did not restart on port $port: $(last_log_error) (see $DIR/pg.log)"
    fi
    write_dsn "$port"
    dsn_for "$port"
    echo
}

cmd_destroy() {
    resolve_dir "$1"
    [ -n "$DIR" ] || return 0 # nothing there
    is_ours || die "refusing to remove '$DIR': not a pgtmp directory (no $MARKER)"
    cmd_stop immediate "$DIR"
    rm -rf "$DIR" || die "cannot remove '$DIR'"
}

cmd_status() {
    resolve_dir "$1"
    [ -n "$DIR" ] || exit 3
    if is_running; then exit 0; else exit 3; fi
}

cmd_dsn() {
    resolve_dir "$1"
    [ -n "$DIR" ] || die "no such directory '$1'"
    dsn_for "$(saved_port)"
    echo
}

# --- main ---------------------------------------------------------------------

[ $# -ge 2 ] || usage
find_bindir
setup_user
cmd=$1
shift
# Server commands run as postgres, which may not be able to enter our cwd.
case $1 in
/*) ;;
*) set -- "$(pwd -P)/$1" "${@:2}" ;;
esac
cd / || die "cannot cd /"

case $cmd in
start)
    [ $# -le 2 ] || usage
    cmd_start "$@"
    ;;
stop)
    [ $# -eq 1 ] || usage
    cmd_stop fast "$1"
    ;;
kill)
    [ $# -eq 1 ] || usage
    cmd_stop immediate "$1"
    ;;
freeze)
    [ $# -eq 1 ] || usage
    cmd_signal STOP "$1"
    ;;
thaw)
    [ $# -eq 1 ] || usage
    cmd_signal CONT "$1"
    ;;
restart)
    [ $# -eq 1 ] || usage
    cmd_restart "$1"
    ;;
destroy)
    [ $# -eq 1 ] || usage
    cmd_destroy "$1"
    ;;
status)
    [ $# -eq 1 ] || usage
    cmd_status "$1"
    ;;
dsn)
    [ $# -eq 1 ] || usage
    cmd_dsn "$1"
    ;;
*) usage ;;
esac
