"""Compiling one entry of `rules:` into a CompiledRule, recording every problem with its line."""

from __future__ import annotations

import re
from dataclasses import dataclass

import jinja2
from yaml.nodes import Node, ScalarNode

from consumers.rules.actions import ActionCompiler
from consumers.rules.durations import parse_duration
from consumers.rules.model import CompiledRule, CompiledStep
from consumers.rules.names import name_problems
from consumers.rules.sandbox import Condition, Sandbox
from consumers.rules.source import Reader, line_of, suggest
from worker.events import EVENT_NAMES

RULE_KEYS = (
    "name",
    "description",
    "on",
    "if",
    "do",
    "enabled",
    "stop",
    "once_per_chat",
    "ignore_own_writes",
)
REQUIRED = ("name", "on", "do")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
ANY_EVENT = "*"


@dataclass(frozen=True)
class Defaults:
    ignore_own_writes: bool = True
    once_per_chat: float | None = None


@dataclass
class Options:
    enabled: bool = True
    stop: bool = False
    ignore_own_writes: bool = True
    once_per_chat: float | None = None
    description: str = ""


def once_window(r: Reader, node: Node, what: str) -> tuple[bool, float | None]:
    """(ok, seconds); `false` switches a default window off for one rule."""
    if isinstance(node, ScalarNode) and node.tag.endswith(":bool"):
        if r.boolean(node, what) is False:
            return True, None
        r.error(node, f"{what}: expected a duration like 24h, or false")
        return False, None
    raw = r.text(node, what)
    if raw is None:
        return False, None
    try:
        return True, parse_duration(raw)
    except ValueError as exc:
        r.error(node, f"{what}: {exc}")
        return False, None


class RuleCompiler:
    def __init__(self, reader: Reader, sandbox: Sandbox, defaults: Defaults) -> None:
        self.r = reader
        self.sandbox = sandbox
        self.defaults = defaults
        self.actions = ActionCompiler(reader, sandbox)

    def compile(self, node: Node, index: int) -> CompiledRule | None:
        items = self.r.mapping(node, f"rule #{index + 1}")
        if items is None:
            return None
        values = {key: value for key, (_, value) in items.items()}
        name = self._name(values.get("name"), index)
        where = f"rule {name!r}" if name else f"rule #{index + 1}"
        self.r.only_keys(items, RULE_KEYS, where)
        missing = [key for key in REQUIRED if key not in values]
        if missing:
            self.r.error(node, f"{where}: missing {', '.join(missing)}")
            return None
        before = len(self.r.problems)
        events, written = self._events(values["on"], where)
        condition = self._condition(values.get("if"), events, where)
        steps = self._steps(values["do"], events, where)
        options = self._options(values, where)
        if name is None or self._failed_since(before):
            return None
        return CompiledRule(
            name=name,
            line=line_of(node),
            events=events,
            condition=condition,
            steps=steps,
            enabled=options.enabled,
            stop=options.stop,
            once_per_chat=options.once_per_chat,
            ignore_own_writes=options.ignore_own_writes,
            description=options.description,
            events_written=written,
        )

    def _failed_since(self, count: int) -> bool:
        return any(p.severity == "error" for p in self.r.problems[count:])

    def _name(self, node: Node | None, index: int) -> str | None:
        if node is None:
            return None
        name = self.r.text(node, f"rule #{index + 1} name")
        if name is not None and not NAME.fullmatch(name):
            self.r.error(node, f"rule name {name!r}: use letters, digits, _ . - (up to 100)")
            return None
        return name

    def _events(self, node: Node, where: str) -> tuple[frozenset[str] | None, tuple[str, ...]]:
        nodes = self.r.sequence(node, f"{where} on") if not isinstance(node, ScalarNode) else [node]
        names: list[str] = []
        for item in nodes or []:
            name = self.r.text(item, f"{where} on")
            if name is None:
                continue
            if name != ANY_EVENT and name not in EVENT_NAMES:
                self.r.warn(
                    item, f"{where}: unknown eventName {name!r}{suggest(name, EVENT_NAMES)}"
                )
            names.append(name)
        if not names and nodes is not None:
            self.r.error(node, f'{where}: `on` needs at least one eventName, or "*"')
        if ANY_EVENT in names and len(names) > 1:
            self.r.error(node, f'{where}: "*" already means every event; list nothing else')
        if names == [ANY_EVENT]:
            return None, (ANY_EVENT,)
        return frozenset(names), tuple(names)

    def _condition(
        self, node: Node | None, events: frozenset[str] | None, where: str
    ) -> Condition | None:
        if node is None:
            return None
        if isinstance(node, ScalarNode) and node.tag.endswith(":bool"):  # `if: false` parks a rule
            source: str | None = "true" if self.r.boolean(node, f"{where} if") else "false"
        else:
            source = self.r.text(node, f"{where} if")
        if source is None:
            return None
        try:
            condition = self.sandbox.condition(source)
        except jinja2.TemplateSyntaxError as exc:
            self.r.error(node, f"{where}: condition does not compile: {exc.message}")
            return None
        for problem in name_problems(
            self.sandbox.names(source, expression=True), events, condition=True
        ):
            self.r.warn(node, f"{where} if: {problem}")
        return condition

    def _steps(
        self, node: Node, events: frozenset[str] | None, where: str
    ) -> tuple[CompiledStep, ...]:
        items = self.r.sequence(node, f"{where} do")
        if items is not None and not items:
            self.r.error(node, f"{where}: `do` needs at least one action")
        steps = []
        for index, item in enumerate(items or []):
            step = self.actions.compile(item, f"{where} step {index + 1}")
            if step is None:
                continue
            names = set().union(
                *(self.sandbox.names(t, expression=False) for t in step.templates())
            )
            for problem in name_problems(names, events, condition=False):
                self.r.warn(step.line, f"{where} step {index + 1} ({step.action}): {problem}")
            steps.append(step)
        return tuple(steps)

    def _options(self, values: dict[str, Node], where: str) -> Options:
        options = Options(
            ignore_own_writes=self.defaults.ignore_own_writes,
            once_per_chat=self.defaults.once_per_chat,
        )
        for key in ("enabled", "stop", "ignore_own_writes"):
            if key in values:
                flag = self.r.boolean(values[key], f"{where} {key}")
                setattr(options, key, bool(flag))  # None: an error is recorded already
        if "once_per_chat" in values:
            _, options.once_per_chat = once_window(
                self.r, values["once_per_chat"], f"{where} once_per_chat"
            )
        if "description" in values:
            text = self.r.text(values["description"], f"{where} description")
            options.description = text or ""
        return options
