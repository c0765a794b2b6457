"""deploy/prometheus/alerts.yml: structure, known metrics, runbooks; promtool when present."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.support import (
    ALERT_TESTS,
    ALERTS,
    OPERATIONS,
    PROMETHEUS_CONFIG,
    anchors,
    github_anchor,
    known_series,
    parse_query,
    promtool,
    unknown_in,
)
from worker.metrics import RULES_DEAD_LETTER_REASONS, WRITER_DEAD_LETTER_REASONS, Metrics
from worker.texter.client import open_client
from worker.texter.endpoints import ALL

# What issue 6 asks to be alerted on, and the alert that does it.
REQUIRED = {
    "ingress 5xx rate": "TexterWorkerIngress5xx",
    "dead letters growing": "TexterWorkerDeadLettersGrowing",
    "breaker open": "TexterWorkerBreakerOpen",
    "queue has messages but no consumers": "TexterWorkerQueueWithoutConsumers",
    "queue growing for 10 minutes": "TexterWorkerQueueGrowing",
    "Texter 401 (token revoked)": "TexterWorkerTexterUnauthorized",
    "rate-limit utilisation near 100% for 15 minutes": "TexterWorkerRateLimitSaturated",
}


def rules() -> list[dict[str, Any]]:
    data = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    assert set(data) == {"groups"}
    found = []
    for group in data["groups"]:
        assert set(group) <= {"name", "interval", "rules"}, group.get("name")
        found.extend(group["rules"])
    return found


def by_name() -> dict[str, dict[str, Any]]:
    alerts = {r["alert"]: r for r in rules()}
    assert len(alerts) == len(rules()), "alert names must be unique"
    return alerts


def test_every_required_alert_exists() -> None:
    alerts = by_name()
    missing = {need: name for need, name in REQUIRED.items() if name not in alerts}
    assert not missing


def test_required_durations() -> None:
    alerts = by_name()
    assert alerts["TexterWorkerQueueGrowing"]["for"] == "10m"
    assert alerts["TexterWorkerRateLimitSaturated"]["for"] == "15m"


@pytest.mark.parametrize("rule", rules(), ids=lambda r: r.get("alert", "?"))
def test_rule_shape(rule: dict[str, Any]) -> None:
    assert set(rule) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}
    assert rule["alert"].startswith("TexterWorker")
    assert rule["labels"]["severity"] in {"warning", "critical"}
    notes = rule["annotations"]
    assert set(notes) == {"summary", "description", "runbook_url"}
    assert all(isinstance(v, str) and v.strip() for v in notes.values())


@pytest.mark.parametrize("rule", rules(), ids=lambda r: r.get("alert", "?"))
def test_rule_queries_only_metrics_that_exist(rule: dict[str, Any]) -> None:
    assert parse_query(rule["expr"]).metrics, "no metric found in the expression"
    assert unknown_in(rule["expr"], known_series()) == []


@pytest.mark.parametrize("rule", rules(), ids=lambda r: r.get("alert", "?"))
def test_runbook_link_resolves_to_a_heading(rule: dict[str, Any]) -> None:
    link = rule["annotations"]["runbook_url"]
    path, _, anchor = link.partition("#")
    assert path == "docs/operations.md"
    assert anchor == github_anchor(rule["alert"]), "the runbook section is named after the alert"
    assert anchor in anchors(OPERATIONS.read_text(encoding="utf-8"))


def test_every_runbook_section_has_its_alert() -> None:
    text = OPERATIONS.read_text(encoding="utf-8")
    runbooks = text.split("## Runbooks", 1)[1]
    sections = {line[4:].strip() for line in runbooks.splitlines() if line.startswith("### ")}
    assert sections == set(by_name())


def test_checker_catches_mistakes() -> None:
    """The name checks above can fail: unknown names, bare histograms, wrong labels."""
    known = known_series()
    assert unknown_in("rate(texter_worker_nope_total[5m])", known)
    assert unknown_in("histogram_quantile(0.9, rate(texter_worker_end_to_end_seconds[5m]))", known)
    assert unknown_in('texter_worker_ingress_requests_total{status="5xx"}', known)
    assert unknown_in("sum by (queue) (texter_worker_bus_connected)", known)
    assert unknown_in("rabbitmq_queue_messages_readyy", known)
    assert not unknown_in('sum by (queue) (rabbitmq_queue_consumers{queue=~"a\\\\.b"})', known)


def _promtool(*args: str) -> str:
    done = subprocess.run(
        [promtool(), *args], capture_output=True, text=True, timeout=60, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def test_promtool_check_rules() -> None:
    assert "SUCCESS" in _promtool("check", "rules", str(ALERTS))


def test_promtool_unit_tests_of_every_alert() -> None:
    """alerts.test.yml makes each alert fire on its situation and stay quiet on look-alikes."""
    tests = yaml.safe_load(ALERT_TESTS.read_text(encoding="utf-8"))
    tested = {
        case["alertname"]
        for group in tests["tests"]
        for case in group.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert tested == set(by_name()), "every alert needs a firing test case"
    assert "SUCCESS" in _promtool("test", "rules", str(ALERT_TESTS))


def test_promtool_check_config() -> None:
    assert "SUCCESS" in _promtool("check", "config", str(PROMETHEUS_CONFIG))


_INCREASE = re.compile(r"increase\((\w+)(?:\{([^}]*)\})?\[")


def increased_counters() -> set[tuple[str, frozenset[tuple[str, str]]]]:
    """(counter, its label=value matchers) for every increase() in the alert rules."""
    return {
        (name, frozenset(re.findall(r'(\w+)="([^"]*)"', matchers or "")))
        for rule in rules()
        for name, matchers in _INCREASE.findall(rule["expr"])
    }


async def test_counters_the_alerts_watch_are_exported_as_zero_from_the_start() -> None:
    """`increase(x[15m]) > 0` misses the first count of a series that first appears at 1, so
    every counter an alert watches must be on /metrics, at 0, before anything happened: a fresh
    registry, plus the Texter client (it exports texter_unauthorized per endpoint)."""
    metrics = Metrics.create()
    async with open_client("http://127.0.0.1:9/server/api/v2", "token", metrics=metrics.texter):
        scraped = generate_latest(metrics.registry).decode()
    samples = [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(scraped)
        for s in family.samples
    ]

    def zeros(name: str, **labels: str) -> list[dict[str, str]]:
        found = [
            have
            for sample, have, value in samples
            if sample == name and labels.items() <= have.items()
        ]
        assert all(value == 0 for sample, have, value in samples if sample == name)
        return found

    watched = increased_counters()
    assert {name for name, _ in watched} >= {
        "texter_worker_writer_plans_total",
        "texter_worker_rules_dead_letters_total",
        "texter_worker_texter_unauthorized_total",
    }
    for name, matchers in watched:
        assert zeros(name, **dict(matchers)), f"{name}{dict(matchers)} is not exported at 0"
    rules_reasons = {s["reason"] for s in zeros("texter_worker_rules_dead_letters_total")}
    assert rules_reasons == set(RULES_DEAD_LETTER_REASONS)
    writer_reasons = {s["reason"] for s in zeros("texter_worker_writer_dead_letters_total")}
    assert writer_reasons == set(WRITER_DEAD_LETTER_REASONS)
    endpoints = {s["endpoint"] for s in zeros("texter_worker_texter_unauthorized_total")}
    assert endpoints == {e.name for e in ALL}
