"""The template sandbox, its filters and how values print; durations."""

from __future__ import annotations

from typing import Any

import pytest

from consumers.rules.durations import format_duration, parse_duration
from consumers.rules.sandbox import has_any, regex
from tests.rules.support import evaluate, ruleset

ONE_MESSAGE = """\
rules:
  - name: t
    on: newIncomingMessage
    do:
      - send_message: {{text: '{template}'}}
"""


def _render(template: str, **patches: Any) -> tuple[str | None, str | None]:
    """(rendered text, failure reason) of a send_message text on the sample message."""
    result = evaluate(
        ruleset(ONE_MESSAGE.format(template=template)), "newIncomingMessage", **patches
    )
    if result.errors:
        return None, result.errors[0].reason
    return result.plans[0].steps[0].text, None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("template", "text"),
    [
        ("{{ chat.title }}", "Dana Cohen"),
        ("[{{ chat.departmentId }}]", "[]"),  # JSON null prints as nothing
        ("{{ chat.externalBot }}", "false"),  # JSON's spelling, not Python's
        ('{{ chat.labels + ["a"] }}', '["a"]'),
        ('{{ message.text | truncate(8, True, "…") }}', "היי, אנ…"),
        ("{{ chat.crmData.leadId + 1 }}", "552311"),
        ("{{ now_iso }} {{ event_name }}", "2025-11-10T12:00:00Z newIncomingMessage"),
        ("{% if chat.crmData.leadId %}lead{% else %}new{% endif %}", "lead"),
        ('{{ chat.crmData.get("missing", "-") }}', "-"),
    ],
)
def test_templates_render(template: str, text: str) -> None:
    assert _render(template) == (text, None)


def test_event_text_is_data_never_a_template() -> None:
    assert _render("{{ message.text }}", message__text="{{ 7 * 7 }}") == ("{{ 7 * 7 }}", None)


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{{ chat.nickname }}", "'dict object' has no attribute 'nickname'"),
        ("{{ agent.email }}", "'agent' is undefined"),
        ("{{ chat.__class__ }}", "unsafe"),
        ('{{ chat.crmData.update({"x": 1}) }}', "unsafe"),
        ("{{ range(10000000) | list }}", "Range too big"),
        ("{{ chat.departmentId }}", "length >= 1 - at `$.text`"),  # an empty message
        ("{{ 1 / 0 }}", "division by zero"),
    ],
)
def test_missing_fields_and_unsafe_access_fail_the_rule(template: str, reason: str) -> None:
    text, failure = _render(template)
    assert text is None
    assert failure is not None
    assert reason in failure


@pytest.mark.parametrize(
    ("value", "words", "found"),
    [
        ("כמה עולה? מה המחיר", ["מחיר"], True),  # a substring: the prefix ה is attached
        ("PRICE please", "price", True),
        ("hello", ["price", "מחיר"], False),
        (None, ["x"], False),
        (12345, ["234"], True),
    ],
)
def test_has_any(value: object, words: list[str] | str, found: bool) -> None:
    assert has_any(value, words) is found


@pytest.mark.parametrize(
    ("value", "pattern", "found"),
    [("order 20871", r"\b\d{5}\b", True), ("no digits", r"\d", False), (None, ".", False)],
)
def test_regex(value: object, pattern: str, found: bool) -> None:
    assert regex(value, pattern) is found


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("30m", 1800), ("24h", 86400), ("7d", 604800), ("1h30m", 5400),
     ("500ms", 0.5), ("2w", 1209600), ("45", 45), (" 1.5h ", 5400)],
)  # fmt: skip
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "5x", "h", "-1h", "0s", "0", "1h 2"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(86400, "24h"), (172800, "2d"), (5400, "90m"), (0.5, "0.5s"), (1209600, "2w")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
