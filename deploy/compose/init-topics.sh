#!/bin/bash
# init-topics.sh: creates every DESIGN §2 topic on the compose stack's Kafka,
# with its partition count and policies, then verifies them.
#
# Runs once (service `kafka-init`) inside the apache/kafka image, after the
# broker is healthy. Idempotent: re-running it on an existing stack changes
# nothing, re-applies the configs if someone edited them, and FAILS if a
# topic's partition count differs (partitions cannot be lowered, and raising
# them breaks co-partitioning: see deploy/README.md "Adding partitions").
#
# The broker runs with auto.create.topics.enable=false, so a program started
# with a misspelt TOPIC_* fails loudly instead of writing into a fresh
# 1-partition topic.
#
# The `topic` lines below are the contract's table; tests/scripts/test_deploy.py
# parses them (format: topic NAME PARTITIONS CLEANUP_POLICY RETENTION_MS|-).
set -euo pipefail

BOOTSTRAP=${BOOTSTRAP:-kafka:9092}
# One broker in compose. On a real cluster: 3, with min.insync.replicas=2 so
# that the producers' acks=all survives one broker down.
REPLICATION_FACTOR=${REPLICATION_FACTOR:-1}
KAFKA_BIN=${KAFKA_BIN:-/opt/kafka/bin}

SEVEN_DAYS_MS=604800000
THIRTY_DAYS_MS=2592000000

errors=0

topic() {
    local name=$1 partitions=$2 policy=$3 retention=$4
    local configs=(--config "cleanup.policy=$policy")
    # A compacted changelog keeps the latest state of every meter forever;
    # a time retention on it would delete the state of quiet meters.
    if [ "$retention" != "-" ]; then
        configs+=(--config "retention.ms=$retention")
    fi

    "$KAFKA_BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
        --topic "$name" --partitions "$partitions" \
        --replication-factor "$REPLICATION_FACTOR" "${configs[@]}"

    # --if-not-exists leaves an existing topic as it is: enforce the configs.
    local alter="cleanup.policy=$policy"
    [ "$retention" != "-" ] && alter="$alter,retention.ms=$retention"
    "$KAFKA_BIN/kafka-configs.sh" --bootstrap-server "$BOOTSTRAP" --alter \
        --entity-type topics --entity-name "$name" --add-config "$alter" >/dev/null

    # The partition count is part of the contract (co-partitioning): check it.
    local have
    have=$("$KAFKA_BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP" --describe --topic "$name" \
        | sed -n 's/.*PartitionCount: *\([0-9][0-9]*\).*/\1/p' | head -n 1)
    if [ "$have" != "$partitions" ]; then
        echo "init-topics: $name has $have partitions, the contract says $partitions" >&2
        errors=$((errors + 1))
    else
        echo "init-topics: $name ok ($partitions partitions, $policy, retention ${retention})"
    fi
}

# name                        partitions  cleanup  retention.ms
topic meter.readings.raw          12      delete   "$SEVEN_DAYS_MS"
topic meter.readings.validated    12      delete   "$SEVEN_DAYS_MS"
topic meter.readings.quarantine   12      delete   "$THIRTY_DAYS_MS"
topic meter.readings.dlq           3      delete   "$THIRTY_DAYS_MS"
topic meter.alerts                 3      delete   "$THIRTY_DAYS_MS"
topic meter.state.changelog       12      compact  -
topic meter.rollups.1m            12      delete   "$SEVEN_DAYS_MS"
topic meter.rollups.1h            12      delete   "$SEVEN_DAYS_MS"
topic grid.feeds                   3      delete   "$THIRTY_DAYS_MS"
topic weather.observations         3      delete   "$THIRTY_DAYS_MS"
topic vehicle.telemetry            6      delete   "$SEVEN_DAYS_MS"

if [ "$errors" -ne 0 ]; then
    echo "init-topics: $errors topic(s) do not match the contract" >&2
    exit 1
fi
echo "init-topics: all topics match DESIGN §2"
