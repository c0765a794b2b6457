"""Helpers for the rules tests: sample events as the consumer sees them, and expected Plans."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from consumers.rules import EvaluationResult, RuleSet, decode_raw_event, parse_rules, plan_id
from producers.ingress.envelope import Accepted, parse_webhook
from simulator.samples import webhook_body

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "rules.example.yaml"
NOW = datetime(2025, 11, 10, 12, 0, tzinfo=UTC)
NOW_ISO = "2025-11-10T12:00:00Z"


def ruleset(text: str) -> RuleSet:
    loaded, problems = parse_rules(text, "test.yaml")
    assert loaded is not None, "\n".join(map(str, problems))
    return loaded


def sample(name: str, **patches: Any) -> tuple[str, dict[str, Any], Accepted]:
    """A bundled sample event: (eventName, eventData as plain JSON, what the ingress derived).
    `patches` set fields by dotted path under eventData: message__text="..." sets message.text."""
    body = webhook_body(name)
    accepted = parse_webhook(body)
    assert isinstance(accepted, Accepted)
    event_name, data = decode_raw_event(body)
    data = copy.deepcopy(data)
    for path, value in patches.items():
        *parents, last = path.split("__")
        target = data
        for part in parents:
            target = target[part]
        target[last] = value
    return event_name, data, accepted


def evaluate(rules: RuleSet, name: str, now: datetime = NOW, **patches: Any) -> EvaluationResult:
    event_name, data, accepted = sample(name, **patches)
    return rules.evaluate(
        event_name, data, dedup_key=accepted.dedup_key, chat_id=accepted.chat_id, now=now
    )


def expected_plan(
    rule: str, event: str, steps: list[dict[str, Any]], chat_id: str | None
) -> dict[str, Any]:
    """The whole Plan JSON a rule must produce for a sample event; ids derived as documented."""
    dedup_key = sample(event)[2].dedup_key
    pid = plan_id(rule, dedup_key)
    return {
        "id": pid,
        "chat_id": chat_id,
        "source": "rules",
        "cause_event_id": dedup_key,
        "rule": rule,
        "steps": [{**step, "idempotency_key": f"{pid}:{i}"} for i, step in enumerate(steps)],
        "attempt": 1,
        "not_before": None,
        "version": 1,
    }


def as_json(value: Any) -> Any:
    return msgspec.to_builtins(value)
