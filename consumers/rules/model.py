"""Compiled rules: what the loader produces and the engine runs. Immutable, built once per file."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import msgspec

from consumers.rules.durations import format_duration
from consumers.rules.sandbox import RENDER_ERRORS, Condition, Context, ListOf, MapOf, Text, Value
from worker.plans import Step


class StepFailed(Exception):
    """A step could not be rendered for this event (missing field, invalid value)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class CompiledStep:
    action: str  # the Plan step tag: assign, labels, send_message, ...
    line: int  # where the action is written in the rules file
    step_type: type[Step]
    fields: tuple[tuple[str, Value], ...]  # Plan field name (as in JSON) -> compiled value

    def render(self, ctx: Context, idempotency_key: str) -> Step:
        data: dict[str, object] = {"idempotency_key": idempotency_key}
        for name, value in self.fields:
            try:
                data[name] = value.render(ctx)
            except RENDER_ERRORS as exc:
                raise StepFailed(f"{name}: {exc}") from exc
        try:
            return msgspec.convert(data, self.step_type)
        except msgspec.ValidationError as exc:
            raise StepFailed(str(exc)) from exc

    def templates(self) -> Iterator[str]:
        """The source of every template in the step (for load-time checks)."""
        pending: list[Value] = [value for _, value in self.fields]
        while pending:
            value = pending.pop()
            if isinstance(value, Text):
                yield value.source
            elif isinstance(value, ListOf):
                pending.extend(value.items)
            elif isinstance(value, MapOf):
                pending.extend(v for _, v in value.items)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    name: str
    line: int
    events: frozenset[str] | None  # None: every event ("*")
    condition: Condition | None
    steps: tuple[CompiledStep, ...]
    enabled: bool = True
    stop: bool = False
    once_per_chat: float | None = None  # seconds; enforced by the consumer
    ignore_own_writes: bool = True  # enforced by the consumer
    description: str = ""
    events_written: tuple[str, ...] = field(default=(), compare=False)  # as in the file

    def matches(self, ctx: Context) -> bool:
        """The condition on this event (the `on` filter is applied by the RuleSet's index).
        Raises one of RENDER_ERRORS when the condition itself fails."""
        return self.condition is None or self.condition(ctx)

    def summary(self) -> str:
        """One line for `rules check`."""
        on = "*" if self.events is None else ", ".join(self.events_written)
        parts = [f"on {on}"]
        if self.condition is not None:
            cond = " ".join(self.condition.source.split())
            parts.append(f"if {cond if len(cond) <= 60 else cond[:57] + '...'}")
        parts.append("do " + ", ".join(step.action for step in self.steps))
        if self.once_per_chat is not None:
            parts.append(f"once_per_chat {format_duration(self.once_per_chat)}")
        parts.append("ignore_own_writes" if self.ignore_own_writes else "sees own writes")
        if self.stop:
            parts.append("stop")
        state = "" if self.enabled else " [disabled]"
        return f"{self.name}{state} (line {self.line}): " + "; ".join(parts)
