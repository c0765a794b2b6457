"""`texter-worker rules test FILE EVENT.json`: matches and the exact Plans, no side effects."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumers.rules import load_rules
from simulator.samples import webhook_body
from tests.rules.support import EXAMPLE, NOW, evaluate
from worker.cli import main
from worker.plans import decode_plan

NOW_ARG = ["--now", "2025-11-10T12:00:00Z"]


def _event(tmp_path: Path, name: str, body: bytes | None = None) -> str:
    path = tmp_path / f"{name}.json"
    path.write_bytes(webhook_body(name) if body is None else body)
    return str(path)


def test_prints_the_matches_and_the_exact_plans(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = _event(tmp_path, "chatLabelsUpdated")
    assert main(["rules", "test", str(EXAMPLE), event, *NOW_ARG]) == 0
    out = capsys.readouterr().out
    head, plan_json = out.split("plan of vip-crm:\n")
    assert head.splitlines() == [
        "event: chatLabelsUpdated, dedup key "
        "chatLabelsUpdated:6650f1a2b3c4d5e6f7a8ba20:2025-11-10T15:20:00.318Z, "
        "chat 6650f1a2b3c4d5e6f7a8ba20",
        "rules on chatLabelsUpdated: vip-crm",
        "matched: vip-crm",
        "stopped after vip-crm (stop: true)",
    ]
    [expected] = evaluate(load_rules(EXAMPLE), "chatLabelsUpdated", now=NOW).plans
    assert decode_plan(plan_json.encode()) == expected


def test_an_event_nothing_matches(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "test", str(EXAMPLE), _event(tmp_path, "chatPending"), *NOW_ARG]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "rules on chatPending: none",
        "matched: none",
    ]


def test_a_failing_rule_is_shown_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - name: r\n    on: chatPending\n    once_per_chat: 1h\n    do:\n"
        "      - send_message: {text: '{{ agent.email }}'}\n"
    )
    assert main(["rules", "test", str(rules), _event(tmp_path, "chatPending"), *NOW_ARG]) == 1
    out = capsys.readouterr().out
    assert "error: rule r: step 1 of 1 (send_message, line 6): text: 'agent' is undefined" in out
    assert "note: r runs once per chat per window; the consumer enforces it" in out


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "the ingress would reject it (400): body is not valid JSON"),
        (b'{"eventName": "chatPending"}', "the ingress would reject it (400): eventData must"),
    ],
)
def test_an_event_the_ingress_rejects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: bytes, message: str
) -> None:
    assert main(["rules", "test", str(EXAMPLE), _event(tmp_path, "bad", body)]) == 1
    assert message in capsys.readouterr().out


def test_an_event_that_does_not_fit_its_shape_is_flagged_as_poison(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = b'{"eventName": "chatPending", "eventData": {"chat": {"title": "no id"}}}'
    assert main(["rules", "test", str(EXAMPLE), _event(tmp_path, "odd", body), *NOW_ARG]) == 0
    assert "the consumer would dead-letter it as poison" in capsys.readouterr().out


def test_a_bad_rules_file_is_reported_before_the_event(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: r\n    on: chatPending\n    do: [teleport]\n")
    assert main(["rules", "test", str(rules), _event(tmp_path, "chatPending")]) == 1
    assert f"{rules}:4: error:" in capsys.readouterr().out
