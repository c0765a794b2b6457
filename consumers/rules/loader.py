"""Loading a rules file: YAML in, a RuleSet out, or every problem with its file and line.

    defaults:                 # optional
      ignore_own_writes: true
      once_per_chat: 24h
    rules:
      - name: ...             # see docs/rules.md for every key

Warnings (an unknown eventName, a variable the rule's events do not carry) do not stop a file
from loading; errors do, and are all reported at once.
"""

from __future__ import annotations

from pathlib import Path

from yaml.nodes import MappingNode, Node, ScalarNode

from consumers.rules.engine import RuleSet
from consumers.rules.model import CompiledRule
from consumers.rules.rule import Defaults, RuleCompiler, once_window
from consumers.rules.sandbox import Sandbox
from consumers.rules.source import Problem, Reader, line_of
from worker.errors import RulesError

TOP_KEYS = ("defaults", "rules")
DEFAULT_KEYS = ("ignore_own_writes", "once_per_chat")


def parse_rules(text: str, file: str = "<rules>") -> tuple[RuleSet | None, list[Problem]]:
    """The RuleSet (None when there is any error) and every problem, in line order."""
    r = Reader(file, text)
    sandbox = Sandbox()
    rules = _read(r, sandbox)
    problems = sorted(r.problems, key=lambda p: p.line)
    if rules is None or any(p.severity == "error" for p in problems):
        return None, problems
    warnings = [p for p in problems if p.severity == "warning"]
    return RuleSet(file, rules, warnings, sandbox.globals), problems


def check_rules_file(path: str | Path) -> tuple[RuleSet | None, list[Problem]]:
    """parse_rules on a file; a file that cannot be read is one problem, not an exception."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(str(path), 0, f"cannot read the rules file: {exc}")]
    return parse_rules(text, str(path))


def load_rules(path: str | Path) -> RuleSet:
    """The RuleSet of a file; raises RulesError listing every problem when it has errors."""
    ruleset, problems = check_rules_file(path)
    if ruleset is None:
        raise RulesError(str(path), [str(p) for p in problems])
    return ruleset


def _read(r: Reader, sandbox: Sandbox) -> list[CompiledRule] | None:
    root = r.root()
    top = r.mapping(root, "the rules file") if root is not None else None
    if top is None or root is None:
        return None
    # keys starting with x- are a place for YAML anchors (`x-common: &common`), like Compose's
    r.only_keys(
        {k: v for k, v in top.items() if not k.startswith("x-")}, TOP_KEYS, "the rules file"
    )
    defaults = _defaults(r, top["defaults"][1]) if "defaults" in top else Defaults()
    if "rules" not in top:
        r.error(root, "the rules file: missing `rules:` (a list of rules)")
        return None
    items = r.sequence(top["rules"][1], "rules")
    if items is None:
        return None
    compiler = RuleCompiler(r, sandbox, defaults)
    rules = [rule for i, node in enumerate(items) if (rule := compiler.compile(node, i))]
    _unique_names(r, items)
    return rules


def _defaults(r: Reader, node: Node) -> Defaults:
    items = r.mapping(node, "defaults")
    if items is None:
        return Defaults()
    r.only_keys(items, DEFAULT_KEYS, "defaults")
    ignore = True
    if "ignore_own_writes" in items:
        ignore = r.boolean(items["ignore_own_writes"][1], "defaults ignore_own_writes") is not False
    window = None
    if "once_per_chat" in items:
        _, window = once_window(r, items["once_per_chat"][1], "defaults once_per_chat")
    return Defaults(ignore_own_writes=ignore, once_per_chat=window)


def _unique_names(r: Reader, items: list[Node]) -> None:
    """Read from the nodes, so a duplicate is reported even when one of the rules has errors."""
    first: dict[str, int] = {}
    for node in items:
        if not isinstance(node, MappingNode):
            continue
        for key, value in node.value:
            if key.value == "name" and isinstance(value, ScalarNode):
                name = str(value.value)
                if name in first:
                    r.error(value, f"duplicate rule name {name!r} (first at line {first[name]})")
                first.setdefault(name, line_of(value))
