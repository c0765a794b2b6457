"""Shared by the deploy tests: paths, the metrics catalogue, the registry, PromQL, promtool."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, fields
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from worker.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = ROOT / "docs" / "operations.md"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
ALERT_TESTS = ROOT / "deploy" / "prometheus" / "alerts.test.yml"
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "texter-worker.json"

# The rabbitmq_prometheus plugin's per-object queue metrics we query, with their labels
# (deps/rabbitmq_prometheus/metrics.md upstream; per-object: /metrics/per-object, or
# prometheus.return_per_object_metrics = true).
RABBITMQ_METRICS: dict[str, frozenset[str]] = {
    name: frozenset({"vhost", "queue"})
    for name in (
        "rabbitmq_queue_messages",
        "rabbitmq_queue_messages_ready",
        "rabbitmq_queue_messages_unacked",
        "rabbitmq_queue_consumers",
    )
}
# Series Prometheus makes itself for every target.
PROMETHEUS_METRICS: dict[str, frozenset[str]] = {"up": frozenset()}
# Labels Prometheus adds to every scraped series.
TARGET_LABELS = frozenset({"job", "instance"})

_TYPES = {"counter", "gauge", "histogram", "info"}


@dataclass(frozen=True)
class Documented:
    name: str  # as queried: texter_worker_ingress_requests_total, ..._seconds, ..._build_info
    kind: str
    labels: frozenset[str]


def catalogue() -> dict[str, Documented]:
    """The rows of the metrics catalogue table in docs/operations.md, by metric name."""
    text = OPERATIONS.read_text(encoding="utf-8")
    section = text.split("## Metrics catalogue", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, Documented] = {}
    for line in section.splitlines():
        if not line.startswith("| `texter_worker_"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        name = cells[0].strip("`")
        labels = frozenset(re.findall(r"`([a-z_]+)`", cells[2]))
        assert name not in rows, f"{name} is in the catalogue twice"
        assert cells[1] in _TYPES, f"{name}: unknown type {cells[1]!r}"
        assert labels or cells[2] == "—", f"{name}: labels cell {cells[2]!r}"
        rows[name] = Documented(name, cells[1], labels)
    return rows


def exposed_name(family: str, kind: str) -> str:
    """The name a query uses for a metric family: counters end in _total, info in _info."""
    return {"counter": f"{family}_total", "info": f"{family}_info"}.get(kind, family)


def sample_names(name: str, kind: str) -> set[str]:
    """The series names a metric family exposes (what PromQL may select)."""
    if kind == "histogram":
        return {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return {name}


def declared() -> dict[str, Documented]:
    """Every metric of a fresh Metrics, by exposed name, with the labels it was declared with."""
    metrics = Metrics.create(CollectorRegistry())
    collectors: dict[str, frozenset[str]] = {}
    for group in fields(metrics):
        value = getattr(metrics, group.name)
        if isinstance(value, CollectorRegistry):
            continue
        for f in fields(value):
            collector = getattr(value, f.name)
            assert isinstance(collector, MetricWrapperBase)
            collectors[collector._name] = frozenset(collector._labelnames)
    result: dict[str, Documented] = {}
    for family in metrics.registry.collect():
        name = exposed_name(family.name, family.type)
        if family.name in collectors:
            labels = collectors[family.name]
        else:  # the build Info: its labels are the info keys
            labels = frozenset(k for s in family.samples for k in s.labels)
        result[name] = Documented(name, family.type, labels)
    return result


def known_series() -> dict[str, frozenset[str]]:
    """Every series name a dashboard or an alert may query, with the labels it carries."""
    known: dict[str, frozenset[str]] = {}
    for doc in declared().values():
        extra = {"le"} if doc.kind == "histogram" else set()
        for series in sample_names(doc.name, doc.kind):
            labels = doc.labels | TARGET_LABELS
            known[series] = labels | (extra if series.endswith("_bucket") else set())
    for name, labels in {**RABBITMQ_METRICS, **PROMETHEUS_METRICS}.items():
        known[name] = labels | TARGET_LABELS
    return known


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_SELECTOR = re.compile(r"([A-Za-z_:][\w:]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([A-Za-z_]\w*)\s*(=~|!~|!=|=)")
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or"}
_KEYWORDS |= {"unless", "bool", "offset", "inf", "nan"}


@dataclass(frozen=True)
class Query:
    metrics: frozenset[str]
    matchers: tuple[tuple[str, str], ...]  # (metric, label name) of each {label=...}
    grouping: frozenset[str]  # label names in by (...), on (...), ...


def parse_query(expr: str) -> Query:
    """The metric names, label matchers and grouping labels a PromQL expression uses.

    Not a PromQL parser: enough for the expressions we write (promtool parses them for real).
    """
    text = re.sub(r"\$\{?\w+\}?", "5m", expr)  # Grafana variables such as $__rate_interval
    strings_out = _STRING.sub('""', text)
    matchers = tuple(
        (metric, label)
        for metric, inner in _SELECTOR.findall(strings_out)
        for label, _op in _MATCHER.findall(inner)
    )
    grouping = frozenset(
        label.strip()
        for _kw, inner in _GROUPING.findall(strings_out)
        for label in inner.split(",")
        if label.strip()
    )
    bare = _GROUPING.sub(" ", re.sub(r"\{[^}]*\}", " ", strings_out))
    bare = re.sub(r"\[[^\]]*\]", " ", bare)
    names = {
        token
        for token, call in re.findall(r"(?<![\w.])([A-Za-z_:][\w:]*)\s*(\(?)", bare)
        if not call and token not in _KEYWORDS
    }
    return Query(frozenset(names), matchers, grouping)


def unknown_in(expr: str, known: dict[str, frozenset[str]]) -> list[str]:
    """Problems with one expression: unknown metrics, or label matchers a metric does not have."""
    query = parse_query(expr)
    problems = [f"unknown metric {m}" for m in sorted(query.metrics) if m not in known]
    for metric, label in query.matchers:
        if metric in known and label not in known[metric]:
            problems.append(f"{metric} has no label {label!r}")
    every_label = set().union(*(known[m] for m in query.metrics if m in known))
    problems += [
        f"grouping by unknown label {label!r}"
        for label in sorted(query.grouping)
        if label not in every_label
    ]
    return problems


def promtool() -> str:
    """promtool's path; skips loudly without it, fails when REQUIRE_PROMTOOL=1 (CI)."""
    path = shutil.which("promtool")
    if path is not None:
        return path
    if os.environ.get("REQUIRE_PROMTOOL") == "1":
        pytest.fail("REQUIRE_PROMTOOL=1 but promtool is not on PATH", pytrace=False)
    pytest.skip(
        "NO PROMTOOL: the alert rules were not checked by promtool; install it (Debian's "
        "prometheus package ships it; .ci/run extracts it) or set REQUIRE_PROMTOOL=1 to fail"
    )


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return slug.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    return {
        github_anchor(m[1]) for m in re.finditer(r"^#{1,6} (.+)$", markdown, flags=re.MULTILINE)
    }
