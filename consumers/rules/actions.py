"""Compiling one `do:` entry of a rule into a CompiledStep.

Values are compiled by kind (consumers/rules/schema.py): text is a template, lists of text,
booleans, durations, and free JSON whose strings are templates. Every problem is recorded with
its line; the cross-field rules of a step (one label operation, one agent, the message type)
are the Plan's own (worker/plans.py), checked here on the keys given.
"""

from __future__ import annotations

import jinja2
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from consumers.rules.durations import parse_duration
from consumers.rules.model import CompiledStep
from consumers.rules.sandbox import Const, ListOf, MapOf, Sandbox, Value
from consumers.rules.schema import ACTIONS, ActionSpec, Kind
from consumers.rules.source import Reader, describe, line_of, suggest
from worker import plans


class ActionCompiler:
    """Compiles `do:` entries, recording problems on the Reader."""

    def __init__(self, reader: Reader, sandbox: Sandbox) -> None:
        self.r = reader
        self.sandbox = sandbox

    def compile(self, node: Node, where: str) -> CompiledStep | None:
        """`- resolve`, `- resolve: {notify_client: true}` or `- labels: {add: [vip]}`."""
        if isinstance(node, ScalarNode) and node.tag.endswith(":str"):
            return self._action(node, str(node.value), None, where)
        items = self.r.mapping(node, where)
        if items is None:
            return None
        if len(items) != 1:
            self.r.error(node, f"{where}: one action per list item, got {', '.join(items)}")
            return None
        [(name, (key, params))] = items.items()
        return self._action(key, name, params, where)

    def _action(self, at: Node, name: str, params: Node | None, where: str) -> CompiledStep | None:
        spec = ACTIONS.get(name)
        if spec is None:
            self.r.error(at, f"{where}: unknown action {name!r}{suggest(name, ACTIONS)}")
            return None
        what = f"{where} ({name})"
        given = self._params(at, params, spec, what)
        if given is None:
            return None
        values = self._values(given, spec, what)
        if values is None or not self._cross_check(at, spec, values, what):
            return None
        for key, source in spec.defaults.items():
            values.setdefault(key, self.sandbox.text(source))
        if spec.step_type is plans.SendMessage:
            values["type"] = Const(plans.message_type(values))
        return CompiledStep(name, line_of(at), spec.step_type, tuple(values.items()))

    def _params(
        self, at: Node, node: Node | None, spec: ActionSpec, what: str
    ) -> dict[str, Node] | None:
        renamed: dict[str, tuple[Node, Node]] = {}
        if node is not None and not (isinstance(node, ScalarNode) and node.tag.endswith(":null")):
            items = self.r.mapping(node, what)
            if items is None:
                return None
            renamed = {spec.aliases.get(k, k): kv for k, kv in items.items()}
            self.r.only_keys(renamed, spec.fields, what)
        missing = spec.required - renamed.keys()
        if missing:
            self.r.error(node or at, f"{what}: missing {', '.join(sorted(missing))}")
            return None
        return {k: v for k, (_, v) in renamed.items() if k in spec.fields}

    def _values(
        self, given: dict[str, Node], spec: ActionSpec, what: str
    ) -> dict[str, Value] | None:
        values: dict[str, Value] = {}
        ok = True
        for key, node in given.items():
            value = self.value(node, spec.fields[key], f"{what} {key}")
            if value is None:
                ok = False
            else:
                values[key] = value
        return values if ok else None

    def _cross_check(self, at: Node, spec: ActionSpec, values: dict[str, Value], what: str) -> bool:
        if spec.check is None:
            return True
        try:
            spec.check(values.keys())
        except ValueError as exc:
            self.r.error(at, f"{what}: {exc}")
            return False
        return True

    # --- values by kind ---------------------------------------------------------------------

    def value(self, node: Node, kind: Kind, what: str) -> Value | None:
        compile_kind = {
            Kind.TEXT: self._text,
            Kind.TEXTS: self._texts,
            Kind.BOOL: self._bool,
            Kind.DURATION: self._duration,
            Kind.METHOD: self._method,
            Kind.HEADERS: self._headers,
        }.get(kind)
        if compile_kind is not None:
            return compile_kind(node, what)
        wanted: tuple[type[Node], ...] = {
            Kind.MAP: (MappingNode,),
            Kind.LIST: (SequenceNode,),
        }.get(kind, (Node,))
        if not isinstance(node, wanted):
            self.r.error(node, f"{what} must be a {kind.value}, got {describe(node)}")
            return None
        return self.json(node, what)

    def _text(self, node: Node, what: str) -> Value | None:
        source = self.r.text(node, what)
        return None if source is None else self.template(node, source, what)

    def _bool(self, node: Node, what: str) -> Value | None:
        flag = self.r.boolean(node, what)
        return None if flag is None else Const(flag)

    def template(self, node: Node, source: str, what: str) -> Value | None:
        try:
            return self.sandbox.text(source)
        except jinja2.TemplateSyntaxError as exc:
            self.r.error(node, f"{what}: template does not compile: {exc.message}")
            return None

    def json(self, node: Node, what: str) -> Value | None:
        """Any YAML value; its strings are templates, its mapping keys are taken as written."""
        if isinstance(node, ScalarNode):
            if node.tag.endswith(":str"):
                return self.template(node, str(node.value), what)
            return Const(self.r.scalar(node))
        if isinstance(node, SequenceNode):
            items = [self.json(item, what) for item in node.value]
            return None if None in items else ListOf(tuple(i for i in items if i is not None))
        mapping = self.r.mapping(node, what)
        if mapping is None:
            return None
        pairs = [(key, self.json(value, f"{what}.{key}")) for key, (_, value) in mapping.items()]
        if any(v is None for _, v in pairs):
            return None
        return MapOf(tuple((k, v) for k, v in pairs if v is not None))

    def _texts(self, node: Node, what: str) -> Value | None:
        nodes = node.value if isinstance(node, SequenceNode) else [node]  # `add: vip` is fine
        items = [self.value(item, Kind.TEXT, what) for item in nodes]
        return None if None in items else ListOf(tuple(i for i in items if i is not None))

    def _duration(self, node: Node, what: str) -> Value | None:
        raw = self.r.text(node, what)
        if raw is None:
            return None
        try:
            return Const(parse_duration(raw))
        except ValueError as exc:
            self.r.error(node, f"{what}: {exc}")
            return None

    def _method(self, node: Node, what: str) -> Value | None:
        raw = self.r.text(node, what)
        if raw is not None and raw.upper() in {"POST", "PUT"}:
            return Const(raw.upper())
        if raw is not None:
            self.r.error(node, f"{what} must be POST or PUT, got {raw!r}")
        return None

    def _headers(self, node: Node, what: str) -> Value | None:
        items = self.r.mapping(node, what)
        if items is None:
            return None
        pairs = [(k, self.value(v, Kind.TEXT, f"{what}.{k}")) for k, (_, v) in items.items()]
        if any(v is None for _, v in pairs):
            return None
        return MapOf(tuple((k, v) for k, v in pairs if v is not None))
