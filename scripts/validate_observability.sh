#!/usr/bin/env bash
# Checks the monitoring set-up without a Prometheus or Grafana server (none runs here):
#   - `promtool check config deploy/prometheus.yml` (scrape jobs, and the rule files it loads)
#   - `promtool check rules deploy/prometheus/alerts.yml`
#   - `promtool test rules deploy/prometheus/alerts.test.yml` (the alerts' unit tests)
#   - scripts/validate_observability.py: every metric in the rules and the Grafana dashboards is
#     one the code exports, the dashboard queries are PromQL (promtool again), the dashboard
#     JSON is sound, and the compose file mounts what Prometheus and Grafana expect.
# promtool comes from Debian's `prometheus` package (scripts/bootstrap.sh installs it).
# Extra arguments go to the Python check (e.g. `--expositions .build/e2e-metrics` after the
# end-to-end test, to check the labels the queries use).
# The last line is `observability: N passed, M failed`; the exit status is non-zero on any failure.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PROMTOOL="${PROMTOOL:-promtool}"
PYTHON="$ROOT/.venv/bin/python"
[ -x "$PYTHON" ] || PYTHON="python3"
passed=0
failed=0
pass() { passed=$((passed + 1)); printf 'PASS  %s\n' "$*"; }
fail() { failed=$((failed + 1)); printf 'FAIL  %s\n' "$*"; }

if ! command -v "$PROMTOOL" >/dev/null 2>&1; then
  fail "promtool not found: install Debian's prometheus package (scripts/bootstrap.sh does)"
  echo "observability: $passed passed, $failed failed"
  exit 1
fi
version="$("$PROMTOOL" --version 2>&1 | head -n1 | sed 's/^promtool, //; s/ (branch.*//')"

promtool_step() {
  local out
  if out="$("$PROMTOOL" "$@" 2>&1)"; then
    pass "promtool $* ($version)"
  else
    fail "promtool $*:"
    printf '%s\n' "$out" | sed 's/^/        /'
  fi
}
promtool_step check config deploy/prometheus.yml
promtool_step check rules deploy/prometheus/alerts.yml
promtool_step test rules deploy/prometheus/alerts.test.yml

py_out="$("$PYTHON" scripts/validate_observability.py --promtool "$(command -v "$PROMTOOL")" "$@")"
py_rc=$?
printf '%s\n' "$py_out" | grep -v '^observability:'
passed=$((passed + $(printf '%s\n' "$py_out" | grep -c '^PASS' || true)))
failed=$((failed + $(printf '%s\n' "$py_out" | grep -c '^FAIL' || true)))
if [ "$py_rc" -ne 0 ] && ! printf '%s\n' "$py_out" | grep -q '^FAIL'; then
  fail "scripts/validate_observability.py crashed (exit $py_rc)"
fi

echo "observability: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
