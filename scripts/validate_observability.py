#!/usr/bin/env python3
"""Checks the monitoring files against the code and the compose file (no Prometheus or Grafana
server runs here; scripts/validate_observability.sh runs promtool on the same files first).

- Every metric named in the alert rules (deploy/prometheus/alerts.yml) and in the Grafana
  dashboards (deploy/grafana/dashboards/*.json) is one the code exports: a string literal
  `funnel_...`/`process_...` in Sources/ (histograms also as `_bucket`, `_sum`, `_count`), or
  Prometheus' own `up`.
- Every dashboard expression is valid PromQL: they are written into a rules file (Grafana's
  `$__rate_interval`, `$__range`, `$__interval` replaced by durations) and given to
  `promtool check rules`.
- The dashboard JSON: parses, uid and title, unique panel ids, panels inside the 24-column
  grid and not overlapping, every query panel on the provisioned datasource uid, every target
  with an expression.
- Provisioning and compose agree: the datasource points at the compose `prometheus` service,
  the dashboard provider's path is where compose mounts deploy/grafana/dashboards, Prometheus
  gets deploy/prometheus.yml and its rule files where the config expects them, and every
  pipeline service of docker-compose.yml has a scrape job `funnel-<service>` that resolves the
  service's name on its FUNNEL_HTTP_PORT.
- With `--expositions DIR` (the end-to-end test keeps every service's /metrics in
  .build/e2e-metrics/): the labels the rules and panels filter and group by exist on those
  metrics (a typo such as `sum by (stgae)` otherwise yields an empty panel, silently).

Prints PASS/FAIL/NOTE lines and `observability: N passed, M failed`; exits 1 on any failure.
Usage: validate_observability.py [--expositions DIR] [--promtool PATH]
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMETHEUS_CONFIG = "deploy/prometheus.yml"
ALERTS = "deploy/prometheus/alerts.yml"
DATASOURCES = "deploy/grafana/provisioning/datasources/prometheus.yml"
DASHBOARD_PROVIDERS = "deploy/grafana/provisioning/dashboards/funnel.yml"
DASHBOARDS = "deploy/grafana/dashboards"
COMPOSE = "docker-compose.yml"
PIPELINE = ["ingest", "enrich", "score", "route", "followup"]
BUILTIN_METRICS = {"up"}  # added by Prometheus to every target
TARGET_LABELS = {"job", "instance"}  # added by Prometheus to every scraped series

results = []


def check(ok, message, details=()):
    results.append((bool(ok), message, [str(d) for d in details]))


def note(message):
    results.append((None, message, []))


def rel(path):
    return os.path.join(ROOT, path)


# ---- metric names in the code ------------------------------------------------------------------

def code_metrics():
    """Metric names the code exports, and which of them are histograms."""
    names, histograms = set(), set()
    literal = re.compile(r'"((?:funnel|process)_[a-z0-9_]+)"')
    for path in glob.glob(rel("Sources/**/*.swift"), recursive=True):
        text = open(path, encoding="utf-8").read()
        for m in literal.finditer(text):
            name = m.group(1)
            names.add(name)
            before = text[max(0, m.start() - 120):m.start()]
            line_start = text.rfind("\n", 0, m.start()) + 1
            line = text[line_start:text.find("\n", m.end())]
            if re.search(r"\b(histogram|observe)\($", before.rstrip()) or re.search(r"\.(histogram|observe)\(\s*$", before):
                histograms.add(name)
            # `static let name = "..."` used as `metrics.histogram(name, ...)` (HTTPMetrics).
            elif re.match(r"\s*(public\s+)?static let name = ", line) and re.search(r"\.histogram\(name\b", text):
                histograms.add(name)
    return names, histograms


# ---- PromQL: the metric names and labels an expression uses -----------------------------------

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
            "offset", "inf", "nan", "atan2", "start", "end"}
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}")
MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')


def grafana_to_promql(expr):
    """Grafana's interval variables replaced by durations promtool accepts."""
    return (expr.replace("$__rate_interval", "5m").replace("$__range", "1h")
            .replace("$__interval", "1m").replace("${__range}", "1h"))


def metrics_in(expr):
    """The metric names in a PromQL expression (selectors, with or without braces)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)        # string literals
    text = GROUPING.sub(" ", text)                           # by (...), on (...), ...
    text = re.sub(r"\{[^}]*\}", " ", text)                   # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)                  # ranges
    names = set()
    for m in re.finditer(r"(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?", text):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in KEYWORDS or re.fullmatch(r"\d+[smhdwy]?", word):
            continue
        names.add(word)
    return names


def selectors_in(expr):
    """(metric, {label, ...}) for every selector with matchers."""
    out = []
    for m in SELECTOR.finditer(expr):
        metric = m.group(1)
        if not metric or metric in KEYWORDS:
            continue
        out.append((metric, {mm.group(1) for mm in MATCHER.finditer(m.group(2))}))
    return out


def grouping_labels(expr):
    labels = set()
    for m in GROUPING.finditer(expr):
        labels |= {l.strip() for l in m.group(2).split(",") if l.strip()}
    return labels


def base_metric(name, histograms):
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] in histograms:
            return name[: -len(suffix)]
    return name


# ---- files -------------------------------------------------------------------------------------

def load_yaml(path):
    try:
        with open(rel(path), encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except (OSError, yaml.YAMLError) as exc:
        check(False, f"{path} is readable YAML", [exc])
        return None


def alert_expressions(rules_doc):
    exprs = []
    for group in (rules_doc or {}).get("groups", []):
        for rule in group.get("rules", []):
            exprs.append((f"{ALERTS}: {rule.get('alert') or rule.get('record')}", str(rule.get("expr", ""))))
    return exprs


def dashboard_panels(dashboard):
    for panel in dashboard.get("panels", []):
        yield panel
        for inner in panel.get("panels", []) or []:
            yield inner


def check_dashboard(path, dashboard, datasource_uid):
    name = os.path.relpath(path, ROOT)
    details = []
    if not dashboard.get("uid") or not dashboard.get("title"):
        details.append("uid and title are required")
    ids = [p.get("id") for p in dashboard_panels(dashboard)]
    dupes = sorted({i for i in ids if ids.count(i) > 1 or i is None}, key=str)
    if dupes:
        details.append(f"panel ids missing or repeated: {dupes}")
    cells = {}
    for p in dashboard_panels(dashboard):
        g = p.get("gridPos") or {}
        if not all(isinstance(g.get(k), int) for k in ("x", "y", "w", "h")):
            details.append(f"panel {p.get('id')} {p.get('title')!r}: gridPos needs integer x, y, w, h")
            continue
        if g["x"] < 0 or g["w"] < 1 or g["x"] + g["w"] > 24:
            details.append(f"panel {p.get('id')} {p.get('title')!r}: outside the 24-column grid ({g})")
        for cx in range(g["x"], g["x"] + g["w"]):
            for cy in range(g["y"], g["y"] + g["h"]):
                if (cx, cy) in cells:
                    details.append(f"panel {p.get('id')} {p.get('title')!r} overlaps panel {cells[(cx, cy)]}")
                    break
                cells[(cx, cy)] = p.get("id")
            else:
                continue
            break
        if p.get("type") == "row":
            continue
        targets = p.get("targets") or []
        if not targets:
            details.append(f"panel {p.get('id')} {p.get('title')!r}: no queries")
        for t in [p] + targets:
            uid = (t.get("datasource") or {}).get("uid")
            if uid != datasource_uid:
                details.append(f"panel {p.get('id')} {p.get('title')!r}: datasource uid {uid!r}, expected {datasource_uid!r}")
        for t in targets:
            if not str(t.get("expr", "")).strip():
                details.append(f"panel {p.get('id')} {p.get('title')!r} query {t.get('refId')}: empty expression")
    check(not details, f"{name}: uid, title, unique panel ids, grid without overlaps, datasource {datasource_uid}, "
                       f"{sum(1 for p in dashboard_panels(dashboard) if p.get('type') != 'row')} panels with queries",
          details)


def promtool_check_dashboard_queries(queries, promtool):
    """Every dashboard query as a recording rule, checked by promtool (PromQL syntax and types)."""
    rules = [{"record": f"dashboard:query_{i}", "expr": grafana_to_promql(expr)} for i, (_, expr) in enumerate(queries)]
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as fh:
        yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}, fh)
        path = fh.name
    try:
        run = subprocess.run([promtool, "check", "rules", path], capture_output=True, text=True)
    finally:
        os.unlink(path)
    output = (run.stdout + run.stderr).strip().splitlines()
    check(run.returncode == 0, f"promtool check rules accepts all {len(queries)} dashboard queries as PromQL",
          output if run.returncode else [])


def compose_service_env(service):
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(str(e).partition("=")[::2] for e in env)
    return {str(k): str(v) for k, v in env.items()}


def volume_mounts(service):
    """(host path relative to the repository, container path) of bind mounts."""
    out = []
    for v in service.get("volumes") or []:
        if isinstance(v, str):
            parts = v.split(":")
            if len(parts) >= 2 and parts[0].startswith("."):
                out.append((os.path.normpath(parts[0]), parts[1]))
        elif isinstance(v, dict) and v.get("type") == "bind":
            out.append((os.path.normpath(v.get("source", "")), v.get("target")))
    return out


def check_compose_wiring(compose, prom, datasources, providers):
    services = (compose or {}).get("services") or {}
    # Scrape jobs per pipeline service.
    jobs = {j.get("job_name"): j for j in (prom or {}).get("scrape_configs", [])}
    details = []
    for name in PIPELINE:
        job = jobs.get(f"funnel-{name}")
        port = compose_service_env(services.get(name, {})).get("FUNNEL_HTTP_PORT")
        if job is None:
            details.append(f"no scrape job funnel-{name} for compose service {name}")
            continue
        dns = [(tuple(c.get("names", [])), c.get("port"), c.get("type", "SRV")) for c in job.get("dns_sd_configs", [])]
        static = [t for c in job.get("static_configs", []) for t in c.get("targets", [])]
        if not any(name in names and str(p) == str(port) and t == "A" for names, p, t in dns) and f"{name}:{port}" not in static:
            details.append(f"funnel-{name}: scrapes {dns or static}, expected DNS name {name!r} (type A) on port {port}")
        if job.get("metrics_path", "/metrics") != "/metrics":
            details.append(f"funnel-{name}: metrics_path {job.get('metrics_path')!r}")
    extra = sorted(j for j in jobs if j.startswith("funnel-") and j[len("funnel-"):] not in PIPELINE)
    if extra:
        details.append(f"scrape jobs for no compose service: {extra}")
    check(not details, "deploy/prometheus.yml scrapes every pipeline service of the compose file "
                       "(one job funnel-<service>, DNS name = service, port = its FUNNEL_HTTP_PORT)", details)

    # The Prometheus service gets the config and the rule files where the config expects them.
    p = services.get("prometheus") or {}
    details = []
    command = [str(c) for c in (p.get("command") or [])]
    config_path = next((c.split("=", 1)[1] for c in command if c.startswith("--config.file=")), None)
    mounts = dict((target, host) for host, target in volume_mounts(p))
    if not p:
        details.append("no prometheus service")
    elif not config_path:
        details.append(f"prometheus command has no --config.file: {command}")
    elif mounts.get(config_path) != os.path.normpath(PROMETHEUS_CONFIG):
        details.append(f"{config_path} is not a mount of {PROMETHEUS_CONFIG} (mounts: {mounts})")
    else:
        config_dir = os.path.dirname(config_path)
        for rule_file in (prom or {}).get("rule_files", []):
            in_container = os.path.normpath(os.path.join(config_dir, rule_file))
            host_dir = next((h for t, h in mounts.items() if in_container.startswith(t.rstrip("/") + "/")), None)
            target = next((t for t, h in mounts.items() if h == host_dir), None)
            host = os.path.normpath(os.path.join(host_dir, os.path.relpath(in_container, target))) if host_dir else None
            if not host or host != os.path.normpath(os.path.join(os.path.dirname(PROMETHEUS_CONFIG), rule_file)):
                details.append(f"rule file {rule_file} ({in_container} in the container) is not mounted from "
                               f"{os.path.join(os.path.dirname(PROMETHEUS_CONFIG), rule_file)}")
    check(not details, "the prometheus service mounts deploy/prometheus.yml as its --config.file and the rule files where it expects them",
          details)

    # Grafana: provisioning and dashboards mounted where the provider looks; datasource → prometheus.
    g = services.get("grafana") or {}
    details = []
    gm = dict((target, host) for host, target in volume_mounts(g))
    if gm.get("/etc/grafana/provisioning") != os.path.normpath("deploy/grafana/provisioning"):
        details.append(f"deploy/grafana/provisioning is not mounted at /etc/grafana/provisioning (mounts: {gm})")
    for provider in (providers or {}).get("providers", []):
        path = (provider.get("options") or {}).get("path")
        if gm.get(path) != os.path.normpath(DASHBOARDS):
            details.append(f"dashboard provider {provider.get('name')!r} reads {path!r}, where {DASHBOARDS} is not mounted")
    sources = (datasources or {}).get("datasources", [])
    urls = [s.get("url") for s in sources]
    if f"http://prometheus:9090" not in urls:
        details.append(f"no datasource at http://prometheus:9090 (the compose service): {urls}")
    check(not details and g, "the grafana service mounts the provisioning and the dashboards where the provider reads them; "
                             "the datasource is the compose prometheus", details)


def check_expositions(directory, queries, histograms):
    """Labels used in rules and panels exist on the metrics the end-to-end run exported."""
    labels_of = {}
    for path in sorted(glob.glob(os.path.join(directory, "*.prom"))):
        for line in open(path, encoding="utf-8"):
            if line.startswith("#") or not line.strip():
                continue
            m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?", line)
            if not m:
                continue
            name = base_metric(m.group(1), histograms)  # a _bucket series brings `le`
            labels = {mm.group(1) for mm in MATCHER.finditer(m.group(3) or "")}
            labels_of.setdefault(name, set()).update(labels)
    if not labels_of:
        check(False, f"expositions in {directory}", ["no *.prom files (run the end-to-end test first)"])
        return
    details, unseen = [], set()
    for where, expr in queries:
        used_metrics = {base_metric(n, histograms) for n in metrics_in(expr)} - BUILTIN_METRICS
        seen = [n for n in used_metrics if n in labels_of]
        unseen |= used_metrics - set(labels_of)
        for metric, labels in selectors_in(expr):
            base = base_metric(metric, histograms)
            if base in labels_of:
                missing = labels - labels_of[base] - TARGET_LABELS
                if missing:
                    details.append(f"{where}: {metric} has no label {sorted(missing)} (it has {sorted(labels_of[base])})")
        if seen:
            available = set().union(*(labels_of[n] for n in seen)) | TARGET_LABELS | {"le"}
            missing = grouping_labels(expr) - available
            if missing and len(seen) == len(used_metrics):
                details.append(f"{where}: groups by {sorted(missing)}, which none of {sorted(seen)} has")
    check(not details, f"labels used by the alert rules and dashboard queries exist on the metrics of the "
                       f"end-to-end run ({len(labels_of)} metrics in {os.path.relpath(directory, ROOT)})", details)
    if unseen:
        note(f"not exported during the end-to-end run (labels unchecked, names checked against the code): {', '.join(sorted(unseen))}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--expositions", help="directory of *.prom files (the end-to-end test's /metrics)")
    parser.add_argument("--promtool", default="promtool")
    args = parser.parse_args()

    known, histograms = code_metrics()
    histogram_series = {h + s for h in histograms for s in ("_bucket", "_sum", "_count")}
    exported = known | histogram_series | BUILTIN_METRICS
    check(len(known) > 20 and "funnel_http_request_duration_seconds" in histograms,
          f"metric names found in Sources/ ({len(known)}, {len(histograms)} histograms)",
          [f"histograms: {sorted(histograms)}"])

    rules_doc = load_yaml(ALERTS)
    queries = alert_expressions(rules_doc)
    check(len(queries) > 0, f"{ALERTS} has rules ({len(queries)})")

    datasources = load_yaml(DATASOURCES)
    providers = load_yaml(DASHBOARD_PROVIDERS)
    sources = (datasources or {}).get("datasources", [])
    datasource_uid = sources[0].get("uid") if len(sources) == 1 else None
    check(datasource_uid and sources[0].get("type") == "prometheus",
          f"{DATASOURCES}: one Prometheus datasource with a fixed uid ({datasource_uid})", [sources])

    dashboard_queries = []
    files = sorted(glob.glob(rel(DASHBOARDS + "/*.json")))
    check(files, f"dashboards in {DASHBOARDS}", ["none found"])
    for path in files:
        try:
            dashboard = json.load(open(path, encoding="utf-8"))
        except (OSError, ValueError) as exc:
            check(False, f"{os.path.relpath(path, ROOT)} is valid JSON", [exc])
            continue
        check_dashboard(path, dashboard, datasource_uid)
        for p in dashboard_panels(dashboard):
            for t in p.get("targets") or []:
                if t.get("expr"):
                    dashboard_queries.append((f"{os.path.basename(path)} panel {p.get('id')} {p.get('title')!r} {t.get('refId')}",
                                              t["expr"]))

    for label, items in (("alert rules", queries), ("dashboard queries", dashboard_queries)):
        details = []
        for where, expr in items:
            unknown = metrics_in(grafana_to_promql(expr)) - exported
            if unknown:
                details.append(f"{where}: {', '.join(sorted(unknown))} not exported by the code")
        used = set().union(*(metrics_in(grafana_to_promql(e)) for _, e in items)) if items else set()
        check(not details, f"every metric in the {label} is exported by the code ({len(used)} metrics)", details)

    if dashboard_queries:
        promtool_check_dashboard_queries(dashboard_queries, args.promtool)

    compose = load_yaml(COMPOSE)
    prom = load_yaml(PROMETHEUS_CONFIG)
    check_compose_wiring(compose, prom, datasources, providers)

    if args.expositions:
        check_expositions(os.path.abspath(args.expositions), queries + [(w, grafana_to_promql(e)) for w, e in dashboard_queries],
                          histograms)

    for ok, message, details in results:
        print(("NOTE" if ok is None else "PASS" if ok else "FAIL") + "  " + message)
        if ok is False:
            for d in details:
                print("        " + d)
    passed = sum(1 for ok, _, _ in results if ok is True)
    failed = sum(1 for ok, _, _ in results if ok is False)
    print(f"observability: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
