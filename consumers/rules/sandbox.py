"""The Jinja2 sandbox that runs rule conditions and action templates, compiled once at load.

Two environments, both `ImmutableSandboxedEnvironment` (no access to Python internals, no
mutation of the event): conditions use `MissingField`, so a missing field is falsy *where it is
read* and the rest of the expression still counts (`chat.crmData.leadId > 5 or chat.title ==
"Dana"`); action templates use StrictUndefined, so a missing field fails the rule instead of
sending a message with a hole in it. Event text is data only: it is never compiled as a template.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

import jinja2
from jinja2 import meta, nodes
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

Context = Mapping[str, Any]

# What a template or condition may raise while running on one event: reported as data, per rule.
# RecursionError: an event nested almost as deep as the decoder allows, printed or iterated.
RENDER_ERRORS = (
    jinja2.TemplateError,
    ArithmeticError,
    LookupError,
    TypeError,
    ValueError,
    RecursionError,
)
_TEMPLATE_MARKERS = ("{{", "{%", "{#")


class MissingField(jinja2.ChainableUndefined):
    """What a condition reads for a field the event does not have (docs/rules.md, "Missing
    fields"). Like SQL's NULL, it spoils what it touches and nothing else:

    * falsy; reading further into it (`.x`, `[0]`, calling `.startswith("a")`) gives itself;
    * `==` is false against everything (itself and `none` included), `!=` true; `<`, `<=`,
      `>`, `>=` are false, on either side;
    * arithmetic (`+ - * / // % **`, unary `-`/`+`, `abs`, `round`) gives itself again, so
      `chat.missing + 1 > 0` is false, never an error (no division by zero either);
    * it prints as "", has length 0, iterates as empty, contains nothing, and is in nothing
      (`chat.missing in "some text"` is false: conditions compile `in` to a test that knows);
    * `int(...)`/`float(...)` refuse it with TypeError, which the `int` and `float` filters turn
      into their default (0 unless given): `chat.missing | int(7)` is 7.

    An attribute the sandbox refuses (`chat.__class__`) is also an undefined, but it still fails
    the rule loudly (SecurityError) instead of passing as a missing field.
    """

    __slots__ = ()

    def _check(self) -> None:
        if self._undefined_exception is not jinja2.UndefinedError:  # the sandbox said unsafe
            self._fail_with_undefined_error()

    def _itself(self, *args: Any, **kwargs: Any) -> MissingField:
        self._check()
        return self

    def _false(self, other: Any) -> bool:
        self._check()
        return False

    def _not_a_number(self, *args: Any, **kwargs: Any) -> NoReturn:
        self._check()
        raise TypeError("a missing field is not a number")

    __add__ = __radd__ = __sub__ = __rsub__ = _itself  # type: ignore[assignment]
    __mul__ = __rmul__ = __div__ = __rdiv__ = _itself  # type: ignore[assignment]
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = _itself  # type: ignore[assignment]
    __mod__ = __rmod__ = __pow__ = __rpow__ = _itself  # type: ignore[assignment]
    __pos__ = __neg__ = __abs__ = __round__ = __call__ = _itself  # type: ignore[assignment]
    __lt__ = __le__ = __gt__ = __ge__ = __eq__ = __contains__ = _false  # type: ignore[assignment]
    __int__ = __float__ = __complex__ = _not_a_number

    def __ne__(self, other: Any) -> bool:
        self._check()
        return True

    def __bool__(self) -> bool:
        self._check()
        return False

    def __str__(self) -> str:
        self._check()
        return ""

    __hash__ = jinja2.ChainableUndefined.__hash__


def _is_in(value: Any, container: Any) -> bool:
    """`value in container` for conditions: a missing field is in nothing. (Python's own `in`
    raises TypeError for a non-text on the left of a text.)"""
    if isinstance(value, MissingField):
        value._check()  # an unsafe attribute still fails loudly
        return False
    return value in container


class _InAsTest(NodeTransformer):
    """Rewrites `a in b` / `a not in b` of a condition into the `in` test (`_is_in`)."""

    def visit_Compare(self, node: nodes.Compare) -> nodes.Node:  # noqa: N802 - jinja's name
        self.generic_visit(node)
        if len(node.ops) != 1 or node.ops[0].op not in ("in", "notin"):
            return node
        [operand] = node.ops
        test = nodes.Test(node.expr, "in", [operand.expr], [], None, None, lineno=node.lineno)
        return nodes.Not(test, lineno=node.lineno) if operand.op == "notin" else test


def _missing(value: Any) -> bool:
    return value is None or isinstance(value, MissingField)


def has_any(value: Any, words: Iterable[str] | str) -> bool:
    """True when the text contains any of the words, ignoring case. A substring match, so
    "מחיר" also finds "המחיר" and "במחיר" (Hebrew attaches prefixes to words)."""
    if _missing(value):
        return False
    text = str(value).casefold()  # str() of a strict undefined raises, as it should
    choices = [words] if isinstance(words, str) else words
    return any(str(word).casefold() in text for word in choices)


def regex(value: Any, pattern: str) -> bool:
    """True when the regular expression matches anywhere in the text (Python `re.search`).
    False for null or a missing field (even for a pattern that matches the empty text)."""
    if _missing(value):
        return False
    return re.search(pattern, str(value)) is not None


def _finalize(value: Any) -> Any:
    """How `{{ value }}` prints: JSON's spelling rather than Python's (null as nothing, true,
    ["a", "b"]), since rule authors read Texter's JSON and outputs often go to JSON APIs."""
    if value is None:
        return ""
    if isinstance(value, bool | list | dict):
        return json.dumps(value, ensure_ascii=False)
    return value


def _environment(undefined: type[jinja2.Undefined]) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        undefined=undefined, autoescape=False, finalize=_finalize, keep_trailing_newline=True
    )
    env.filters["has_any"] = has_any
    env.filters["regex"] = regex
    return env


class Value(Protocol):
    def render(self, ctx: Context) -> Any: ...


@dataclass(frozen=True, slots=True)
class Const:
    value: Any

    def render(self, ctx: Context) -> Any:
        return self.value


def _context(template: jinja2.Template, ctx: Context) -> jinja2.runtime.Context:
    """A render context over `ctx` itself, not a copy: Template.render copies every name of the
    event (and the globals) once per template, which was most of the evaluation time. `ctx`
    already holds the environment's globals (Sandbox.globals, added by build_context)."""
    parent = ctx if isinstance(ctx, dict) else dict(ctx)
    return jinja2.runtime.Context(template.environment, parent, template.name, {})


@dataclass(frozen=True, slots=True)
class Text:
    source: str
    template: jinja2.Template

    def render(self, ctx: Context) -> str:
        return "".join(self.template.root_render_func(_context(self.template, ctx)))


@dataclass(frozen=True, slots=True)
class ListOf:
    items: tuple[Value, ...]

    def render(self, ctx: Context) -> list[Any]:
        return [item.render(ctx) for item in self.items]


@dataclass(frozen=True, slots=True)
class MapOf:
    items: tuple[tuple[str, Value], ...]

    def render(self, ctx: Context) -> dict[str, Any]:
        return {key: value.render(ctx) for key, value in self.items}


@dataclass(frozen=True, slots=True)
class Condition:
    source: str
    template: jinja2.Template  # `{% set result = <expression> %}`, as compile_expression builds

    def __call__(self, ctx: Context) -> bool:
        """Truthiness of the expression. A missing field is a MissingField, falsy where it is
        read; anything that still raises (one of RENDER_ERRORS) is the rule's error."""
        context = self.template.new_context(
            ctx if isinstance(ctx, dict) else dict(ctx), shared=True
        )
        for _ in self.template.root_render_func(context):
            pass
        return bool(context.vars.get("result"))


class Sandbox:
    """Compiles conditions and templates. One per loaded rules file (no module state)."""

    def __init__(self) -> None:
        self._lenient = _environment(MissingField)
        self._lenient.tests["in"] = _is_in
        self._strict = _environment(jinja2.StrictUndefined)

    @property
    def globals(self) -> dict[str, Any]:
        """Names every template sees (range, dict, namespace, ...): part of each event context."""
        return dict(self._strict.globals)

    def condition(self, source: str) -> Condition:
        """Compiled like Environment.compile_expression, but run without copying the context.
        Raises jinja2.TemplateSyntaxError when it does not compile."""
        env = self._lenient
        parser = Parser(env, source, state="variable")
        expr = parser.parse_expression()
        if not parser.stream.eos:
            raise jinja2.TemplateSyntaxError(
                "unexpected text after the expression", parser.stream.current.lineno
            )
        expr = _InAsTest().visit(expr)
        expr.set_environment(env)
        body = [nodes.Assign(nodes.Name("result", "store"), expr, lineno=1)]
        return Condition(source, env.from_string(nodes.Template(body, lineno=1)))

    def text(self, source: str) -> Text | Const:
        """A template, or the plain string itself when it has no Jinja markup."""
        if not any(marker in source for marker in _TEMPLATE_MARKERS):
            return Const(source)
        return Text(source, self._strict.from_string(source))

    def names(self, source: str, *, expression: bool) -> set[str]:
        """Top-level variables a condition (expression) or template reads."""
        code = f"{{{{ {source} }}}}" if expression else source
        found: set[str] = meta.find_undeclared_variables(self._strict.parse(code))
        return found - set(self._strict.globals)
