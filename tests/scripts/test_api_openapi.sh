#!/bin/bash
# test_api_openapi.sh: analytics-api held to schemas/openapi.yaml.
#
# Starts the real daemon over a throw-away PostgreSQL filled by
# tests/data/api/fixture.sql and runs schemathesis (PyPI, pinned in
# tools/venv/requirements-api.txt, installed by `tools/venv-fetch api`)
# against it from the document: generated requests for every operation,
# valid and invalid, with a read token. Fails on any 5xx, any status code
# the document does not list for the operation, and any body, content type
# or header that breaks the document. Then the same document is checked to
# describe every route the server answers (a path the server has and the
# document lacks fails too). Prints "api-openapi: ..." last; exit 0/1; 77
# (skip) without PostgreSQL's server binaries.
set -u
cd "$(dirname "$0")/../.."
TOP=$(pwd)

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "api-openapi: skipped: PostgreSQL server binaries absent (apt-get install postgresql)"
    exit 77
fi
venv=$(tools/venv-fetch api) || { echo "api-openapi: FAILED: tools/venv-fetch api"; exit 1; }

. tests/lib/api-stack.sh
api_stack_init api-openapi

api_stack_start "$T" "-v meters=40 -v regions=3 -v meters_1h=40 -v days_1h=4 -v meters_1m=4 -v days_1m=1 -v feeders=3 -v vehicles=5" ||
    fail "the stack did not start"
PORT=$API_PORT
TOKEN=$API_TOKEN

# Every operation, generated examples (a fixed seed: a failure reproduces),
# the checks that hold an answer to the document. Run from $T: schemathesis
# keeps a cache (.schemathesis/) in its working directory.
if ! (cd "$T" && "$venv/bin/schemathesis" run "$TOP/schemas/openapi.yaml" --url "http://127.0.0.1:$PORT" \
    -H "Authorization: Bearer $TOKEN" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --max-examples "${API_OPENAPI_EXAMPLES:-60}" --seed 13 --request-timeout 10 --no-color \
    >"$T/st.log" 2>&1); then
    tail -n 60 "$T/st.log"
    fail "schemathesis found answers that break schemas/openapi.yaml (above)"
fi
summary=$(grep -E "[0-9]+ passed|operations" "$T/st.log" | tail -n 2 | tr '\n' ' ')

# The document covers the server: each known route of the server is a path
# of the document (the server answers 404 "no such endpoint" for others).
"$venv/bin/python" - "$PORT" "$TOKEN" <<'PY' || fail "the document and the server's routes differ"
import json, sys, urllib.request, urllib.error, yaml
port, token = sys.argv[1], sys.argv[2]
doc = yaml.safe_load(open("schemas/openapi.yaml"))
paths = set(doc["paths"])
probes = {"/v1/meters/{id}/status": "/v1/meters/MTR-00001/status",
          "/v1/meters/{id}/rollups": "/v1/meters/MTR-00001/rollups",
          "/v1/meters/{id}/alerts": "/v1/meters/MTR-00001/alerts",
          "/v1/fleet/load": "/v1/fleet/load", "/v1/fleet/quality": "/v1/fleet/quality",
          "/v1/fleet/peaks": "/v1/fleet/peaks",
          "/healthz": "/healthz", "/readyz": "/readyz",
          "/metrics": "/metrics", "/": "/", "/chart.js": "/chart.js",
          "/v1/feeders/{id}/balance": "/v1/feeders/FDR-1/balance",
          "/v1/weather/{region}": "/v1/weather/region-1",
          "/v1/analytics/performance/{vehicleId}": "/v1/analytics/performance/EV-1"}
bad = 0
for p in sorted(paths | set(probes)):
    if p not in probes:
        print(f"document path {p} has no probe here: add one"); bad += 1; continue
    if p not in paths:
        print(f"server route {p} missing from the document"); bad += 1; continue
    req = urllib.request.Request(f"http://127.0.0.1:{port}{probes[p]}",
                                 headers={"Authorization": f"Bearer {token}"})
    try:
        code = urllib.request.urlopen(req, timeout=10).status
    except urllib.error.HTTPError as e:
        code = e.code
    if code != 200:
        print(f"{probes[p]}: {code}"); bad += 1
sys.exit(1 if bad else 0)
PY
echo "api-openapi: schemathesis: $summary; every route documented"
