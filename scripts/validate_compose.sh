#!/usr/bin/env bash
# Validates docker-compose.yml and deploy/Dockerfile without a Docker engine (none runs on
# the development machines or in CI). Installs what it needs, idempotently:
#   - Debian `docker-compose` (v1, 1.29): `docker-compose config -q` checks the file against
#     its bundled Compose schema, interpolation (`$$`), and that the build context exists.
#     It pulls in docker.io, but no daemon is started or needed.
#   - PyPI `compose-pydantic` (in .venv/): the Compose Specification as pydantic models;
#     every error is listed with its path.
#   - Funnel's own rules (PyYAML): one image for every Funnel service, the brief's
#     environment variables, score replicas, commands that name real executables, and a
#     Dockerfile whose runtime stage ships exactly those executables.
#   - A file that would run: every long-running service has a healthcheck and
#     `restart: unless-stopped` (one-shot services `restart: "no"`), CPU and memory limits, a
#     pinned image; monitoring ports on loopback; every variable read has a default, and
#     .env.example names exactly the variables the compose files read.
#   - deploy/compose.managed-kafka.yml merged over the file as Compose merges it (`!reset`):
#     compose-pydantic again, the bundled broker off, SASL settings on every Funnel service,
#     and librdkafka itself (the confluent-kafka wheel in .venv) accepting the KAFKA_* properties.
# What each validator cannot check, and how that is handled, is printed as a note.
# Exit status is non-zero if anything failed; the last line is `compose: N passed, M failed`.
#
# Usage: scripts/validate_compose.sh [COMPOSE_FILE]      (default: docker-compose.yml)
#   FUNNEL_COMPOSE_NO_INSTALL=1   install nothing; a missing validator is a failure
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

COMPOSE_FILE="${1:-docker-compose.yml}"
DOCKERFILE="deploy/Dockerfile"
ENV_EXAMPLE=".env.example"
OVERRIDE_FILE="deploy/compose.managed-kafka.yml"
VENV="$ROOT/.venv"
COMPOSE_PYDANTIC_VERSION="0.2.2"
PYYAML_VERSION="6.0.3"

say() { printf '[validate_compose] %s\n' "$*" >&2; }
passed=0
failed=0
pass() { passed=$((passed + 1)); printf 'PASS  %s\n' "$*"; }
fail() { failed=$((failed + 1)); printf 'FAIL  %s\n' "$*"; }

if [ ! -f "$COMPOSE_FILE" ]; then
  fail "compose file $COMPOSE_FILE not found"
  echo "compose: $passed passed, $failed failed"
  exit 1
fi

# ---------------------------------------------------------------------------------------
# Prerequisites (idempotent)
# ---------------------------------------------------------------------------------------
install_apt() {
  local pkg="$1"
  dpkg -s "$pkg" >/dev/null 2>&1 && return 0
  [ "${FUNNEL_COMPOSE_NO_INSTALL:-}" = 1 ] && return 1
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  say "installing Debian package $pkg (apt-get update first)"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >/dev/null 2>&1 || say "apt-get update failed; trying the install anyway"
  $sudo apt-get install -y -qq "$pkg" >/dev/null 2>&1
}

ensure_venv_packages() {
  if [ ! -x "$VENV/bin/python" ]; then
    [ "${FUNNEL_COMPOSE_NO_INSTALL:-}" = 1 ] && return 1
    say "creating $VENV"
    python3 -m venv "$VENV" || return 1
  fi
  "$VENV/bin/python" -c 'import yaml, compose_pydantic' >/dev/null 2>&1 && return 0
  [ "${FUNNEL_COMPOSE_NO_INSTALL:-}" = 1 ] && return 1
  say "installing compose-pydantic==$COMPOSE_PYDANTIC_VERSION and PyYAML into $VENV"
  local want=("compose-pydantic==$COMPOSE_PYDANTIC_VERSION")
  "$VENV/bin/python" -c 'import yaml' >/dev/null 2>&1 || want+=("PyYAML==$PYYAML_VERSION")
  "$VENV/bin/pip" install -q --disable-pip-version-check "${want[@]}" >&2
}

# ---------------------------------------------------------------------------------------
# 1. docker-compose v1
# ---------------------------------------------------------------------------------------
if install_apt docker-compose && command -v docker-compose >/dev/null 2>&1; then
  v1_version="$(docker-compose version --short 2>/dev/null || echo unknown)"
  # v1 predates the Compose Specification's top-level `name:` (project name) and rejects
  # it; it accepts everything else this file uses (extension fields, merge keys,
  # deploy.replicas, depends_on conditions incl. service_completed_successfully, init).
  # So v1 is given the file without that one line; compose-pydantic below checks `name`.
  # Read from stdin, v1 resolves relative paths (the build context) from the current
  # directory, which is the compose file's directory here.
  compose_dir="$(cd "$(dirname "$COMPOSE_FILE")" && pwd)"
  # Required variables (`${VAR:?…}`) get a placeholder: v1 interpolates and would stop at them.
  required_vars=$(grep -oE '\$\{[A-Za-z_][A-Za-z0-9_]*:\?' "$COMPOSE_FILE" | sed -E 's/^\$\{//; s/:\?$//' | sort -u)
  if v1_out="$(cd "$compose_dir" && for v in $required_vars; do export "$v=${!v:-validation-placeholder}"; done \
        && grep -v -E '^name:[[:space:]]' "$(basename "$COMPOSE_FILE")" \
        | docker-compose -f - config -q 2>&1)"; then
    pass "docker-compose $v1_version: config -q accepts $COMPOSE_FILE (top-level name: withheld, v1 does not know it)"
  else
    fail "docker-compose $v1_version: config -q rejects $COMPOSE_FILE:"
    printf '%s\n' "$v1_out" | sed 's/^/        /'
  fi
else
  fail "docker-compose (Debian package, v1) is not available and could not be installed"
fi

# ---------------------------------------------------------------------------------------
# 2. compose-pydantic (Compose Specification) and 3. Funnel's own rules
# ---------------------------------------------------------------------------------------
if ! ensure_venv_packages; then
  fail "compose-pydantic / PyYAML are not available in $VENV and could not be installed"
  echo "compose: $passed passed, $failed failed"
  exit 1
fi

py_out="$("$VENV/bin/python" - "$COMPOSE_FILE" "$DOCKERFILE" "Package.swift" "$ENV_EXAMPLE" "$OVERRIDE_FILE" <<'PY'
import os
import re
import shlex
import sys

import yaml

compose_path, dockerfile_path, manifest_path, env_example_path, override_path = sys.argv[1:6]
results = []


def check(ok, message, details=()):
    results.append((bool(ok), message, list(details)))


def note(message):
    results.append((None, message, []))


with open(compose_path) as fh:
    raw_text = fh.read()
try:
    doc = yaml.safe_load(raw_text)
except yaml.YAMLError as exc:
    check(False, f"{compose_path} is valid YAML", [str(exc)])
    doc = None

# ---- 2. compose-pydantic ---------------------------------------------------------------
# Its models are generated from the Compose Specification's JSON schema but dropped the
# schema's `^x-` pattern properties: extension fields (x-funnel-service, ...) would be
# reported as "extra inputs". They are legal in the spec, so they are removed first,
# wherever they occur outside free-form maps (environment, labels, ...).
FREE_FORM = {"environment", "labels", "sysctls", "driver_opts", "extra_hosts", "args",
             "options", "storage_opt", "annotations"}


def strip_extensions(node, parent_key=None):
    if isinstance(node, dict):
        if parent_key in FREE_FORM:
            return dict(node)
        return {k: strip_extensions(v, k) for k, v in node.items()
                if not (isinstance(k, str) and k.startswith("x-"))}
    if isinstance(node, list):
        return [strip_extensions(v, parent_key) for v in node]
    return node


if isinstance(doc, dict):
    try:
        from compose_pydantic import ComposeSpecificationFactory, DictSpecStrategy
        from pydantic import ValidationError
        try:
            ComposeSpecificationFactory(DictSpecStrategy())(strip_extensions(doc))
            check(True, "compose-pydantic: the file conforms to the Compose Specification "
                        "(x-* extension fields set aside: the generated models omit them)")
        except ValidationError as exc:
            check(False, f"compose-pydantic: {exc.error_count()} error(s) against the Compose Specification",
                  [".".join(str(p) for p in e["loc"]) + ": " + e["msg"] for e in exc.errors()])
    except ImportError as exc:
        check(False, "compose-pydantic importable", [str(exc)])

# ---- 3. Funnel's own rules ---------------------------------------------------------------
EXECUTABLES = ["funnel", "funnel-ingest", "funnel-enrich", "funnel-score", "funnel-route", "funnel-followup"]
PIPELINE = ["ingest", "enrich", "score", "route", "followup"]
FUNNEL_SERVICES = ["topics"] + PIPELINE
REQUIRED_ENV = ["KAFKA_BROKERS", "FUNNEL_HTTP_PORT", "FUNNEL_CONFIG_DIR", "FUNNEL_SERVICE"]
# Every variable a Funnel process may be given: the brief's names, plus FUNNEL_SERVICE
# (this file's label) and FUNNEL_LOG_LEVEL (read by the JSON log handler).
KNOWN_FUNNEL_ENV = {"FUNNEL_HTTP_PORT", "FUNNEL_CONFIG_DIR", "FUNNEL_SERVICE", "FUNNEL_LOG_LEVEL",
                    # funnel-ingest
                    "FUNNEL_API_KEYS", "FUNNEL_RATE_LIMIT", "FUNNEL_RATE_BURST", "FUNNEL_MAX_BATCH",
                    "FUNNEL_MAX_IMPORT_BYTES", "FUNNEL_TRACKING_SECRET", "FUNNEL_TRACKING_SECRET_FILE",
                    "FUNNEL_TRACKING_SECRET_PREVIOUS", "FUNNEL_SMTP_URL", "FUNNEL_SMTP_RATE",
                    "FUNNEL_SMTP_CONNECTIONS", "FUNNEL_MAIL_FROM", "FUNNEL_PUBLIC_URL", "FUNNEL_ERASURE_SALT"}
IMAGE = "funnel:local"
BUILD = {"context": ".", "dockerfile": dockerfile_path}


def env_of(service):
    env = service.get("environment") or {}
    if isinstance(env, list):
        out = {}
        for item in env:
            key, _, value = str(item).partition("=")
            out[key] = value if "=" in str(item) else None
        return out
    return {str(k): (None if v is None else str(v)) for k, v in env.items()}


def command_of(service):
    cmd = service.get("command")
    if cmd is None:
        return None
    return shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]


def build_of(service):
    build = service.get("build")
    if isinstance(build, str):
        return {"context": build, "dockerfile": "Dockerfile"}
    return build


def depends_of(service):
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {d: "service_started" for d in deps}
    return {k: (v or {}).get("condition", "service_started") for k, v in deps.items()}


def logical_lines(text):
    """Dockerfile instructions with continuations joined and comments dropped."""
    out, cur = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not cur and (not stripped or stripped.startswith("#")):
            continue
        if cur and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            cur += stripped[:-1] + " "
            continue
        cur += stripped
        out.append(cur)
        cur = ""
    if cur:
        out.append(cur)
    return out


services = (doc or {}).get("services") or {}
envs = {}

if isinstance(doc, dict):
    check("version" not in doc, "no obsolete top-level `version:` key")
    check(re.search(r"^x-funnel-service:\s*&funnel-service\b", raw_text, re.M) is not None
          and all(re.search(rf"^  {s}:\n    <<: \*funnel-service\b", raw_text, re.M) for s in PIPELINE),
          "shared parts come from the x-funnel-service anchor (merged into every pipeline service)")

    missing = [s for s in FUNNEL_SERVICES + ["kafka"] if s not in services]
    check(not missing, "services present: kafka, topics, " + ", ".join(PIPELINE),
          [f"missing service: {m}" for m in missing])

    # Every service that runs the Funnel image: the expected ones, and no stray build.
    funnel_like = sorted(n for n, s in services.items()
                         if s.get("image") == IMAGE or s.get("build") is not None)
    check(funnel_like == sorted(FUNNEL_SERVICES),
          f"exactly {', '.join(FUNNEL_SERVICES)} run the Funnel image",
          [f"services built from / tagged as the Funnel image: {funnel_like}"])

    # ---- same image and build everywhere
    details = []
    for name in FUNNEL_SERVICES:
        s = services.get(name, {})
        if s.get("image") != IMAGE:
            details.append(f"{name}: image is {s.get('image')!r}, expected {IMAGE!r}")
        b = build_of(s) or {}
        if {k: b.get(k) for k in BUILD} != BUILD or set(b) - set(BUILD):
            details.append(f"{name}: build is {b!r}, expected {BUILD!r}")
    check(not details, f"every Funnel service uses image {IMAGE} built from {BUILD}", details)
    ctx = os.path.join(os.path.dirname(os.path.abspath(compose_path)), BUILD["context"])
    check(os.path.isfile(os.path.join(ctx, BUILD["dockerfile"])),
          f"the build's Dockerfile exists ({BUILD['dockerfile']} under context {BUILD['context']})")

    # ---- environment
    details = []
    for name in FUNNEL_SERVICES:
        env = env_of(services.get(name, {}))
        for key in REQUIRED_ENV:
            if not env.get(key):
                details.append(f"{name}: {key} is not set")
        if env.get("FUNNEL_SERVICE") not in (None, name):
            details.append(f"{name}: FUNNEL_SERVICE={env.get('FUNNEL_SERVICE')!r}, expected {name!r}")
        for key in env:
            if not (key.startswith("KAFKA_") or key in KNOWN_FUNNEL_ENV):
                details.append(f"{name}: {key} is not a variable Funnel reads "
                               f"(KAFKA_BROKERS, KAFKA_<PROPERTY>, {', '.join(sorted(KNOWN_FUNNEL_ENV))})")
    check(not details, "every Funnel service sets KAFKA_BROKERS, FUNNEL_HTTP_PORT, FUNNEL_CONFIG_DIR, "
                       "FUNNEL_SERVICE=<name>, and only variables Funnel reads", details)

    envs = {n: env_of(services.get(n, {})) for n in FUNNEL_SERVICES}
    details = []
    for name, env in envs.items():
        for broker in (env.get("KAFKA_BROKERS") or "").split(","):
            host, _, port = broker.strip().rpartition(":")
            if host not in services:
                details.append(f"{name}: KAFKA_BROKERS host {host!r} is not a service of this file")
            adv = env_of(services.get(host, {})).get("KAFKA_ADVERTISED_LISTENERS") or ""
            if f"{host}:{port}" not in adv:
                details.append(f"{name}: {broker.strip()} is not advertised by {host} ({adv!r})")
    check(not details, "KAFKA_BROKERS points at the kafka service's advertised listener", details)

    ports = {n: (envs[n].get("FUNNEL_HTTP_PORT")) for n in FUNNEL_SERVICES}
    check(set(ports.values()) == {"8080"}, "FUNNEL_HTTP_PORT is 8080 in every Funnel service", [str(ports)])

    # ---- commands
    details = []
    for name in FUNNEL_SERVICES:
        cmd = command_of(services.get(name, {}))
        if not cmd:
            details.append(f"{name}: no command")
        elif cmd[0] not in EXECUTABLES:
            details.append(f"{name}: command {cmd!r} does not start with one of {EXECUTABLES}")
    for name in PIPELINE:
        cmd = command_of(services.get(name, {}))
        if cmd and cmd != [f"funnel-{name}"]:
            details.append(f"{name}: command {cmd!r}, expected ['funnel-{name}']")
    topics_cmd = command_of(services.get("topics", {})) or []
    if topics_cmd[:3] != ["funnel", "topics", "create"] or "--partitions" not in topics_cmd:
        details.append(f"topics: command {topics_cmd!r}, expected funnel topics create --partitions N")
    check(not details, "every command runs one of the six executables (pipeline: funnel-<service>; "
                       "topics: funnel topics create --partitions N)", details)

    # ---- scaling, ports, lifecycle
    score_replicas = ((services.get("score") or {}).get("deploy") or {}).get("replicas")
    check(score_replicas == 3, "score runs 3 replicas (deploy.replicas)", [f"replicas: {score_replicas!r}"])
    details = [f"{n}: deploy.replicas={((services[n].get('deploy') or {}).get('replicas'))}"
               for n in PIPELINE if n != "score" and (services.get(n, {}).get("deploy") or {}).get("replicas") not in (None, 1)]
    details += [f"{n}: container_name prevents scaling" for n in PIPELINE if "container_name" in services.get(n, {})]
    check(not details, "no other pipeline service is replicated or pinned to a container name", details)

    ingest_ports = [str(p) for p in (services.get("ingest", {}).get("ports") or [])]
    check("8080:8080" in ingest_ports, "ingest publishes 8080:8080", [f"ports: {ingest_ports}"])
    published = [n for n in FUNNEL_SERVICES if n != "ingest" and services.get(n, {}).get("ports")]
    check(not published, "only ingest publishes a port (it is the only public HTTP entry)", published)

    details = []
    for name in PIPELINE:
        s = services.get(name, {})
        if s.get("restart") != "unless-stopped":
            details.append(f"{name}: restart={s.get('restart')!r}")
        if str(s.get("stop_grace_period")) != "30s":
            details.append(f"{name}: stop_grace_period={s.get('stop_grace_period')!r}")
        if depends_of(s).get("topics") != "service_completed_successfully":
            details.append(f"{name}: depends_on topics: {depends_of(s).get('topics')!r}")
        hc = s.get("healthcheck") or {}
        test = hc.get("test")
        test_text = " ".join(test) if isinstance(test, list) else str(test or "")
        if hc.get("disable") or "/readyz" not in test_text:
            details.append(f"{name}: healthcheck does not probe /readyz ({test_text!r})")
        if isinstance(test, list) and test and test[0] == "CMD" and len(test) > 1 and test[1] not in ("bash", "sh"):
            details.append(f"{name}: healthcheck runs {test[1]!r}, which the runtime image does not carry")
        if "/dev/tcp/" in test_text and not (isinstance(test, list) and test[:2] == ["CMD", "bash"]):
            details.append(f"{name}: /dev/tcp needs bash (CMD-SHELL runs dash)")
    check(not details, "pipeline services: restart unless-stopped, stop_grace_period 30s, wait for topics, "
                       "healthcheck on /readyz with bash", details)

    t = services.get("topics", {})
    check(str(t.get("restart")) == "no" and depends_of(t).get("kafka") == "service_healthy",
          "topics is one-shot (restart: \"no\") and waits for kafka to be healthy",
          [f"restart={t.get('restart')!r}, depends_on={depends_of(t)}"])

    details = [f"{n} depends on undefined service {d}" for n, s in services.items()
               for d in depends_of(s) if d not in services]
    check(not details, "every depends_on names a service of this file", details)

    # ---- kafka
    k = services.get("kafka", {})
    kenv = env_of(k)
    expected_kafka = {
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": "PLAINTEXT://:9092,CONTROLLER://:9093",
        "KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://kafka:9092",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
    }
    details = [f"{key}={kenv.get(key)!r}, expected {v!r}" for key, v in expected_kafka.items() if kenv.get(key) != v]
    node = kenv.get("KAFKA_NODE_ID")
    if not node or f"{node}@kafka:9093" not in (kenv.get("KAFKA_CONTROLLER_QUORUM_VOTERS") or ""):
        details.append(f"KAFKA_CONTROLLER_QUORUM_VOTERS={kenv.get('KAFKA_CONTROLLER_QUORUM_VOTERS')!r} "
                       f"does not name node {node!r} at kafka:9093")
    if k.get("image") != "apache/kafka:3.9.0":
        details.append(f"image={k.get('image')!r}")
    hc = " ".join((k.get("healthcheck") or {}).get("test") or [])
    if "kafka-broker-api-versions.sh" not in hc:
        details.append(f"healthcheck={hc!r}")
    check(not details, "kafka: apache/kafka:3.9.0, single-node KRaft, RF 1, no auto-created topics, healthcheck",
          details)

# ---- 4. a compose file that would run (issue 17): every service ------------------------------
ENV_EXAMPLE = env_example_path
COMPOSE_BUILTIN_VARS = {"COMPOSE_FILE", "COMPOSE_PROJECT_NAME", "COMPOSE_PROFILES"}
VAR_REF = re.compile(r"(?<!\$)\$(?:\{([A-Za-z_][A-Za-z0-9_]*)((?::?[-?+])[^}]*)?\}|([A-Za-z_][A-Za-z0-9_]*))")


def variables_read(text):
    """{name: [operator+default, ...]} for every `${VAR...}` / `$VAR` (`$$` is a literal `$`)."""
    out = {}
    for m in VAR_REF.finditer(text):
        out.setdefault(m.group(1) or m.group(3), []).append(m.group(2) or "")
    return out


def memory_bytes(value):
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmg]?)b?\s*", str(value), re.I)
    if not m:
        return None
    return float(m.group(1)) * {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}[m.group(2).lower()]


def limits_of(service):
    limits = (((service.get("deploy") or {}).get("resources") or {}).get("limits") or {})
    return limits.get("cpus", service.get("cpus")), limits.get("memory", service.get("mem_limit"))


if isinstance(doc, dict):
    services = doc.get("services") or {}
    one_shot = {d for s in services.values() for d, cond in depends_of(s).items()
                if cond == "service_completed_successfully"}
    details = []
    for name, s in services.items():
        if name in one_shot:
            if str(s.get("restart", "no")) != "no":
                details.append(f"{name}: one-shot (others wait for it to complete) but restart={s.get('restart')!r}")
            continue
        if s.get("restart") != "unless-stopped":
            details.append(f"{name}: restart={s.get('restart')!r}, expected 'unless-stopped'")
        hc = s.get("healthcheck") or {}
        test = hc.get("test")
        if hc.get("disable") or not test or (isinstance(test, list) and test[0] == "NONE"):
            details.append(f"{name}: no healthcheck")
        elif isinstance(test, list) and test[0] not in ("CMD", "CMD-SHELL"):
            details.append(f"{name}: healthcheck test must start with CMD or CMD-SHELL ({test[0]!r})")
        missing = [k for k in ("interval", "timeout", "retries") if k not in hc]
        if test and missing:
            details.append(f"{name}: healthcheck without {', '.join(missing)}")
    check(not details, "every long-running service has a healthcheck (test, interval, timeout, retries) and "
                       f"restart: unless-stopped; one-shot services ({', '.join(sorted(one_shot)) or 'none'}) restart: \"no\"",
          details)

    details = []
    for name, s in services.items():
        cpus, memory = limits_of(s)
        try:
            cpus_ok = cpus is not None and float(cpus) > 0
        except ValueError:
            cpus_ok = False
        mem = memory_bytes(memory) if memory is not None else None
        if not cpus_ok:
            details.append(f"{name}: no CPU limit (deploy.resources.limits.cpus) ({cpus!r})")
        if mem is None or mem < 64 * 2**20:
            details.append(f"{name}: no memory limit of at least 64m (deploy.resources.limits.memory) ({memory!r})")
    check(not details, "every service has CPU and memory limits (deploy.resources.limits)", details)

    details = []
    for name, s in services.items():
        image = s.get("image")
        if image == IMAGE:
            continue
        if not image:
            details.append(f"{name}: no image")
            continue
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        if "@sha256:" not in image and (not tag or tag == "latest"):
            details.append(f"{name}: image {image!r} is not pinned to a version")
    check(not details, "every third-party image is pinned to a version tag (no implicit or explicit :latest)", details)

    details = []
    for name in ("prometheus", "grafana", "mailcatcher"):
        for p in services.get(name, {}).get("ports") or []:
            p = str(p)
            if name != "mailcatcher" and not p.startswith("127.0.0.1:"):
                details.append(f"{name}: publishes {p!r} on every interface (it has no authentication of its own)")
    for name in ("prometheus", "grafana"):
        if name not in services:
            details.append(f"no {name} service")
    check(not details, "prometheus and grafana run as services and publish their ports on the loopback interface only",
          details)

    # Every variable the file reads has a default, or is required with a message
    # (`${VAR:?message}`: Compose refuses to start and says what to set).
    read = variables_read(raw_text)
    required = sorted(v for v, ops in read.items() if any(op.startswith(":?") for op in ops))
    details = [f"${{{v}}} has neither a default nor a required-message ({ops})" for v, ops in sorted(read.items())
               if not all(op.startswith((":-", "-")) or (op.startswith(":?") and len(op) > 2) for op in ops)]
    check(not details, f"every variable {compose_path} reads has a default or is required with a message "
                       f"({len(read)} variables; required: {', '.join(required) or 'none'})", details)

    # .env.example names every variable the compose files read, and nothing else.
    override_text = open(override_path).read() if override_path and os.path.exists(override_path) else ""
    read_all = set(read) | set(variables_read(override_text))
    try:
        with open(ENV_EXAMPLE) as fh:
            example = fh.read()
        documented = set(re.findall(r"^[ \t]*#?[ \t]*([A-Z][A-Z0-9_]*)=", example, re.M))
        details = [f"{v} is read by the compose files but not in {ENV_EXAMPLE}" for v in sorted(read_all - documented)]
        details += [f"{v} is in {ENV_EXAMPLE} but no compose file reads it" for v in sorted(documented - read_all - COMPOSE_BUILTIN_VARS)]
        secrets = [l for l in example.splitlines() if re.match(r"^[A-Z][A-Z0-9_]*=\S", l)
                   and re.search(r"SECRET|PASSWORD", l.split("=", 1)[0])]
        details += [f"{ENV_EXAMPLE} carries a value for a secret: {l.split('=', 1)[0]}" for l in secrets]
        uncommented = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", example, re.M))
        details += [f"{v} is required by {compose_path} but commented out in {ENV_EXAMPLE} (a copy must show it to fill in)"
                    for v in required if v not in uncommented]
        check(not details, f"{ENV_EXAMPLE} names every variable the compose files read ({len(read_all)}), "
                           "only those (and Compose's own COMPOSE_*), and holds no secret", details)
    except OSError as exc:
        check(False, f"{ENV_EXAMPLE} exists", [str(exc)])
    ignored = {}
    for path in (".gitignore", ".dockerignore"):
        try:
            ignored[path] = ".env" in open(os.path.join(os.path.dirname(os.path.abspath(compose_path)), path)).read().split()
        except OSError:
            ignored[path] = False
    check(all(ignored.values()), ".env (secrets) is git-ignored and kept out of the image build context", [str(ignored)])

# ---- 5. the managed-Kafka override, merged as Compose merges it -------------------------------
class Reset:
    pass


class Override:
    def __init__(self, value):
        self.value = value


class OverrideLoader(yaml.SafeLoader):
    pass


def _reset(loader, node):
    return Reset()


def _override(loader, node):
    if isinstance(node, yaml.MappingNode):
        return Override(loader.construct_mapping(node, deep=True))
    if isinstance(node, yaml.SequenceNode):
        return Override(loader.construct_sequence(node, deep=True))
    return Override(loader.construct_scalar(node))


OverrideLoader.add_constructor("!reset", _reset)
OverrideLoader.add_constructor("!override", _override)
REPLACED_SEQUENCES = {"command", "entrypoint", "test"}


def compose_merge(base, over, key=None):
    """Compose's merge rules (mappings merged, sequences appended except commands, scalars
    replaced, `!reset` removes, `!override` replaces)."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            if isinstance(v, Reset):
                out.pop(k, None)
            elif isinstance(v, Override):
                out[k] = v.value
            elif k in out:
                out[k] = compose_merge(out[k], v, k)
            else:
                out[k] = v
        return out
    if isinstance(base, list) and isinstance(over, list) and key not in REPLACED_SEQUENCES:
        return base + [v for v in over if v not in base]
    return over


def interpolate(value):
    """`${VAR:-default}` → default, `${VAR:?msg}` → a placeholder (what an operator sets)."""
    if isinstance(value, str):
        value = re.sub(r"\$\{[A-Za-z_]\w*:?-([^}]*)\}", r"\1", value)
        return re.sub(r"\$\{([A-Za-z_]\w*):?\?[^}]*\}", lambda m: f"<{m.group(1)}>", value)
    return value


if override_path and os.path.exists(override_path) and isinstance(doc, dict):
    try:
        with open(override_path) as fh:
            over = yaml.load(fh, Loader=OverrideLoader)
        merged = compose_merge(doc, over)
    except yaml.YAMLError as exc:
        over = merged = None
        check(False, f"{override_path} is valid YAML", [str(exc)])
    if merged:
        try:
            from compose_pydantic import ComposeSpecificationFactory, DictSpecStrategy
            from pydantic import ValidationError
            try:
                ComposeSpecificationFactory(DictSpecStrategy())(strip_extensions(merged))
                check(True, f"compose-pydantic: {compose_path} + {override_path} merged conform to the Compose Specification")
            except ValidationError as exc:
                check(False, f"compose-pydantic: {compose_path} + {override_path} merged: {exc.error_count()} error(s)",
                      [".".join(str(p) for p in e["loc"]) + ": " + e["msg"] for e in exc.errors()])
        except ImportError as exc:
            check(False, "compose-pydantic importable", [str(exc)])
        msvc = merged.get("services") or {}
        details = []
        if not (msvc.get("kafka") or {}).get("profiles"):
            details.append("kafka still starts by default (no profiles)")
        for name, s in msvc.items():
            if not s.get("profiles") and "kafka" in depends_of(s):
                details.append(f"{name} still depends on the bundled kafka")
        needed = ["KAFKA_BROKERS", "KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISMS", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"]
        for name in FUNNEL_SERVICES:
            env = env_of(msvc.get(name, {}))
            for key in needed:
                if not env.get(key):
                    details.append(f"{name}: {key} not set")
            if "kafka:9092" in (env.get("KAFKA_BROKERS") or ""):
                details.append(f"{name}: KAFKA_BROKERS still names the bundled broker")
            for key in REQUIRED_ENV:
                if not env.get(key):
                    details.append(f"{name}: {key} lost in the merge")
            if "?" not in (env.get("KAFKA_SASL_PASSWORD") or "?") or "?" not in (env.get("KAFKA_BROKERS") or "?"):
                details.append(f"{name}: KAFKA_BROKERS and KAFKA_SASL_PASSWORD must be required (${{VAR:?…}}), not defaulted")
        topics_cmd = command_of(msvc.get("topics", {})) or []
        if "--replication-factor" not in topics_cmd:
            details.append(f"topics: no --replication-factor on a managed cluster ({topics_cmd})")
        check(not details, f"{override_path}: the bundled broker is off, nothing waits for it, and every Funnel "
                           "service gets the cluster's bootstrap servers and SASL settings", details)
        # The KAFKA_* variables are librdkafka properties: let librdkafka itself (the
        # confluent-kafka wheel's) accept them, with the defaults and placeholders filled in.
        env = env_of(msvc.get("ingest", {}))
        conf = {k[len("KAFKA_"):].lower().replace("_", "."): interpolate(v) for k, v in env.items()
                if k.startswith("KAFKA_") and k != "KAFKA_BROKERS"}
        conf["bootstrap.servers"] = "127.0.0.1:1"
        try:
            import confluent_kafka
            try:
                client = confluent_kafka.Producer(dict(conf, **{"log_level": 0}))
                client.flush(0)
                del client
                check(True, f"librdkafka {confluent_kafka.libversion()[0]} accepts the override's properties: "
                            + ", ".join(f"{k}={'***' if 'password' in k else v}" for k, v in sorted(conf.items()) if k != "bootstrap.servers"))
            except confluent_kafka.KafkaException as exc:
                check(False, "librdkafka accepts the override's KAFKA_* properties", [str(exc)])
        except ImportError:
            check(False, "confluent-kafka importable from .venv (scripts/bootstrap.sh installs it) to check KAFKA_* properties")
    note(f"docker-compose v1 cannot read {override_path} (the !reset tag needs Compose >= 2.18); it is checked merged, "
         "by the rules above")

# ---- Dockerfile ------------------------------------------------------------------------
try:
    with open(dockerfile_path) as fh:
        df_lines = logical_lines(fh.read())
except OSError as exc:
    df_lines = None
    check(False, f"{dockerfile_path} readable", [str(exc)])

if df_lines is not None:
    args = {}
    stages = []  # (name, base, [instructions])
    for line in df_lines:
        word = line.split(None, 1)[0].upper()
        if word == "ARG" and not stages:
            for tok in shlex.split(line)[1:]:
                key, _, value = tok.partition("=")
                args[key] = value
        elif word == "FROM":
            toks = line.split()
            base = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), toks[1])
            name = toks[3] if len(toks) >= 4 and toks[2].upper() == "AS" else str(len(stages))
            stages.append((name, base, []))
        elif stages:
            stages[-1][2].append(line)

    check(len(stages) >= 2, f"{dockerfile_path} is multi-stage", [f"stages: {[s[0] for s in stages]}"])
    if len(stages) >= 2:
        build_name, build_base, build_body = stages[0]
        run_name, run_base, run_body = stages[-1]
        check(build_base == "swift:6.3-bookworm", f"build stage from swift:6.3-bookworm (got {build_base})")
        check(run_base == "debian:bookworm-slim", f"runtime stage from debian:bookworm-slim (got {run_base})")
        build_text = "\n".join(build_body)
        check("swift build -c release --static-swift-stdlib" in build_text and "librdkafka-dev" in build_text
              and "confluent-kafka==" in build_text and "confluent_kafka.libs/librdkafka" in build_text,
              "build stage: librdkafka-dev headers, release build with --static-swift-stdlib, "
              "librdkafka taken from the confluent-kafka wheel")

        # COPY --from=<build> ... /usr/local/bin/ in the runtime stage: the six binaries.
        copied = set()
        lib_ok = cfg_ok = schemas_ok = False
        for line in run_body:
            toks = shlex.split(line)
            if toks[0].upper() != "COPY":
                continue
            flags = [t for t in toks[1:] if t.startswith("--")]
            paths = [t for t in toks[1:] if not t.startswith("--")]
            src, dest = paths[:-1], paths[-1]
            from_build = f"--from={build_name}" in flags
            if from_build and dest.rstrip("/") == "/usr/local/bin":
                copied.update(os.path.basename(p.rstrip("/")) for p in src)
            if from_build and dest == "/usr/local/lib/funnel/librdkafka.so.1":
                lib_ok = True
            if not from_build and src == ["deploy/"] and dest.rstrip("/") == "/etc/funnel":
                cfg_ok = True
            if not from_build and src == ["schemas/"] and dest.rstrip("/") == "/usr/share/funnel/schemas":
                schemas_ok = True
        commands = {(command_of(services.get(n, {})) or [""])[0] for n in FUNNEL_SERVICES} if services else set()
        missing = sorted((set(EXECUTABLES) | commands) - copied)
        check(not missing, "runtime stage copies all six executables (and every command's) to /usr/local/bin",
              [f"not copied: {missing}; copied: {sorted(copied)}"])
        # The build stage must produce what the runtime stage copies.
        loop = re.search(r"for exe in ([^;]+);", build_text)
        built = set(loop.group(1).split()) if loop else set()
        check(set(EXECUTABLES) <= built, "build stage stages the six executables it is asked to copy",
              [f"staged: {sorted(built)}"])
        check(lib_ok, "runtime stage installs the bundled librdkafka as /usr/local/lib/funnel/librdkafka.so.1 "
                      "(rpath $ORIGIN/../lib/funnel)")
        check(cfg_ok and schemas_ok, "runtime stage copies deploy/ to /etc/funnel and schemas/ to /usr/share/funnel/schemas")
        run_text = "\n".join(run_body)
        env_cfg = re.search(r"^ENV\b.*\bFUNNEL_CONFIG_DIR=(\S+)", run_text, re.M)
        check(env_cfg is not None and env_cfg.group(1) == "/etc/funnel"
              and all(envs[n].get("FUNNEL_CONFIG_DIR") == "/etc/funnel" for n in FUNNEL_SERVICES),
              "FUNNEL_CONFIG_DIR=/etc/funnel in the image and in every Funnel service")
        users = re.findall(r"^USER\s+(\S+)", run_text, re.M)
        check(users and users[-1].split(":")[0] not in ("root", "0"), "runtime stage runs as a non-root user",
              [f"USER: {users}"])
        check(not re.search(r"^ENTRYPOINT\b", run_text, re.M),
              "runtime stage has no ENTRYPOINT (compose `command:` names the executable)")
        installs = " ".join(l for l in run_body if "apt-get install" in l)
        check(not re.search(r"\blibrdkafka1\b", installs) and not re.search(r"(?<![-\w])(curl|wget)\b", installs),
              "runtime stage installs neither Debian's librdkafka1 (2.0.2) nor a curl/wget CLI",
              [installs])
        derived = re.search(r"librdkafka\.so\.\*\) continue", build_text) and "dpkg -S" in build_text
        consumed = re.search(r"^COPY --from=" + re.escape(build_name) + r" /staging/runtime-packages (\S+)", run_text, re.M)
        check(derived and consumed and f"$(cat {consumed.group(1)})" in installs,
              "runtime packages are derived from the binaries' NEEDED libraries (librdkafka excluded) "
              "and installed by the runtime stage")

    # Package.swift declares exactly these executables.
    try:
        with open(manifest_path) as fh:
            declared = set(re.findall(r'\.executable\(\s*name:\s*"([^"]+)"', fh.read()))
        check(declared == set(EXECUTABLES), "Package.swift declares exactly the six executables",
              [f"declared: {sorted(declared)}"])
    except OSError as exc:
        check(False, "Package.swift readable", [str(exc)])

note("not checkable without an engine: that the image builds, that the containers start, "
     "and that the healthchecks pass; the compose file's values are checked, not their effect")

for ok, message, details in results:
    tag = "NOTE" if ok is None else ("PASS" if ok else "FAIL")
    print(f"{tag}  {message}")
    if ok is False:
        for d in details:
            print(f"        {d}")
PY
)"
py_rc=$?
printf '%s\n' "$py_out"
p=$(printf '%s\n' "$py_out" | grep -c '^PASS' || true)
f=$(printf '%s\n' "$py_out" | grep -c '^FAIL' || true)
passed=$((passed + p))
failed=$((failed + f))
if [ "$py_rc" -ne 0 ]; then
  fail "the Python checks crashed (exit $py_rc)"
fi

echo "compose: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
