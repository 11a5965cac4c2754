# bench/lib.sh: what the shell benchmarks share; sourced, never run.
#
#   kafka_start DIR   a real Apache Kafka broker (tools/kafka-local, a
#                     single KRaft node with the DESIGN §2 topics) on a free
#                     port, heap $BENCH_KAFKA_HEAP (default 512m, the
#                     script's own default), its output in DIR; sets BOOT
#                     (the bootstrap address), KAFKA_LOCAL_PID (the script),
#                     JVM_PID (the broker's JVM) and BROKER (one line naming
#                     the broker: version, KRaft roles, heap, Java)
#   kafka_stop        SIGTERM to kafka-local, which stops the JVM and
#                     removes its log directory; waits for it
#   kafka_warm [N]    N records (default $BENCH_KAFKA_WARM, 6,000,000) into
#                     a topic of their own (bench.warm, which nothing reads)
#                     before anything is timed: a fresh broker JVM spends its
#                     first tens of seconds under load compiling (on 2 busy
#                     cores its JIT compiler threads took 10-20 % of the
#                     machine for the first ~8 million records), which a
#                     broker in service has long done
#   timed PHASE NAME OUT SPEC -- CMD...
#                     runs CMD (stdout to OUT) under bench_cpu: appends to
#                     $CPU_LOG where the machine's CPU went during CMD (CMD
#                     as NAME, and the processes of SPEC: NAME=PID, NAME=PID+
#                     with children, NAME=jvm:PID the broker by thread role)
#
# Needs BIN (build/bin) and CPU_LOG set by the caller.

BENCH_KAFKA_HEAP=${BENCH_KAFKA_HEAP:-512m}
BENCH_KAFKA_WARM=${BENCH_KAFKA_WARM:-6000000}

kafka_start() {
    local dir=$1
    tools/kafka-local --port 0 --heap "$BENCH_KAFKA_HEAP" >"$dir/kafka.out" 2>"$dir/kafka.err" &
    KAFKA_LOCAL_PID=$!
    # kafka-local prints the address once the topics exist (it gives up after 60 s)
    for _ in $(seq 900); do
        [ -s "$dir/kafka.out" ] && break
        kill -0 "$KAFKA_LOCAL_PID" 2>/dev/null || break
        sleep 0.1
    done
    BOOT=$(head -n 1 "$dir/kafka.out" 2>/dev/null)
    if [ -z "$BOOT" ]; then
        echo "bench: tools/kafka-local did not start:" >&2
        cat "$dir/kafka.err" >&2
        return 1
    fi
    JVM_PID=$(pgrep -P "$KAFKA_LOCAL_PID" -x java | head -n 1)
    BROKER=$($BIN/bench_cpu describe "$JVM_PID")
}

kafka_stop() {
    [ -n "${KAFKA_LOCAL_PID:-}" ] || return 0
    kill -TERM "$KAFKA_LOCAL_PID" 2>/dev/null || true
    wait "$KAFKA_LOCAL_PID" 2>/dev/null || true
    KAFKA_LOCAL_PID=
}

kafka_warm() {
    # mf-topics creates the DESIGN §2 topics under TOPIC_* names: here only the raw one is new
    TOPIC_RAW=bench.warm $BIN/mf-topics --bootstrap "$BOOT" >/dev/null
    $BIN/bench_produce "$BOOT" bench.warm "${1:-$BENCH_KAFKA_WARM}" >/dev/null 2>&1
}

timed() { # PHASE NAME OUT SPEC -- CMD...
    local phase=$1 name=$2 out=$3 spec=$4
    shift 5
    # shellcheck disable=SC2086 # SPEC is a list of words
    $BIN/bench_cpu run -o "$CPU_LOG" "$phase" "$name" $spec -- "$@" >"$out"
}

# The gateway benchmarks' stage (bench-gw.sh, bench-overload.sh): wrk present,
# a work directory, a fresh broker, ingest-gw on a random port (auth off),
# ready; everything stopped and removed on exit (after the caller's
# bench_cleanup_more, if it defines one). Sets work, CPU_LOG, PORT, gw_pid.
# NAME names the work directory and the messages.
gw_bench_start() {
    local name=$1
    command -v wrk >/dev/null || { echo "bench-$name: wrk is not installed (apt-get install wrk)"; exit 1; }
    work=$(mktemp -d "/tmp/mf-bench-$name.XXXXXX")
    CPU_LOG=$work/cpu.txt
    gw_pid=
    trap gw_bench_cleanup EXIT
    kafka_start "$work"
    PORT=$(( 20000 + RANDOM % 10000 ))
    KAFKA_BROKERS=$BOOT GW_AUTH=off HTTP_ADDR=127.0.0.1:$PORT LOG_LEVEL=warn \
        $BIN/ingest-gw 2>"$work/gw.err" &
    gw_pid=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
}

gw_bench_cleanup() {
    if declare -F bench_cleanup_more >/dev/null; then bench_cleanup_more; fi
    if [ -n "${gw_pid:-}" ]; then kill "$gw_pid" 2>/dev/null || true; wait "$gw_pid" 2>/dev/null || true; fi
    kafka_stop
    rm -rf "$work"
}
