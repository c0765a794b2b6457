"""What the fuzz tests share: hypothesis settings that make CI reproducible, JSON strategies, and
mutations of the bundled webhook fixtures.

Settings are applied per test (`@FUZZ`), not as a global profile, so other tests are untouched.
CI runs the same examples every time (`derandomize=True`, no example database); set
`FUZZ_EXAMPLES=<n>` for a longer exploratory run and `FUZZ_RANDOM=1` to draw new examples.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from simulator.samples import webhook_body, webhook_names

Path = tuple[str | int, ...]

_RANDOM = os.environ.get("FUZZ_RANDOM") == "1"
_SCALE = float(os.environ.get("FUZZ_EXAMPLES", "0") or 0)


def fuzz_settings(examples: int) -> settings:
    """Reproducible by default (same examples on every run, nothing read from or written to a
    database); `examples` is the CI count, FUZZ_EXAMPLES overrides it."""
    return settings(
        max_examples=int(_SCALE) if _SCALE else examples,
        deadline=None,
        derandomize=not _RANDOM,
        database=None,
        print_blob=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture,
        ],
    )


# CPython's default; the service never changes it. Hypothesis raises the (process-wide) limit
# while a test runs, which would let the service under test nest deeper than in production.
SERVICE_RECURSION_LIMIT = 1000


@contextmanager
def service_recursion_limit() -> Iterator[None]:
    """The recursion limit the service runs with, while the service handles one example."""
    saved = sys.getrecursionlimit()
    sys.setrecursionlimit(SERVICE_RECURSION_LIMIT)
    try:
        yield
    finally:
        sys.setrecursionlimit(saved)


# --- JSON values -------------------------------------------------------------------------------

# Unicode that tends to break things: RTL and bidi controls, NUL and other controls, emoji
# (astral plane, ZWJ sequences, flags), combining marks, BOM, line/paragraph separators,
# Hebrew (the product's language), and lone surrogates (legal as JSON escapes, not as UTF-8).
ODD_TEXT = [
    "",
    "\x00",
    "a\x00b",
    "\u202e\u05e9\u05dc\u05d5\u05dd\u202c",
    "\u200f\u200e\u2066x\u2069",
    "\U0001f600",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467",
    "\U0001f1ee\U0001f1f1",
    "e\u0301\u0301\u0301",
    "\ufeff",
    "\u2028\u2029",
    "\x7f\x85\x9f",
    "\ufffd\uffff",
    "\ud800",
    "\udfff",
    "x\udc80y",
    "{{ 7 * 7 }}",
    "{% for x in range(10**9) %}{% endfor %}",
    "תור",
    "appointment מחיר STOP",
]

odd_text = st.sampled_from(ODD_TEXT) | st.text(
    alphabet=st.characters(exclude_categories=()), max_size=40
)
long_text = st.builds(
    lambda s, n: s * n, st.sampled_from(["x", "\u05e9", "\U0001f600"]), st.integers(200, 3000)
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | odd_text
    | long_text
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(odd_text, inner, max_size=4),
    max_leaves=12,
)


def has_lone_surrogate(value: Any) -> bool:
    """Lone surrogates are legal JSON escapes but not Unicode text: a decoder may refuse them.
    Iterative: values may be nested deeper than Python's recursion limit allows."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
    return False


def encode(doc: Any, ascii_only: bool) -> bytes:
    """JSON bytes; with lone surrogates only the escaped (ASCII) spelling exists."""
    if ascii_only or has_lone_surrogate(doc):
        return json.dumps(doc, ensure_ascii=True).encode("ascii")
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def well_formed(doc: Any) -> bool:
    """The envelope the ingress promises to accept: an object with a non-empty string
    eventName and an object eventData (whatever eventData holds)."""
    if not isinstance(doc, dict) or has_lone_surrogate(doc):
        return False
    name, data = doc.get("eventName"), doc.get("eventData")
    return isinstance(name, str) and name != "" and isinstance(data, dict)


# --- the bundled fixtures, mutated ---------------------------------------------------------------

FIXTURES = {name: json.loads(webhook_body(name)) for name in webhook_names()}


def paths(value: Any, prefix: Path = ()) -> Iterator[Path]:
    """Every path in a JSON document, the root included, depth first."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths(child, (*prefix, index))


FIXTURE_PATHS = {name: list(paths(doc)) for name, doc in FIXTURES.items()}


def replace(doc: Any, path: Path, value: Any) -> Any:
    """A copy of `doc` with the value at `path` replaced (the root when path is empty)."""
    if not path:
        return value
    head, *rest = path
    if isinstance(doc, dict):
        return {k: replace(v, tuple(rest), value) if k == head else v for k, v in doc.items()}
    assert isinstance(doc, list)
    assert isinstance(head, int)
    return [replace(v, tuple(rest), value) if i == head else v for i, v in enumerate(doc)]


@st.composite
def mutated_fixture(draw: st.DrawFn) -> tuple[str, Path, Any]:
    """(event name, path, document): one documented field of one fixture given a random
    JSON value (a wrong type, an odd string, a container), or the event renamed."""
    name = draw(st.sampled_from(sorted(FIXTURES)))
    path = draw(st.sampled_from(FIXTURE_PATHS[name]))
    value = draw(json_values)
    doc = replace(FIXTURES[name], path, value)
    if draw(st.booleans()) and isinstance(doc, dict):  # and sometimes an unknown event name
        doc = {**doc, "eventName": draw(st.sampled_from(sorted(FIXTURES)) | odd_text)}
    return name, path, doc


def random_event_data() -> st.SearchStrategy[dict[str, Any]]:
    """eventData of any shape, with the names rules read (message, chat, addedLabels, ...)
    present often enough to get past conditions."""
    known = st.sampled_from(
        ["message", "chat", "agent", "problem", "addedLabels", "removedLabels", "error"]
    )
    return st.dictionaries(known | odd_text, json_values, max_size=6)
