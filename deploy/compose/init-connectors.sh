#!/bin/sh
# init-connectors.sh: registers every deploy/connect/*.json connector with the
# compose stack's Kafka Connect (service `connect-init`, curlimages/curl).
#
# Each file is a connector's config map whose "name" equals the file's base
# name, so `PUT /connectors/<name>/config` creates the connector the first
# time and updates it afterwards: re-running is safe.
set -eu

CONNECT_URL=${CONNECT_URL:-http://connect:8083}
CONNECTOR_DIR=${CONNECTOR_DIR:-/connect}

# Connect answers on its REST port before it has joined its group; wait
# until meterflow's S3 sink is listed, or give up after ~5 minutes.
i=0
until curl -fsS "$CONNECT_URL/connector-plugins" 2>/dev/null | grep -q 'dev.meterflow.connect.S3SinkConnector'; do
    i=$((i + 1))
    if [ "$i" -ge 150 ]; then
        echo "init-connectors: Kafka Connect at $CONNECT_URL has no S3 sink plugin after 300 s" >&2
        exit 1
    fi
    sleep 2
done

for f in "$CONNECTOR_DIR"/*.json; do
    name=$(basename "$f" .json)
    echo "init-connectors: PUT $name"
    curl -fsS -X PUT -H 'Content-Type: application/json' --data @"$f" \
        "$CONNECT_URL/connectors/$name/config" >/dev/null
done

# Show the state once, so `docker compose logs connect-init` tells whether
# the tasks started (a bad config fails here, not silently later).
sleep 5
for f in "$CONNECTOR_DIR"/*.json; do
    name=$(basename "$f" .json)
    curl -fsS "$CONNECT_URL/connectors/$name/status"
    echo
done
