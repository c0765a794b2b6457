"""What the rules consumer enforces around the pure engine, with shared memory:

* echoes: an event caused by our own recent write skips the rules with `ignore_own_writes`;
* `once_per_chat`: a rule runs at most once per chat within its window. The claim stores the
  Plan id, so a redelivery of the *same* event (same Plan id) is let through: a crash between
  claiming and publishing cannot lose the Plan;
* the per-chat budget: at most CHAT_BUDGET planned steps per chat per window, so a rule that
  feeds on its own effects cannot run away. Plans over budget are handed back to be
  dead-lettered (reason `budget_exceeded`), never silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from consumers.rules.build import plan_id
from consumers.rules.engine import RuleSet
from worker.plans import Plan
from worker.state.echo import echo_checks
from worker.state.memory import SharedMemory


@dataclass(frozen=True)
class Budget:
    steps: int = 20
    window: float = 60.0


@dataclass
class Admission:
    admitted: list[Plan] = field(default_factory=list)
    over_budget: list[Plan] = field(default_factory=list)
    once_blocked: list[str] = field(default_factory=list)  # rules held back by once_per_chat
    held: dict[str, str] = field(default_factory=dict)  # every rule held back, with why


def once_key(rule: str, chat_id: str) -> str:
    return f"once:{rule}:{chat_id}"


class LoopGuard:
    def __init__(self, memory: SharedMemory, budget: Budget) -> None:
        self._memory = memory
        self._budget = budget

    async def is_echo(
        self, event_name: str, event_data: Mapping[str, Any], chat: str | None
    ) -> bool:
        """True when every change the event reports is one of our recent writes."""
        checks = None if chat is None else echo_checks(event_name, event_data, chat)
        if not checks:
            return False
        for alternatives in checks:
            found = [await self._memory.get(key) for key in alternatives]
            if all(value is None for value in found):
                return False
        return True

    async def skipped_rules(
        self,
        rules: RuleSet,
        event_name: str,
        event_data: Mapping[str, Any],
        *,
        chat_id: str | None,
        dedup_key: str,
    ) -> dict[str, str]:
        """Rules that must not see this event, with why: `echo` or `once_per_chat`."""
        candidates = rules.rules_for(event_name)
        skip: dict[str, str] = {}
        if await self.is_echo(event_name, event_data, chat_id):
            skip.update((r.name, "echo") for r in candidates if r.ignore_own_writes)
        if chat_id is None:
            return skip
        for rule in candidates:
            if rule.once_per_chat is None or rule.name in skip:
                continue
            held = await self._memory.get(once_key(rule.name, chat_id))
            if held is not None and held != plan_id(rule.name, dedup_key):
                skip[rule.name] = "once_per_chat"
        return skip

    async def admit(self, rules: RuleSet, plans: list[Plan], now: float) -> Admission:
        """Claim once_per_chat windows and charge the chat's budget for these Plans."""
        result = Admission()
        for plan in plans:
            if not await self._claim_once(rules, plan):
                result.once_blocked.append(plan.rule or "")
            elif await self._within_budget(plan, now):
                result.admitted.append(plan)
            else:
                result.over_budget.append(plan)
        return result

    async def _claim_once(self, rules: RuleSet, plan: Plan) -> bool:
        rule = rules.get(plan.rule or "")
        if rule is None or rule.once_per_chat is None or plan.chat_id is None:
            return True
        key = once_key(rule.name, plan.chat_id)
        return await self._memory.claim(key, plan.id, rule.once_per_chat) == plan.id

    async def _within_budget(self, plan: Plan, now: float) -> bool:
        """Charge the chat's budget once per Plan: a redelivered event (same Plan id) gets the
        verdict of its first delivery instead of being charged again."""
        if plan.chat_id is None:
            return True
        verdict_key = f"budget-verdict:{plan.id}"
        earlier = await self._memory.get(verdict_key)
        if earlier is not None:
            return earlier == "ok"
        window = int(now // self._budget.window)
        spent = await self._memory.incr(
            f"budget:{plan.chat_id}:{window}", len(plan.steps), self._budget.window
        )
        verdict = "ok" if spent <= self._budget.steps else "over"
        await self._memory.put(verdict_key, verdict, self._budget.window)
        return verdict == "ok"
