"""Turning one matched rule into a Plan, with ids that do not change when an event is redelivered.

The Plan id is a hash of (rule name, event dedup key); step idempotency keys are
`<plan id>:<step index>`. A redelivered event therefore yields the same Plan with the same keys,
and the writer's send-once ledger absorbs the duplicate.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import msgspec

from consumers.rules.model import CompiledRule, StepFailed
from consumers.rules.sandbox import Context
from worker.plans import Plan

SOURCE = "rules"
_ID_DOMAIN = b"texter-worker/plan/v1\x00"


@dataclass(frozen=True, slots=True)
class RuleFailure:
    """A rule matched (or its condition failed) but no Plan could be built for this event."""

    rule: str
    reason: str
    step_index: int | None = None  # 0-based, as in the idempotency key; None: the condition
    action: str | None = None
    line: int | None = None  # where the failing part is written in the rules file
    step_count: int | None = None  # how many steps the rule has (for the text)

    def describe(self) -> str:
        """For people: steps count from 1, as in `rules check` ("step 2 of 3"). The machine
        fields (`step_index`, the dead letter's `x-dead-step`) stay 0-based, as in the keys."""
        if self.step_index is None:
            part = "condition" if self.action is None else "plan"
        else:
            of = "" if self.step_count is None else f" of {self.step_count}"
            part = f"step {self.step_index + 1}{of} ({self.action}, line {self.line})"
        return f"rule {self.rule}: {part}: {self.reason}"


def plan_id(rule: str, dedup_key: str) -> str:
    digest = hashlib.sha256(_ID_DOMAIN + msgspec.json.encode([rule, dedup_key]))
    return digest.hexdigest()[:32]


def step_key(plan: str, index: int) -> str:
    return f"{plan}:{index}"


def build_plan(
    rule: CompiledRule, ctx: Context, *, dedup_key: str, chat_id: str | None
) -> Plan | RuleFailure:
    pid = plan_id(rule.name, dedup_key)
    steps = []
    for index, step in enumerate(rule.steps):
        try:
            steps.append(step.render(ctx, step_key(pid, index)))
        except StepFailed as exc:
            return RuleFailure(
                rule.name, exc.reason, index, step.action, step.line, len(rule.steps)
            )
    try:
        return Plan(
            id=pid,
            chat_id=chat_id,
            source=SOURCE,
            cause_event_id=dedup_key,
            rule=rule.name,
            steps=steps,
        )
    except ValueError as exc:  # e.g. a chat step for an event without a chat
        return RuleFailure(rule.name, str(exc), action="plan", line=rule.line)
