"""deploy/grafana: the dashboard queries only metrics that exist; provisioning points at it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.support import DASHBOARD, ROOT, known_series, parse_query, promtool, unknown_in

PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def queries() -> list[str]:
    return [t["expr"] for p in panels() for t in p["targets"]]


def test_dashboard_identity() -> None:
    data = dashboard()
    assert data["uid"] == "texter-worker"
    assert data["title"] == "texter-worker"
    ids = [p["id"] for p in data["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


@pytest.mark.parametrize("expr", queries())
def test_every_query_uses_metrics_that_exist(expr: str) -> None:
    assert parse_query(expr).metrics, "no metric found in the query"
    assert unknown_in(expr, known_series()) == []


def test_panels_people_look_at() -> None:
    """The panels issue 6 asks for, each found by the metrics one of its queries plots."""
    per_query = [parse_query(expr).metrics for expr in queries()]
    wanted = {
        "webhooks/s by outcome": {"texter_worker_ingress_requests_total"},
        "end-to-end latency": {"texter_worker_end_to_end_seconds_bucket"},
        "rule matches by rule": {"texter_worker_rules_matches_total"},
        "Texter calls by endpoint and status": {"texter_worker_texter_requests_total"},
        "retries": {"texter_worker_texter_retries_total"},
        "rules dead letters by reason": {"texter_worker_rules_dead_letters_total"},
        "writer dead letters by reason": {"texter_worker_writer_dead_letters_total"},
        "rate-limit wait": {"texter_worker_texter_rate_limit_wait_seconds_bucket"},
        "rate-limit utilisation": {
            "texter_worker_texter_requests_total",
            "texter_worker_texter_rate_limit_per_second",
        },
        "breaker state": {"texter_worker_texter_breaker_state"},
        "queue depth": {"rabbitmq_queue_messages_ready"},
        "ledger size": {"texter_worker_state_ledger_entries"},
    }
    missing = {what for what, need in wanted.items() if not any(need <= m for m in per_query)}
    assert missing == set()


def test_rate_limit_utilisation_is_requests_over_the_limit() -> None:
    """Utilisation: requests/s divided by the configured TEXTER_RATE_LIMIT, as in the alert."""
    ratios = [
        expr
        for expr in queries()
        if "texter_worker_texter_rate_limit_per_second" in parse_query(expr).metrics
    ]
    assert ratios, "no panel divides by texter_worker_texter_rate_limit_per_second"
    for expr in ratios:
        top, _, bottom = expr.partition(" / ")
        assert "rate(texter_worker_texter_requests_total[" in top, expr
        assert parse_query(bottom).metrics == {"texter_worker_texter_rate_limit_per_second"}, expr


@pytest.mark.parametrize("metric", ["rules_dead_letters_total", "writer_dead_letters_total"])
def test_dead_letters_are_shown_by_reason(metric: str) -> None:
    by_reason = [
        expr
        for expr in queries()
        if f"texter_worker_{metric}" in parse_query(expr).metrics
        and "reason" in parse_query(expr).grouping
    ]
    assert by_reason, f"no panel plots texter_worker_{metric} by reason"


def test_every_panel_uses_the_provisioned_datasource() -> None:
    source = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())
    uid = source["datasources"][0]["uid"]
    for panel in panels():
        assert panel["datasource"]["uid"] == uid, panel["title"]
        assert all(t["datasource"]["uid"] == uid for t in panel["targets"]), panel["title"]
        assert panel["targets"], panel["title"]
        assert panel.get("description"), f"{panel['title']}: say what the panel shows"


def test_provider_loads_the_dashboard_directory() -> None:
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "texter-worker.yml").read_text())
    path = Path(provider["providers"][0]["options"]["path"])
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    mounts = {m.split(":")[1]: m.split(":")[0] for m in compose["services"]["grafana"]["volumes"]}
    assert (ROOT / mounts[str(path)] / DASHBOARD.name).resolve() == DASHBOARD.resolve()


def test_promtool_parses_every_query(tmp_path: Path) -> None:
    """Each query, as a recording rule, through promtool's PromQL parser."""
    rules = [
        {"record": f"dashboard:query{i}", "expr": expr.replace("$__rate_interval", "1m")}
        for i, expr in enumerate(queries())
    ]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = subprocess.run(
        [promtool(), "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
