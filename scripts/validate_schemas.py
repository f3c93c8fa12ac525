#!/usr/bin/env python3
"""Validate Funnel's event contract: JSON Schemas, examples, the AsyncAPI document and,
optionally, messages captured from an end-to-end run.

  .venv/bin/python scripts/validate_schemas.py                    # schemas, examples, AsyncAPI, Swift drift
  .venv/bin/python scripts/validate_schemas.py --messages run.jsonl   # ... plus captured messages

Checks:
  (a) every schemas/*.json is a valid draft 2020-12 schema, its `$id` is
      https://funnel.dev/schemas/<file name>, every `$ref` resolves locally, and every
      topic of the brief has a schema whose `type`/`dataschema` constants match;
  (b) every schemas/examples/*.json validates against the schema named by its `type`
      (and every topic has at least one), every schemas/examples/invalid/*.json is rejected;
  (c) --messages FILE: JSON lines `{"topic": "...", "value": <event>, "key": "..."?}` are
      validated against the topic's schema; counts per topic are printed; compacted state
      topics (`funnel.<service>.<store>.v1`) are skipped;
  (d) schemas/asyncapi.yaml: every `$ref` resolves (files exist, fragments resolve), every
      topic has a channel whose message payload is that topic's schema, operations match
      the process table of the brief, every message describes its Kafka key;
  (e) if `pydantic_asyncapi` is importable, the document is validated with it (AsyncAPI 3);
  (f) unless --no-swift: the schemas still match the Swift payload types (field names,
      required/optional, primitive types, enum raw values, topic catalogue).

Requires jsonschema (with referencing) and PyYAML. Exits 1 on any failure, 2 on usage errors.
Nothing is fetched over the network: `$ref`s resolve only to files in schemas/.
"""
from __future__ import annotations

import argparse
import base64
import copy
import datetime as dt
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urldefrag

try:
    import yaml
    from jsonschema import Draft202012Validator, FormatChecker
    from jsonschema.exceptions import SchemaError, best_match
    from referencing import Registry, Resource
    from referencing.exceptions import NoSuchResource, Unresolvable
    from referencing.jsonschema import DRAFT202012
except ImportError as error:  # pragma: no cover - environment problem
    sys.exit(f"validate_schemas: missing Python package ({error}); "
             f"run: .venv/bin/pip install jsonschema pyyaml")

ROOT = Path(__file__).resolve().parent.parent
BASE_URI = "https://funnel.dev/schemas/"           # Schemas.base in CloudEvent.swift
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"

# The topics of the brief (section "Topics").
LEAD_TOPICS = [
    "funnel.lead.captured.v1", "funnel.lead.activity.v1", "funnel.lead.enriched.v1",
    "funnel.lead.scored.v1", "funnel.lead.routed.v1", "funnel.lead.stage-changed.v1",
    "funnel.lead.outcome.v1", "funnel.lead.erased.v1",
]
DEADLETTER = "funnel.deadletter.v1"
BRIEF_TOPICS = LEAD_TOPICS + [DEADLETTER]
STATE_TOPIC = re.compile(r"^funnel\.[a-z0-9-]+\.[a-z0-9-]+\.v\d+$")  # funnel.<service>.<store>.v1

# The process table of the brief; every consumer may also produce dead letters.
PROCESSES: dict[str, dict[str, set[str]]] = {
    "funnel-ingest": {"receive": set(),
                      "send": {"funnel.lead.captured.v1", "funnel.lead.activity.v1", "funnel.lead.outcome.v1",
                               "funnel.lead.erased.v1"}},
    "funnel-enrich": {"receive": {"funnel.lead.captured.v1"},
                      "send": {"funnel.lead.enriched.v1", DEADLETTER}},
    "funnel-score": {"receive": {"funnel.lead.enriched.v1", "funnel.lead.activity.v1", "funnel.lead.erased.v1"},
                     "send": {"funnel.lead.scored.v1", DEADLETTER}},
    "funnel-route": {"receive": {"funnel.lead.scored.v1", "funnel.lead.outcome.v1", "funnel.lead.erased.v1"},
                     "send": {"funnel.lead.routed.v1", "funnel.lead.stage-changed.v1", DEADLETTER}},
    "funnel-followup": {"receive": {"funnel.lead.routed.v1", "funnel.lead.stage-changed.v1", "funnel.lead.erased.v1"},
                        "send": {"funnel.lead.activity.v1", DEADLETTER}},
}

# Swift payload types (Sources/FunnelDomain) -> (schema file, JSON pointer of their schema).
SWIFT_STRUCTS = {
    "CloudEvent": ("envelope.v1.json", ""),
    "LeadCaptured": ("funnel.lead.captured.v1.json", "/$defs/LeadCaptured"),
    "Consent": ("funnel.lead.captured.v1.json", "/$defs/LeadCaptured/properties/consent"),
    "LeadActivity": ("funnel.lead.activity.v1.json", "/$defs/LeadActivity"),
    "LeadOutcome": ("funnel.lead.outcome.v1.json", "/$defs/LeadOutcome"),
    "CompanyInfo": ("funnel.lead.enriched.v1.json", "/$defs/CompanyInfo"),
    "LeadEnriched": ("funnel.lead.enriched.v1.json", "/$defs/LeadEnriched"),
    "RuleContribution": ("funnel.lead.scored.v1.json", "/$defs/RuleContribution"),
    "LeadScored": ("funnel.lead.scored.v1.json", "/$defs/LeadScored"),
    "NamedScore": ("funnel.lead.scored.v1.json", "/$defs/NamedScore"),
    "ScoreSnapshot": ("funnel.lead.stage-changed.v1.json", "/$defs/ScoreSnapshot"),
    "LeadRouted": ("funnel.lead.routed.v1.json", "/$defs/LeadRouted"),
    "StageChanged": ("funnel.lead.stage-changed.v1.json", "/$defs/StageChanged"),
    "DeadLetter": ("funnel.deadletter.v1.json", "/$defs/DeadLetter"),
    "LeadErased": ("funnel.lead.erased.v1.json", "/$defs/LeadErased"),
    "AccountRecord": ("funnel.enrich.accounts.v1.json", "/$defs/AccountRecord"),
}
SWIFT_ENUMS = {
    "Stage": ("funnel.lead.stage-changed.v1.json", "/$defs/Stage"),
    "ActivityType": ("funnel.lead.activity.v1.json", "/$defs/ActivityType"),
    "OutcomeType": ("funnel.lead.outcome.v1.json", "/$defs/OutcomeType"),
    "EmailClass": ("funnel.lead.enriched.v1.json", "/$defs/EmailClass"),
    "Intent": ("funnel.lead.enriched.v1.json", "/$defs/Intent"),
    "AccountMatchKind": ("funnel.lead.enriched.v1.json", "/$defs/AccountMatchKind"),
    "CountrySource": ("funnel.lead.enriched.v1.json", "/$defs/CountrySource"),
}
SWIFT_PRIMITIVES = {"String": "string", "Int": "integer", "Int32": "integer", "Int64": "integer",
                    "UInt": "integer", "Double": "number", "Float": "number", "Bool": "boolean"}

# Why each invalid example must be rejected: a fragment of the failing path or message.
# (Files not listed here only have to be rejected.)
INVALID_EXPECT = {
    "captured-missing-email-and-phone.json": "$.data: the object is not valid under any of the given schemas",
    "captured-employees-is-a-string.json": "$.data.employees",
    "captured-country-not-alpha2.json": "$.data.country",
    "captured-email-without-at.json": "$.data.email",
    "captured-lead-id-null.json": "$.data.lead_id",
    "activity-unknown-type.json": "$.data.type",
    "activity-occurred-at-not-rfc3339.json": "$.data.occurred_at",
    "enriched-unknown-email-class.json": "$.data.email_class",
    "enriched-unknown-intent.json": "$.data.intent",
    "enriched-unknown-country-source.json": "$.data.country_source",
    "enriched-match-confidence-above-1.json": "$.data.match_confidence",
    "enriched-profile-missing-captured-at.json": "$.data.profile: 'captured_at' is a required property",
    "scored-grade-E.json": "$.data.grade",
    "scored-rule-points-is-a-string.json": "$.data.rules[0].points",
    "routed-missing-queue.json": "'queue' is a required property",
    "stage-changed-owner-key-omitted.json": "'owner' is a required property",
    "stage-changed-unknown-stage-won.json": "$.data.to",
    "stage-changed-score-grade-lowercase.json": "$.data.score",
    "outcome-unknown-outcome.json": "$.data.outcome",
    "outcome-negative-amount.json": "$.data.amount",
    "deadletter-partition-out-of-int32-range.json": "$.data.partition",
    "deadletter-offset-not-integer.json": "$.data.offset",
    "envelope-specversion-0.3.json": "$.specversion",
    "envelope-missing-subject.json": "'subject' is a required property",
    "envelope-time-without-timezone.json": "$.time",
    "envelope-dataschema-of-another-topic.json": "$.dataschema",
    "envelope-datacontenttype-xml.json": "$.datacontenttype",
    "envelope-unknown-type.json": "no schema for type",
    "accounts-domain-with-scheme.json": "$.data.domains[0]",
}


# --------------------------------------------------------------------------- reporting

class Report:
    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose
        self.passed = 0
        self.failures: list[str] = []

    def section(self, title: str) -> None:
        print(f"\n== {title}")

    def ok(self, what: str) -> None:
        self.passed += 1
        if self.verbose:
            print(f"  ok    {what}")

    def fail(self, what: str) -> None:
        self.failures.append(what)
        print(f"  FAIL  {what}")

    def note(self, what: str) -> None:
        print(f"  note  {what}")

    def check(self, condition: bool, what: str, why: str = "") -> bool:
        if condition:
            self.ok(what)
        else:
            self.fail(f"{what}: {why}" if why else what)
        return condition


# --------------------------------------------------------------------------- formats

RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))$")


def is_rfc3339(value: object) -> bool:
    """RFC 3339 date-time, strictly (jsonschema only checks it when rfc3339-validator is installed)."""
    if not isinstance(value, str):
        return True
    m = RFC3339.match(value)
    if not m:
        return False
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    try:
        dt.date(year, month, day)
    except ValueError:
        return False
    if hour > 23 or minute > 59 or second > 60:
        return False
    if m.group(9) is not None and (int(m.group(9)) > 23 or int(m.group(10)) > 59):
        return False
    return True


def format_checker() -> FormatChecker:
    checker = FormatChecker(formats=())
    checker.checkers = dict(Draft202012Validator.FORMAT_CHECKER.checkers)
    checker.checks("date-time")(is_rfc3339)
    return checker


# --------------------------------------------------------------------------- schemas

def shown(path: Path) -> str:
    """`path` relative to the checkout when inside it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def load_json(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


def walk_refs(node: Any, pointer: str = "") -> Iterator[tuple[str, str]]:
    """(JSON pointer, $ref value) for every `$ref` in a JSON/YAML document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield pointer, value
            else:
                yield from walk_refs(value, f"{pointer}/{escape(str(key))}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk_refs(value, f"{pointer}/{index}")


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def resolve_pointer(document: Any, pointer: str) -> Any:
    """Resolves a JSON pointer ('' or '/a/b'); raises KeyError if it does not resolve."""
    if pointer in ("", "/"):
        return document
    if not pointer.startswith("/"):
        raise KeyError(pointer)
    node = document
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            if not token.isdigit() or int(token) >= len(node):
                raise KeyError(pointer)
            node = node[int(token)]
        elif isinstance(node, dict) and token in node:
            node = node[token]
        else:
            raise KeyError(pointer)
    return node


def find_closed_objects(node: Any, pointer: str = "") -> Iterator[str]:
    if isinstance(node, dict):
        if node.get("additionalProperties") is False or node.get("unevaluatedProperties") is False:
            yield pointer or "/"
        for key, value in node.items():
            yield from find_closed_objects(value, f"{pointer}/{escape(str(key))}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from find_closed_objects(value, f"{pointer}/{index}")


class Schemas:
    """The schema files of schemas/, a local-only referencing registry and validators."""

    def __init__(self, directory: Path, report: Report) -> None:
        self.directory = directory
        self.report = report
        self.files: dict[str, Any] = {}          # file name -> schema
        for path in sorted(directory.glob("*.json")):
            try:
                self.files[path.name] = load_json(path)
            except (OSError, json.JSONDecodeError) as error:
                report.fail(f"{path.name}: not JSON: {error}")

        def retrieve(uri: str) -> Resource:
            # Only files in schemas/: never the network.
            if uri.startswith(BASE_URI):
                path = directory / uri[len(BASE_URI):]
                if path.is_file():
                    return Resource.from_contents(load_json(path), default_specification=DRAFT202012)
            raise NoSuchResource(ref=uri)

        registry: Registry = Registry(retrieve=retrieve)  # type: ignore[call-arg]
        resources = []
        for name, schema in self.files.items():
            if isinstance(schema, dict) and isinstance(schema.get("$id"), str):
                resources.append((schema["$id"], Resource.from_contents(schema, default_specification=DRAFT202012)))
        self.registry = registry.with_resources(resources)
        self.formats = format_checker()
        self._validators: dict[str, Draft202012Validator] = {}

    def for_topic(self, topic: str) -> Draft202012Validator | None:
        name = f"{topic}.json"
        if name not in self.files:
            return None
        if name not in self._validators:
            self._validators[name] = Draft202012Validator(
                self.files[name], registry=self.registry, format_checker=self.formats)
        return self._validators[name]

    def errors(self, topic: str, event: Any, key: Any = None, check_key: bool = False) -> list[str]:
        """Every reason `event` is not a valid `topic` event (empty if it is)."""
        validator = self.for_topic(topic)
        if validator is None:
            return [f"no schema for type {topic!r} (expected schemas/{topic}.json)"]
        found = []
        try:
            errors = sorted(validator.iter_errors(event), key=lambda e: (list(e.absolute_path), e.message))
        except Unresolvable as error:
            ref = getattr(error, "ref", None) or getattr(getattr(error, "_wrapped", None), "ref", "?")
            return [f"schemas/{topic}.json cannot be used: unresolvable $ref {ref!r}"]
        except Exception as error:  # a broken schema must not crash the run
            return [f"schemas/{topic}.json cannot be used: {type(error).__name__}: {short(str(error), 160)}"]
        for error in errors:
            leaf = best_match([error]) if error.context else error
            found.append(f"{leaf.json_path}: {readable(leaf)}")
        found += contract_errors(topic, event, key, check_key)
        return found

    # (a)
    def check_all(self) -> None:
        r = self.report
        r.check("envelope.v1.json" in self.files, "envelope.v1.json exists")
        for topic in BRIEF_TOPICS:
            r.check(f"{topic}.json" in self.files, f"schema for topic {topic}", "missing file schemas/" + topic + ".json")
        for name, schema in self.files.items():
            if not isinstance(schema, dict):
                r.fail(f"{name}: not a JSON object")
                continue
            try:
                Draft202012Validator.check_schema(schema)
                r.ok(f"{name}: valid draft 2020-12 schema")
            except SchemaError as error:
                r.fail(f"{name}: invalid schema at {error.json_path}: {short(error.message)}")
                continue
            r.check(schema.get("$schema") == DRAFT_2020_12, f"{name}: $schema",
                    f"must be {DRAFT_2020_12}, is {schema.get('$schema')!r}")
            r.check(schema.get("$id") == BASE_URI + name, f"{name}: $id",
                    f"must be {BASE_URI + name}, is {schema.get('$id')!r}")
            closed = list(find_closed_objects(schema))
            r.check(not closed, f"{name}: objects stay open (additive fields stay in v1)",
                    f"additionalProperties/unevaluatedProperties false at {', '.join(closed)}")
            resolver = self.registry.resolver(base_uri=schema.get("$id", ""))
            bad = []
            for pointer, ref in walk_refs(schema):
                try:
                    resolver.lookup(ref)
                except Unresolvable as error:
                    bad.append(f"{ref} (at {pointer}): {type(error).__name__}")
            r.check(not bad, f"{name}: every $ref resolves locally", "; ".join(bad))
            topic = name[:-len(".json")]
            if topic in BRIEF_TOPICS:
                props = schema.get("properties", {})
                r.check(props.get("type", {}).get("const") == topic, f"{name}: type const = {topic}")
                r.check(props.get("dataschema", {}).get("const") == BASE_URI + name,
                        f"{name}: dataschema const = $id (Schemas.uri(for:))")
                r.check(bool(props.get("data")), f"{name}: describes data")
            elif name != "envelope.v1.json":
                r.note(f"{name}: not a topic of the brief (shared definitions?)")


def readable(error: Any) -> str:
    """The error message without a long dump of the offending value."""
    message, shown_value = error.message, repr(error.instance)
    if len(shown_value) > 60 and message.startswith(shown_value):
        kind = type(error.instance).__name__.replace("dict", "object").replace("list", "array")
        message = f"the {kind}" + message[len(shown_value):]
    if error.validator in ("anyOf", "oneOf") and error.context:
        reasons = list(dict.fromkeys(readable(sub) for sub in error.context))
        message += " (" + "; or ".join(reasons[:4]) + ")"
    return short(message)


def short(message: str, limit: int = 240) -> str:
    return message if len(message) <= limit else message[:limit] + "..."


def contract_errors(topic: str, event: Any, key: Any, check_key: bool) -> list[str]:
    """What the brief says beyond JSON Schema: type = topic, subject = lead id = key."""
    if not isinstance(event, dict):
        return []
    errors = []
    if event.get("type") != topic:
        errors.append(f"$.type: {event.get('type')!r} is not the topic {topic!r}")
    data = event.get("data")
    if topic in LEAD_TOPICS and isinstance(data, dict) and "lead_id" in data \
            and data.get("lead_id") != event.get("subject"):
        errors.append(f"$.subject: {event.get('subject')!r} is not data.lead_id {data.get('lead_id')!r}")
    if topic == DEADLETTER and isinstance(data, dict) and isinstance(data.get("original"), str):
        try:
            base64.b64decode(data["original"], validate=True)
        except ValueError as error:
            errors.append(f"$.data.original: not base64 ({error})")
    if check_key and key is not None and key != event.get("subject"):
        errors.append(f"key {key!r} is not the subject {event.get('subject')!r}")
    return errors


# --------------------------------------------------------------------------- (b) examples

def check_examples(schemas: Schemas, directory: Path, report: Report) -> None:
    report.section(f"(b) examples in {shown(directory)}")
    files = sorted(directory.glob("*.json"))
    report.check(bool(files), "valid examples exist", f"no *.json in {directory}")
    per_topic: Counter[str] = Counter()
    for path in files:
        try:
            event = load_json(path)
        except (OSError, json.JSONDecodeError) as error:
            report.fail(f"examples/{path.name}: not JSON: {error}")
            continue
        topic = event.get("type") if isinstance(event, dict) else None
        errors = schemas.errors(str(topic), event)
        if report.check(not errors, f"examples/{path.name} valid ({topic})", "; ".join(errors)):
            per_topic[str(topic)] += 1
    for topic in BRIEF_TOPICS:
        report.check(per_topic[topic] > 0, f"a valid example of {topic}", "none in schemas/examples/")

    invalid = sorted((directory / "invalid").glob("*.json"))
    report.check(bool(invalid), "invalid examples exist", f"no *.json in {directory / 'invalid'}")
    for path in invalid:
        try:
            event = load_json(path)
        except json.JSONDecodeError:
            report.ok(f"examples/invalid/{path.name} rejected (not JSON)")
            continue
        topic = event.get("type") if isinstance(event, dict) else None
        errors = schemas.errors(str(topic), event)
        if not errors:
            report.fail(f"examples/invalid/{path.name} was ACCEPTED by {topic} (it must be rejected)")
            continue
        expected = INVALID_EXPECT.get(path.name)
        if expected and not any(expected in error for error in errors):
            report.fail(f"examples/invalid/{path.name} rejected, but not for the expected reason "
                        f"({expected!r}): {'; '.join(errors)}")
            continue
        report.ok(f"examples/invalid/{path.name} rejected")
        if report.verbose:
            print(f"          because {errors[0]}")


# --------------------------------------------------------------------------- (c) messages

def check_messages(schemas: Schemas, path: Path, report: Report, max_shown: int = 5) -> None:
    report.section(f"(c) messages in {path}")
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    shown: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    events = 0

    def failed(topic: str, where: str, why: str) -> None:
        counts[topic]["failed"] += 1
        report.failures.append(f"{where}: {why}")
        if shown[topic] < max_shown:
            print(f"  FAIL  {where}: {why}")
        elif shown[topic] == max_shown:
            print(f"  FAIL  {topic}: more failures not shown")
        shown[topic] += 1

    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                failed("(unparsable)", where, f"not JSON: {error}")
                continue
            if not isinstance(record, dict) or not isinstance(record.get("topic"), str) or "value" not in record:
                failed("(malformed)", where, 'expected {"topic": "...", "value": ...}')
                continue
            topic, value = record["topic"], record["value"]
            if topic not in BRIEF_TOPICS and STATE_TOPIC.match(topic) and not topic.startswith("funnel.lead.") \
                    and schemas.for_topic(topic) is None:
                skipped[topic] += 1            # compacted internal state: not part of the contract
                continue
            if value is None and topic not in BRIEF_TOPICS:
                skipped[topic] += 1            # a tombstone on a compacted topic (e.g. an account deleted)
                continue
            if isinstance(value, str):          # tolerate a value captured as text
                try:
                    value = json.loads(value)
                except json.JSONDecodeError as error:
                    failed(topic, where, f"value is not JSON: {error}")
                    continue
            if value is None:
                failed(topic, where, "value is null (a tombstone on an event topic)")
                continue
            events += 1
            errors = schemas.errors(topic, value, record.get("key"), check_key="key" in record)
            if errors:
                failed(topic, f"{where} ({topic}, id {value.get('id') if isinstance(value, dict) else '?'})",
                       "; ".join(errors))
            else:
                counts[topic]["passed"] += 1
                report.passed += 1

    print(f"  {'topic':<34} {'passed':>8} {'failed':>8}")
    for topic in sorted(counts):
        print(f"  {topic:<34} {counts[topic]['passed']:>8} {counts[topic]['failed']:>8}")
    for topic in sorted(skipped):
        print(f"  {topic:<34} {skipped[topic]:>8} skipped (compacted state topic)")
    missing = [t for t in BRIEF_TOPICS if t not in counts]
    if missing:
        report.note(f"no messages on: {', '.join(missing)}")
    report.check(events > 0, f"{path.name} holds event messages", "no messages on any event topic")


# --------------------------------------------------------------------------- (d) AsyncAPI

def check_asyncapi(schemas: Schemas, path: Path, report: Report) -> dict | None:
    report.section(f"(d) {shown(path)}")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        report.fail(f"{path.name}: cannot parse: {error}")
        return None
    if not report.check(isinstance(document, dict), f"{path.name} is a mapping"):
        return None
    report.check(str(document.get("asyncapi", "")).startswith("3."), "asyncapi version 3.x",
                 f"is {document.get('asyncapi')!r}")

    # Every $ref resolves: internal pointers, and files beside the document (with fragments).
    bad = []
    external = 0
    for pointer, ref in walk_refs(document):
        target, fragment = urldefrag(ref)
        try:
            if not target:
                resolve_pointer(document, fragment)
                continue
            external += 1
            if "://" in target:
                bad.append(f"{ref} at {pointer}: only local files are allowed")
                continue
            file = (path.parent / target).resolve()
            if not file.is_file():
                bad.append(f"{ref} at {pointer}: no file {file}")
                continue
            if file.suffix == ".json" and file.parent == schemas.directory.resolve():
                if file.name not in schemas.files:
                    bad.append(f"{ref} at {pointer}: {file.name} is not a loaded schema")
                    continue
                resolve_pointer(schemas.files[file.name], fragment)
            elif file.suffix in (".json", ".yaml", ".yml"):
                resolve_pointer(yaml.safe_load(file.read_text(encoding="utf-8")), fragment)
        except KeyError:
            bad.append(f"{ref} at {pointer}: fragment does not resolve")
    report.check(not bad, f"every $ref resolves ({external} to files)", "; ".join(bad))

    def deref(node: Any) -> Any:
        seen = 0
        while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#") and seen < 20:
            try:
                node = resolve_pointer(document, urldefrag(node["$ref"])[1])
            except KeyError:
                return {}
            seen += 1
        return node

    channels = document.get("channels") or {}
    by_address: dict[str, list[str]] = defaultdict(list)
    for name, channel in channels.items():
        channel = deref(channel)
        address = channel.get("address") if isinstance(channel, dict) else None
        by_address[str(address)].append(name)
        messages = (channel.get("messages") or {}) if isinstance(channel, dict) else {}
        if not report.check(bool(messages), f"channel {name} ({address}) has messages"):
            continue
        for message_name, message in messages.items():
            message = deref(message)
            payload = message.get("payload", {}) if isinstance(message, dict) else {}
            ref = payload.get("$ref", "") if isinstance(payload, dict) else ""
            report.check(Path(urldefrag(ref)[0]).name == f"{address}.json",
                         f"channel {name}: message {message_name} payload is schemas/{address}.json",
                         f"payload $ref is {ref!r}")
            key_described = has_kafka_key(message, deref)
            report.check(key_described, f"channel {name}: message {message_name} describes the Kafka key",
                         "no bindings.kafka.key on the message or its traits")
        binding = ((channel.get("bindings") or {}).get("kafka") or {}) if isinstance(channel, dict) else {}
        if "topic" in binding:
            report.check(binding["topic"] == address, f"channel {name}: kafka binding topic = address",
                         f"{binding['topic']!r} != {address!r}")
    for topic in BRIEF_TOPICS:
        names = by_address.get(topic, [])
        report.check(len(names) == 1, f"topic {topic} has one channel", f"channels: {names or 'none'}")
    for address in by_address:
        if address not in BRIEF_TOPICS:
            report.fail(f"channel address {address!r} is not a topic of the brief")

    # Operations: valid action, channel ref, messages of that channel; the process table.
    actual: dict[str, dict[str, set[str]]] = defaultdict(lambda: {"send": set(), "receive": set()})
    for name, operation in (document.get("operations") or {}).items():
        operation = deref(operation)
        action = operation.get("action")
        channel_ref = (operation.get("channel") or {}).get("$ref", "")
        report.check(action in ("send", "receive"), f"operation {name}: action", f"{action!r}")
        if not report.check(channel_ref.startswith("#/channels/") and channel_ref.count("/") == 2,
                            f"operation {name}: channel is a #/channels/<name> ref", repr(channel_ref)):
            continue
        channel_name = channel_ref.split("/")[-1]
        channel = deref(channels.get(channel_name, {}))
        for message in operation.get("messages") or []:
            ref = message.get("$ref", "") if isinstance(message, dict) else ""
            report.check(ref.startswith(f"{channel_ref}/messages/"),
                         f"operation {name}: message {ref} belongs to {channel_ref}")
        tags = [tag.get("name") for tag in operation.get("tags") or [] if isinstance(tag, dict)]
        for tag in tags:
            if action in ("send", "receive"):
                actual[tag][action].add(channel.get("address"))
    for process, expected in PROCESSES.items():
        for action in ("send", "receive"):
            got = actual.get(process, {}).get(action, set())
            report.check(got == expected[action], f"{process} {action}s {sorted(expected[action]) or 'nothing'}",
                         f"the document says {sorted(got)}")
    return document


def has_kafka_key(message: Any, deref) -> bool:
    if not isinstance(message, dict):
        return False
    if isinstance(((message.get("bindings") or {}).get("kafka") or {}).get("key"), dict):
        return True
    return any(isinstance(((deref(trait).get("bindings") or {}).get("kafka") or {}).get("key"), dict)
               for trait in message.get("traits") or [] if isinstance(deref(trait), dict))


# --------------------------------------------------------------------------- (e) pydantic-asyncapi

KAFKA_MESSAGE_BINDING_FIELDS = {"key", "schemaIdLocation", "schemaIdPayloadEncoding", "schemaLookupStrategy",
                                "bindingVersion"}


def check_with_pydantic_asyncapi(document: dict, report: Report) -> None:
    report.section("(e) pydantic-asyncapi")
    try:
        import pydantic_asyncapi  # type: ignore[import-not-found]
    except ImportError:
        report.note("pydantic_asyncapi is not installed: skipped (.venv/bin/pip install pydantic-asyncapi)")
        return
    version = getattr(pydantic_asyncapi, "__version__", "?")
    # pydantic-asyncapi (0.3.x) types message bindings' `kafka` as None, although the
    # AsyncAPI Kafka bindings define a message binding (`key`, bindingVersion 0.5.0).
    # Check those here, and hand the library a copy without them.
    stripped = copy.deepcopy(document)
    components = stripped.get("components") or {}
    holders: list[tuple[str, dict]] = []
    for section in ("messages", "messageTraits"):
        for name, item in (components.get(section) or {}).items():
            holders.append((f"components.{section}.{name}", item))
    for channel_name, channel in (stripped.get("channels") or {}).items():
        for name, item in ((channel or {}).get("messages") or {}).items():
            holders.append((f"channels.{channel_name}.messages.{name}", item))
            for index, trait in enumerate((item or {}).get("traits") or []):
                holders.append((f"channels.{channel_name}.messages.{name}.traits[{index}]", trait))
    for where, item in holders:
        bindings = item.get("bindings") if isinstance(item, dict) else None
        if not isinstance(bindings, dict) or "kafka" not in bindings:
            continue
        kafka = bindings.pop("kafka")
        ok = isinstance(kafka, dict) and set(kafka) <= KAFKA_MESSAGE_BINDING_FIELDS
        why = f"unknown fields {sorted(set(kafka) - KAFKA_MESSAGE_BINDING_FIELDS)}" if isinstance(kafka, dict) else "not a mapping"
        if ok and "key" in kafka:
            try:
                Draft202012Validator.check_schema(kafka["key"])
            except SchemaError as error:
                ok, why = False, f"key is not a schema: {short(error.message)}"
        report.check(ok, f"{where}.bindings.kafka is a Kafka message binding", why)
        if not bindings:
            item.pop("bindings")
    try:
        pydantic_asyncapi.AsyncAPI.model_validate(stripped)
        report.ok(f"pydantic-asyncapi {version}: valid AsyncAPI {document.get('asyncapi')} document")
    except Exception as error:  # pydantic.ValidationError, kept generic on purpose
        report.fail(f"pydantic-asyncapi {version} rejects the document:\n{error}")


# --------------------------------------------------------------------------- (f) Swift drift

def swift_strip(text: str) -> str:
    """Removes // and /* */ comments; string literals are kept as they are."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif text[i] == '"':
            j = i + 1
            while j < n and text[j] != '"' and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def swift_chars(text: str, start: int = 0) -> Iterator[tuple[int, str, bool]]:
    """(index, character, inside a string literal) from `start`, for brace matching."""
    in_string = escaped = False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"' or ch == "\n":
                in_string = False
        elif ch == '"':
            in_string = True
            yield i, ch, True
            continue
        yield i, ch, in_string


def swift_block(text: str, kind: str, name: str) -> str | None:
    """The body (between the braces) of `kind name` in comment-stripped Swift source."""
    m = re.search(rf"\b{kind}\s+{re.escape(name)}\b[^{{]*\{{", text)
    if not m:
        return None
    depth = 1
    for i, ch, quoted in swift_chars(text, m.end()):
        if quoted:
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[m.end():i]
    return None


def top_level(body: str) -> str:
    """`body` with every nested {...} replaced by {}."""
    out, depth = [], 0
    for _, ch, quoted in swift_chars(body):
        if ch == "{" and not quoted:
            if depth == 0:
                out.append("{}")
            depth += 1
        elif ch == "}" and not quoted:
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def swift_enum_cases(body: str) -> dict[str, str]:
    """case name -> raw value, for the cases declared directly in an enum body."""
    cases: dict[str, str] = {}
    for line in re.findall(r"\bcase\s+([^\n]+)", top_level(body)):
        for item in line.split(","):
            m = re.match(r'\s*(\w+)\s*(?:=\s*"([^"]*)")?', item)
            if m:
                cases[m.group(1)] = m.group(2) if m.group(2) is not None else m.group(1)
    return cases


def check_swift(schemas: Schemas, sources: Path, report: Report) -> None:
    report.section(f"(f) Swift payload types in {shown(sources)}")
    files = sorted(sources.rglob("*.swift"))
    if not files:
        report.note(f"no Swift sources in {sources}: skipped")
        return
    raw = "\n".join(path.read_text(encoding="utf-8") for path in files)
    text = swift_strip(raw)   # comments removed; raw values and topic names are strings

    topics = set(re.findall(r'static\s+let\s+\w+\s*=\s*"(funnel\.[^"]+)"', text))
    # Public topics are exactly the brief's; a process's internal topics are named
    # funnel.<service>.<name>.v1 (like its state changelogs) and have no public schema.
    public = {t for t in topics if t.startswith("funnel.lead.") or t == "funnel.deadletter.v1"}
    internal = topics - public
    report.check(public == set(BRIEF_TOPICS), "TopicCatalog public topics = the brief's topics",
                 f"TopicCatalog has {sorted(public)}")
    services = {"ingest", "enrich", "score", "route", "followup", "deadletter"}  # deadletter: the operators' replay log
    bad = sorted(t for t in internal if not re.fullmatch(r"funnel\.([a-z]+)\.[a-z-]+\.v[0-9]+", t)
                 or t.split(".")[1] not in services)
    report.check(not bad, "internal topics are funnel.<service>.<name>.v<N> of a Funnel process", f"misnamed: {bad}")

    def target(file: str, pointer: str) -> Any:
        return resolve_pointer(schemas.files.get(file, {}), pointer)

    for enum, (file, pointer) in SWIFT_ENUMS.items():
        body = swift_block(text, "enum", enum)
        if body is None:
            report.fail(f"Swift enum {enum} not found (update SWIFT_ENUMS in {Path(__file__).name})")
            continue
        values = set(swift_enum_cases(body).values())
        try:
            schema_values = set(target(file, pointer).get("enum", []))
        except KeyError:
            report.fail(f"{file}#{pointer} does not exist (enum {enum})")
            continue
        report.check(values == schema_values, f"enum {enum} = {file}#{pointer}",
                     f"Swift only: {sorted(values - schema_values)}, schema only: {sorted(schema_values - values)}")

    for struct, (file, pointer) in SWIFT_STRUCTS.items():
        body = swift_block(text, "struct", struct)
        if body is None:
            report.fail(f"Swift struct {struct} not found (update SWIFT_STRUCTS in {Path(__file__).name})")
            continue
        try:
            schema = target(file, pointer)
        except KeyError:
            report.fail(f"{file}#{pointer} does not exist (struct {struct})")
            continue
        flat = top_level(body)
        props: dict[str, tuple[str, bool]] = {}
        for m in re.finditer(r"(?m)^\s*(?:(?:public|internal|fileprivate|private)\s+)?(static\s+)?(?:var|let)\s+(\w+)\s*:\s*([^\n={]+?)\s*(\{\})?\s*$", flat):
            if m.group(1) or m.group(4):       # static, or computed
                continue
            swift_type = m.group(3).strip()
            props[m.group(2)] = (swift_type.rstrip("?"), swift_type.endswith("?"))
        coding_keys = swift_block(body, "enum", "CodingKeys")
        names = swift_enum_cases(coding_keys) if coding_keys is not None else {}
        encode = swift_block(body, "func", "encode")
        explicit = set(re.findall(r"\.encode\(\s*(\w+)\s*,\s*forKey:", encode or ""))
        json_props = schema.get("properties", {})
        required = set(schema.get("required", []))
        keys = {names.get(p, p) for p in props}
        problems = []
        if set(json_props) != keys:
            problems.append(f"fields: Swift only {sorted(keys - set(json_props))}, schema only {sorted(set(json_props) - keys)}")
        for prop, (swift_type, optional) in props.items():
            key = names.get(prop, prop)
            if key not in json_props:
                continue
            prop_schema = json_props[key]
            types, nullable = schema_types(prop_schema, schemas, file)
            if optional:
                if not nullable:
                    problems.append(f"{key}: Swift optional, schema does not allow null")
                if key in required and prop not in explicit:
                    problems.append(f"{key}: Swift optional (omitted when nil), schema requires it")
            elif key not in required:
                problems.append(f"{key}: Swift non-optional, schema does not require it")
            expected = swift_json_type(swift_type)
            if expected and types and expected not in types and not (expected == "integer" and "number" in types):
                problems.append(f"{key}: Swift {swift_type} is JSON {expected}, schema says {sorted(types)}")
        report.check(not problems, f"struct {struct} = {file}#{pointer or '/'}", "; ".join(problems))


def swift_json_type(swift_type: str) -> str | None:
    if swift_type in SWIFT_PRIMITIVES:
        return SWIFT_PRIMITIVES[swift_type]
    if re.fullmatch(r"\[\s*\w+\s*:\s*[\w?]+\s*\]", swift_type):
        return "object"
    if re.fullmatch(r"\[[\w?]+\]", swift_type):
        return "array"
    return None


def schema_types(node: Any, schemas: Schemas, file: str) -> tuple[set[str], bool]:
    """(JSON types a property schema allows, whether it allows null), following $refs and anyOf/oneOf."""
    types: set[str] = set()
    nullable = False
    if not isinstance(node, dict):
        return types, nullable
    declared = node.get("type")
    if isinstance(declared, str):
        types.add(declared)
    elif isinstance(declared, list):
        types.update(declared)
    if ("const" in node and node["const"] is None) or None in node.get("enum", []):
        nullable = True
    if "$ref" in node:
        try:
            resolved = schemas.registry.resolver(base_uri=BASE_URI + file).lookup(node["$ref"]).contents
            sub, sub_null = schema_types(resolved, schemas, file)
            types |= sub
            nullable |= sub_null
        except Unresolvable:
            pass
    for key in ("anyOf", "oneOf"):
        for option in node.get(key, []):
            sub, sub_null = schema_types(option, schemas, file)
            types |= sub
            nullable |= sub_null
    if "null" in types:
        nullable = True
        types.discard("null")
    return types, nullable


# --------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=Path, metavar="FILE",
                        help='JSON lines {"topic": ..., "value": <event>} captured from a run')
    parser.add_argument("--schemas", type=Path, default=ROOT / "schemas", help="schema directory (default: schemas/)")
    parser.add_argument("--swift-sources", type=Path, default=ROOT / "Sources" / "FunnelDomain",
                        help="Swift payload types to compare with (default: Sources/FunnelDomain)")
    parser.add_argument("--no-swift", action="store_true", help="skip the drift check against the Swift types")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every passed check")
    args = parser.parse_args(argv)

    directory = args.schemas.resolve()
    if not directory.is_dir():
        print(f"validate_schemas: no schema directory {directory}", file=sys.stderr)
        return 2
    if args.messages and not args.messages.is_file():
        print(f"validate_schemas: no messages file {args.messages}", file=sys.stderr)
        return 2

    report = Report(args.verbose)
    report.section(f"(a) schemas in {shown(directory)}")
    schemas = Schemas(directory, report)
    schemas.check_all()
    check_examples(schemas, directory / "examples", report)
    if args.messages:
        check_messages(schemas, args.messages, report)
    document = check_asyncapi(schemas, directory / "asyncapi.yaml", report) \
        if (directory / "asyncapi.yaml").is_file() else None
    if document is None and not (directory / "asyncapi.yaml").is_file():
        report.fail(f"{directory / 'asyncapi.yaml'} is missing")
    if isinstance(document, dict):
        check_with_pydantic_asyncapi(document, report)
    if not args.no_swift:
        check_swift(schemas, args.swift_sources.resolve(), report)

    failed = len(report.failures)
    print()
    if failed:
        print(f"validate_schemas: {failed} check(s) failed; first: {report.failures[0].splitlines()[0]}", file=sys.stderr)
    print(f"schemas: {report.passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
