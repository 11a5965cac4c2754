#!/bin/bash
# mf-healthcheck ADDR_VAR DEFAULT_PORT [PATH]
#
# The images' HEALTHCHECK: GET http://127.0.0.1:<port><PATH> (default
# /healthz) and succeed only on an HTTP 200. The port comes from the same
# variable the program listens on (HTTP_ADDR for ingest-gw, METRICS_ADDR for
# the workers), so moving the listener does not silently break the check;
# DEFAULT_PORT is used when the variable is unset.
#
# bash's /dev/tcp instead of curl keeps curl and its libraries out of the
# image. HTTP/1.0 so the server closes the connection after the answer.
set -u
addr_var=${1:?usage: mf-healthcheck ADDR_VAR DEFAULT_PORT [PATH]}
port=${2:?usage: mf-healthcheck ADDR_VAR DEFAULT_PORT [PATH]}
path=${3:-/healthz}

addr=${!addr_var:-}
if [ -n "$addr" ]; then
    port=${addr##*:}          # "0.0.0.0:8080", ":8080", "[::]:8080" -> 8080
fi
case $port in
    ''|*[!0-9]*) echo "mf-healthcheck: bad port in $addr_var='$addr'" >&2; exit 1 ;;
esac

# A listener bound to a specific non-loopback address would refuse
# 127.0.0.1; the images bind 0.0.0.0, which includes loopback.
if ! exec 3<>"/dev/tcp/127.0.0.1/$port"; then
    echo "mf-healthcheck: cannot connect to 127.0.0.1:$port" >&2
    exit 1
fi
printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$path" >&3
status=""
read -r -t 4 status <&3 || true
exec 3<&-
case $status in
    "HTTP/1."?" 200"*) exit 0 ;;
    *) echo "mf-healthcheck: $path answered '${status%$'\r'}'" >&2; exit 1 ;;
esac
