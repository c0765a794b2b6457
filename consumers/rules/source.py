"""Reading a YAML document as a node tree, so every problem can name its file and line.

PyYAML's composer keeps a mark (line, column) on every node; we validate nodes instead of the
constructed Python objects. That also sidesteps two YAML 1.1 traps: mapping keys are taken as
written (`on:` would otherwise become the boolean True), and text values are taken as written
(`to: 0521234567` would otherwise become an octal number).
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Severity = Literal["error", "warning"]
TAG = "tag:yaml.org,2002:"
TEXT_TAGS = {TAG + "str", TAG + "int", TAG + "float"}


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int  # 1-based; 0 when the problem is about the whole file
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.severity}: {self.message}"


def line_of(at: Node | int) -> int:
    """1-based line of a node (or the line itself, when already known)."""
    return at if isinstance(at, int) else int(at.start_mark.line) + 1


class Reader:
    """Typed access to nodes; each failed expectation records one Problem and returns None."""

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self._loader = yaml.SafeLoader(text)

    def root(self) -> Node | None:
        try:
            node = self._loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = int(mark.line) + 1 if mark is not None else 0
            self.problems.append(Problem(self.file, line, f"invalid YAML: {exc.problem}"))
            return None
        except yaml.YAMLError as exc:
            self.problems.append(Problem(self.file, 0, f"invalid YAML: {exc}"))
            return None
        if node is None:
            self.problems.append(Problem(self.file, 0, "the file is empty; expected `rules:`"))
        return node

    def error(self, at: Node | int, message: str) -> None:
        self.problems.append(Problem(self.file, line_of(at), message))

    def warn(self, at: Node | int, message: str) -> None:
        self.problems.append(Problem(self.file, line_of(at), message, "warning"))

    # --- containers -------------------------------------------------------------------------

    def mapping(self, node: Node, what: str) -> dict[str, tuple[Node, Node]] | None:
        """key -> (key node, value node); duplicate keys are errors, merge keys (<<) work."""
        if not isinstance(node, MappingNode):
            self.error(node, f"{what} must be a mapping (key: value), got {describe(node)}")
            return None
        self._report_duplicates(node, what)  # reported; the last one wins, checking goes on
        try:
            self._loader.flatten_mapping(node)
        except yaml.MarkedYAMLError as exc:
            self.error(node, f"{what}: bad merge: {exc.problem}")
            return None
        items: dict[str, tuple[Node, Node]] = {}
        for key, value in node.value:
            if not isinstance(key, ScalarNode):
                self.error(key, f"{what}: keys must be plain words")
                return None
            items[str(key.value)] = (key, value)  # a later key overrides a merged one
        return items

    def _report_duplicates(self, node: MappingNode, what: str) -> None:
        seen: dict[str, Node] = {}
        for key, _ in node.value:
            name = str(key.value) if isinstance(key, ScalarNode) else None
            if name is None or name == "<<":
                continue
            if name in seen:
                first = line_of(seen[name])
                self.error(key, f"{what}: duplicate key {name!r} (first at line {first})")
            seen[name] = key

    def only_keys(
        self, items: dict[str, tuple[Node, Node]], allowed: Collection[str], what: str
    ) -> None:
        for name, (key, _) in items.items():
            if name not in allowed:
                self.error(key, f"{what}: unknown key {name!r}{suggest(name, allowed)}")

    def sequence(self, node: Node, what: str) -> list[Node] | None:
        if not isinstance(node, SequenceNode):
            self.error(node, f"{what} must be a list, got {describe(node)}")
            return None
        return list(node.value)

    # --- scalars ----------------------------------------------------------------------------

    def text(self, node: Node, what: str) -> str | None:
        """A string as written: numbers stay text (phones, ids); booleans and null are errors."""
        if isinstance(node, ScalarNode) and node.tag in TEXT_TAGS:
            return str(node.value)
        hint = " (quote it)" if isinstance(node, ScalarNode) else ""
        self.error(node, f"{what} must be text, got {describe(node)}{hint}")
        return None

    def boolean(self, node: Node, what: str) -> bool | None:
        if isinstance(node, ScalarNode) and node.tag == TAG + "bool":
            return bool(self._loader.construct_yaml_bool(node))
        self.error(node, f"{what} must be true or false, got {describe(node)}")
        return None

    def scalar(self, node: ScalarNode) -> Any:
        """A scalar as YAML types it (int, float, bool, None or str); dates stay text."""
        if node.tag in {TAG + "int", TAG + "float", TAG + "bool", TAG + "null"}:
            return self._loader.construct_object(node)
        return str(node.value)


def describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    kind = str(node.tag).removeprefix(TAG)
    names = {"str": "text", "int": "a number", "float": "a number", "bool": "a boolean"}
    return f"{names.get(kind, kind)} {node.value!r}" if kind != "null" else "nothing (null)"


def suggest(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
