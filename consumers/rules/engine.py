"""A loaded rules file and its evaluation: event in, Plans (and per-rule failures) out. Pure.

The consumer owns all state: it passes the names of rules to `skip` for this event (echoes of
the worker's own writes for rules with `ignore_own_writes`, rules inside their `once_per_chat`
window) and records what fired. A skipped rule counts as not matching: no Plan, no `stop`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from consumers.rules.build import RuleFailure, build_plan
from consumers.rules.context import build_context
from consumers.rules.model import CompiledRule
from consumers.rules.sandbox import RENDER_ERRORS
from consumers.rules.source import Problem
from worker.plans import Plan


@dataclass
class EvaluationResult:
    plans: list[Plan] = field(default_factory=list)  # in rule order, one per matching rule
    errors: list[RuleFailure] = field(default_factory=list)
    matched_rules: list[str] = field(default_factory=list)  # condition true, Plan built or not
    skipped_rules: list[str] = field(default_factory=list)  # named in `skip`
    stopped_at: str | None = None  # the `stop: true` rule after which no rule ran


class RuleSet:
    """The compiled rules of one file, indexed by eventName (file order kept)."""

    def __init__(
        self,
        file: str,
        rules: Sequence[CompiledRule],
        warnings: Sequence[Problem] = (),
        globals_: Mapping[str, Any] | None = None,
    ) -> None:
        self.file = file
        self._globals = dict(globals_ or {})  # the sandbox's globals, under every event
        self.rules = tuple(rules)
        self.warnings = tuple(warnings)
        active = [rule for rule in self.rules if rule.enabled]
        self._wildcard = tuple(rule for rule in active if rule.events is None)
        named = set().union(*(rule.events or () for rule in active))
        self._by_event = {
            name: tuple(r for r in active if r.events is None or name in r.events) for name in named
        }

    def rules_for(self, event_name: str) -> tuple[CompiledRule, ...]:
        """The enabled rules whose `on` names this event (or "*"), in file order."""
        return self._by_event.get(event_name, self._wildcard)

    def get(self, name: str) -> CompiledRule | None:
        return next((rule for rule in self.rules if rule.name == name), None)

    def evaluate(
        self,
        event_name: str,
        event_data: Mapping[str, Any],
        *,
        dedup_key: str,
        chat_id: str | None,
        now: datetime,
        skip: Collection[str] = (),
    ) -> EvaluationResult:
        result = EvaluationResult()
        candidates = self.rules_for(event_name)
        if not candidates:
            return result
        ctx = build_context(event_name, event_data, now, self._globals)
        for rule in candidates:
            if rule.name in skip:
                result.skipped_rules.append(rule.name)
                continue
            try:
                matched = rule.matches(ctx)
            except RENDER_ERRORS as exc:
                result.errors.append(RuleFailure(rule.name, str(exc), line=rule.line))
                continue
            if not matched:
                continue
            result.matched_rules.append(rule.name)
            outcome = build_plan(rule, ctx, dedup_key=dedup_key, chat_id=chat_id)
            if isinstance(outcome, Plan):
                result.plans.append(outcome)
            else:
                result.errors.append(outcome)
            if rule.stop:
                result.stopped_at = rule.name
                break
        return result
