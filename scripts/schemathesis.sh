#!/usr/bin/env bash
# Checks a live funnel-ingest against its OpenAPI document (deploy/openapi.yaml, served on
# GET /openapi.json) with schemathesis: a private Tansu broker with every topic, funnel-ingest
# with a fresh admin API key, then schemathesis's examples, coverage and fuzzing phases.
# Fails on any 5xx, any response that does not conform to the document (status code, content
# type, headers, body), a request the document rejects but the API accepts, a request it
# accepts but the API rejects, and an endpoint that ignores its authentication.
# Broker and ingest are stopped on exit, also on failure or Ctrl-C.
#
# The checks and their per-operation exceptions are in scripts/schemathesis.toml: a generated
# CSV file is not expected to be importable (POST /v1/imports is not held to accepting it), and
# the links in e-mails answer any token not signed with the secret 404. funnel-ingest gets the
# tracking secret the document's example tokens are signed with (valid until 2100, or expired),
# so the examples reach the pixel, the redirect, the unsubscribe page and form, and 410.
#
# The seed is fixed, so a run is reproducible (the versions are pinned in bootstrap.sh).
# Another seed may find a known inexactness: the API trims, counts and splits by *grapheme
# clusters* (a whitespace followed by a combining mark or an emoji modifier is whitespace; a
# `,` or `:` followed by one does not separate `map`), which no JSON Schema pattern can
# express; the document counts code points.
#
# Needs the debug binaries (swift build --build-tests, as scripts/test does) and .venv
# (scripts/bootstrap.sh). Optional environment:
#   FUNNEL_BIN_DIR                directory of funnel and funnel-ingest (default .build/debug)
#   SCHEMATHESIS_MAX_EXAMPLES     fuzzed cases per operation (default 100)
#   SCHEMATHESIS_SEED             seed of the generated cases (default fixed)
# Extra arguments go to `schemathesis run` (e.g. --include-path /v1/leads).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

BIN="${FUNNEL_BIN_DIR:-$ROOT/.build/debug}"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-100}"
SEED="${SCHEMATHESIS_SEED:-20261123}"
# Signs the example tokens of deploy/openapi.yaml; used by this throwaway funnel-ingest only.
TRACKING_SECRET="schemathesis-only-tracking-secret-not-for-production"

say() { printf '[schemathesis] %s\n' "$*" >&2; }

for tool in "$BIN/funnel" "$BIN/funnel-ingest" .venv/bin/schemathesis; do
  [ -x "$tool" ] || { say "ERROR: $tool not found (run scripts/bootstrap.sh and swift build --build-tests)"; exit 1; }
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/funnel-schemathesis.XXXXXX")"
BROKER_PID=""
INGEST_PID=""
WATCH_PID=""
SCHEMATHESIS_PID=""

# Stops a process: SIGTERM, up to 15 s to exit, then SIGKILL.
stop() {
  local pid=$1 i
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local status=$?
  set +e
  trap - EXIT INT TERM
  [ -n "$WATCH_PID" ] && kill "$WATCH_PID" 2>/dev/null
  stop "$SCHEMATHESIS_PID"
  stop "$INGEST_PID"
  stop "$BROKER_PID"
  if [ "$status" -eq 0 ]; then
    rm -rf "$WORK"
  else
    say "FAILED (exit $status); logs kept in $WORK"
    [ -f "$WORK/funnel-ingest.log" ] && { say "last lines of funnel-ingest.log:"; tail -n 20 "$WORK/funnel-ingest.log" >&2; }
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() { .venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
can_connect() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# 1. A private broker (funnel broker runs Tansu as its child and stops it when it exits).
BROKER_PORT="$(free_port)"
"$BIN/funnel" broker --port "$BROKER_PORT" >"$WORK/broker.log" 2>&1 &
BROKER_PID=$!
for _ in $(seq 200); do can_connect "$BROKER_PORT" && break; kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.1; done
can_connect "$BROKER_PORT" || { say "ERROR: the broker did not start (see $WORK/broker.log)"; exit 1; }
"$BIN/funnel" topics create --brokers "127.0.0.1:$BROKER_PORT" --partitions 2 >"$WORK/topics.log" 2>&1 \
  || { say "ERROR: cannot create the topics (see $WORK/topics.log)"; exit 1; }

# 2. funnel-ingest with a fresh admin key, the shipped configuration, and a rate limit far
#    above what the run sends (429 stays documented; it is not what is under test here).
KEY_JSON="$("$BIN/funnel" keys create --source schemathesis --scope admin --json)"
KEY="$(.venv/bin/python -c 'import json, sys; print(json.loads(sys.argv[1])["key"])' "$KEY_JSON")"
KEY_LINE="$(.venv/bin/python -c 'import json, sys; print(json.loads(sys.argv[1])["line"])' "$KEY_JSON")"
INGEST_PORT="$(free_port)"
env -u FUNNEL_MAX_BATCH -u FUNNEL_MAX_IMPORT_BYTES -u FUNNEL_TRACKING_SECRET_PREVIOUS -u FUNNEL_TRACKING_SECRET_FILE \
  KAFKA_BROKERS="127.0.0.1:$BROKER_PORT" FUNNEL_HTTP_PORT="$INGEST_PORT" FUNNEL_CONFIG_DIR="$ROOT/deploy" \
  FUNNEL_API_KEYS="$KEY_LINE" FUNNEL_RATE_LIMIT=100000 FUNNEL_RATE_BURST=100000 FUNNEL_PARENT_PID=$$ \
  FUNNEL_TRACKING_SECRET="$TRACKING_SECRET" \
  "$BIN/funnel-ingest" >"$WORK/funnel-ingest.log" 2>&1 &
INGEST_PID=$!
# If this script is killed outright (no trap runs), take broker and ingest down with it.
( while kill -0 $$ 2>/dev/null; do sleep 1; done; kill -TERM "$INGEST_PID" "$BROKER_PID" 2>/dev/null ) &
WATCH_PID=$!

BASE="http://127.0.0.1:$INGEST_PORT"
ready() { .venv/bin/python -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$BASE/readyz" 2>/dev/null; }
for _ in $(seq 300); do ready && break; kill -0 "$INGEST_PID" 2>/dev/null || break; sleep 0.1; done
ready || { say "ERROR: funnel-ingest did not become ready"; exit 1; }

# 3. The served document is deploy/openapi.yaml as JSON (schemathesis does not test the
#    operation it loads the document from), but for the enumerations of the CountryName
#    schemas, which funnel-ingest fills in from data/country-names.tsv and country-aliases.tsv.
.venv/bin/python - "$BASE/openapi.json" deploy/openapi.yaml <<'PY' || { say "ERROR: GET /openapi.json does not serve deploy/openapi.yaml"; exit 1; }
import json, sys, urllib.request, yaml
with urllib.request.urlopen(sys.argv[1], timeout=5) as reply:
    assert reply.headers.get("Content-Type") == "application/json", reply.headers.get("Content-Type")
    served = json.load(reply)
with open(sys.argv[2], encoding="utf-8") as f:
    document = yaml.safe_load(f)
for name in ["CountryName"] + [f"CountryNameCallingCode{n}" for n in (1, 2, 3)]:
    listed, filled = document["components"]["schemas"][name].pop("enum"), served["components"]["schemas"][name].pop("enum")
    assert set(listed) <= set(filled), f"{name}: {sorted(set(listed) - set(filled))} not served"
    assert name != "CountryName" or len(filled) > 4000, f"CountryName: only {len(filled)} names served"
assert served == document, "the JSON differs from the YAML"
PY

# 4. schemathesis, configured by scripts/schemathesis.toml (the checks) and
#    scripts/schemathesis_hooks.py (text replies are checked against their schemas too).
say "checking $BASE/openapi.json (broker 127.0.0.1:$BROKER_PORT, seed $SEED, $MAX_EXAMPLES fuzzed cases per operation)"
# One worker: with two, Python 3.11's ast module (which Hypothesis calls to describe strategies)
# fails now and then with "SystemError: AST constructor recursion depth mismatch".
# Run in the background and wait, so that a signal reaches the trap at once; from $WORK, where
# schemathesis leaves its cache (.schemathesis/).
start=$SECONDS
(cd "$WORK" && SCHEMATHESIS_HOOKS="$ROOT/scripts/schemathesis_hooks.py" exec "$ROOT/.venv/bin/schemathesis" --config-file "$ROOT/scripts/schemathesis.toml" run "$BASE/openapi.json" \
  --url "$BASE" \
  --header "Authorization: Bearer $KEY" \
  --phases examples,coverage,fuzzing \
  --max-examples "$MAX_EXAMPLES" \
  --seed "$SEED" \
  --generation-database none \
  --workers 1 \
  --request-timeout 30 \
  --no-color \
  "$@") &
SCHEMATHESIS_PID=$!
wait "$SCHEMATHESIS_PID"
say "passed in $((SECONDS - start)) s"
