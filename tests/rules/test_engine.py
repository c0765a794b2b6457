"""Matching and Plan building: order, stop, enabled, wildcards, failures as data, stable keys."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from consumers.rules import plan_id
from tests.rules.support import NOW, evaluate, ruleset, sample
from worker.plans import Plan

TWO_RULES = """\
rules:
  - name: first
    on: chatAssigned
    stop: {stop}
    do: [resolve]
  - name: second
    on: [chatAssigned, chatPending]
    do:
      - labels: {{add: [seen]}}
"""


@pytest.mark.parametrize(
    ("stop", "matched", "stopped_at"),
    [("true", ["first"], "first"), ("false", ["first", "second"], None)],
)
def test_rules_run_in_file_order_and_stop_hides_later_rules(
    stop: str, matched: list[str], stopped_at: str | None
) -> None:
    result = evaluate(ruleset(TWO_RULES.format(stop=stop)), "chatAssigned")
    assert result.matched_rules == matched
    assert [p.rule for p in result.plans] == matched
    assert result.stopped_at == stopped_at


def test_a_stop_rule_whose_condition_is_false_does_not_stop() -> None:
    rules = ruleset(
        TWO_RULES.format(stop="true").replace("stop: true", "stop: true\n    if: false")
    )
    assert evaluate(rules, "chatAssigned").matched_rules == ["second"]


def test_skipped_rules_neither_match_nor_stop() -> None:
    rules = ruleset(TWO_RULES.format(stop="true"))
    _, data, accepted = sample("chatAssigned")
    result = rules.evaluate(
        "chatAssigned", data, dedup_key=accepted.dedup_key, chat_id="c", now=NOW, skip={"first"}
    )
    assert result.skipped_rules == ["first"]
    assert result.matched_rules == ["second"]
    assert result.stopped_at is None


ON = """\
rules:
  - name: any
    on: "*"
    do: [{http: {url: "https://x.y/{{ event_name }}"}}]
  - name: listed
    on: [chatPending, qaiScenarioFinished]
    do: [{http: {url: "https://x.y/listed"}}]
  - name: disabled
    enabled: false
    on: "*"
    do: [{http: {url: "https://x.y/off"}}]
"""


@pytest.mark.parametrize(
    ("event_name", "matched"),
    [
        ("chatPending", ["any", "listed"]),
        ("chatAssigned", ["any"]),
        ("qaiScenarioFinished", ["any", "listed"]),  # an undocumented event named in `on`
        ("somethingNew", ["any"]),
    ],
)
def test_on_one_list_or_any_event(event_name: str, matched: list[str]) -> None:
    result = ruleset(ON).evaluate(event_name, {}, dedup_key="k", chat_id=None, now=NOW)
    assert result.matched_rules == matched
    assert result.plans[0].steps[0].url == f"https://x.y/{event_name}"  # type: ignore[union-attr]


CONDITIONS = """\
rules:
  - name: cond
    on: "*"
    if: {condition}
    do: [{{http: {{url: "https://x.y"}}}}]
"""


@pytest.mark.parametrize(
    ("condition", "event", "matches"),
    [
        ('message.text | has_any(["תור"])', "newIncomingMessage", True),
        ('message.text | has_any(["תור"])', "chatAssigned", False),  # no message: falsy
        ("message.text.nothing.deeper", "chatAssigned", False),
        ("chat.crmData.leadId > 500000", "newIncomingMessage", True),
        ("chat.crmData.leadId > 500000", "chatPending", False),  # missing: falsy, not an error
        ('"VIP" in addedLabels', "chatLabelsUpdated", True),
        ('"vip" in addedLabels', "chatLabelsUpdated", False),
        ('"vip" in addedLabels | map("lower")', "chatLabelsUpdated", True),
        ('event_name == "chatAssigned" and agent.email.endswith(".co.il")', "chatAssigned", True),
        ('message.text | regex("^\\\\s*\\\\d{4}\\\\s*$")', "newIncomingMessage", False),
        ("problem.impairedFunctionality.send", "channelHealthProblemCreated", True),
        ("now.hour == 12 and now_ms == 1762776000000", "chatPending", True),
        # A missing field is falsy where it is read; the rest of the expression still counts.
        ('chat.crmData.leadId > 5 or chat.title == "Shira Ben David"', "chatPending", True),
        ('chat.crmData.leadId > 5 or chat.title == "Dana"', "chatPending", False),
        ("not (chat.missing > 5)", "chatPending", True),
        ("not (chat.missing <= 5) and not (5 < chat.missing)", "chatPending", True),
        ("chat.missing | int > 0 or true", "chatPending", True),
        ("chat.missing | int == 0 and chat.missing | float == 0", "chatPending", True),
        ("chat.missing | int(7) == 7", "chatPending", True),  # the filter's default applies
        ("chat.missing + 1 > 0", "chatPending", False),
        ("not (chat.missing + 1 > 0)", "chatPending", True),
        ("not (chat.missing / 0 > 1 or -chat.missing < 0 or chat.missing ** 2 >= 0)",
         "chatPending", True),  # arithmetic gives the missing field again, never an error
        ("(chat.missing | round) or (chat.missing | abs) or true", "chatPending", True),
        ("chat.missing == none or chat.missing == chat.missing", "chatPending", False),
        ('chat.missing != "x"', "chatPending", True),
        ("chat.missing | length == 0 and chat.missing | list == []", "chatPending", True),
        ('chat.missing.startswith("x") or chat.missing[0].y or true', "chatPending", True),
        ('"x" in chat.missing', "chatPending", False),
        ('not ("x" in chat.missing) and "x" not in chat.missing', "chatPending", True),
        ('chat.missing in "some text" or chat.missing in ["a"]', "chatPending", False),
        ('chat.missing not in "some text"', "chatPending", True),
        ('"Shira" in chat.title and "Dana" not in chat.title', "chatPending", True),
        ('chat.missing | regex(".*")', "chatPending", False),  # even a pattern matching ""
        ('chat.missing | has_any([""])', "chatPending", False),
        ('(chat.missing ~ "x") == "x" and chat.missing | default(3) == 3', "chatPending", True),
        ("chat.missing is defined", "chatPending", False),
        ('agent.email.endswith(".co.il") or event_name == "chatPending"', "chatPending", True),
    ],
)  # fmt: skip
def test_conditions(condition: str, event: str, matches: bool) -> None:
    result = evaluate(ruleset(CONDITIONS.format(condition=f"'{condition}'")), event)
    assert result.errors == []
    assert result.matched_rules == (["cond"] if matches else [])


@pytest.mark.parametrize(
    ("condition", "reason"),
    [
        ("chat.__class__", "unsafe"),  # a refused attribute is not a missing field
        ("chat.__class__ in [1]", "unsafe"),
        ("chat.title > 5", "'>' not supported"),  # a real type error stays an error
    ],
)
def test_conditions_that_fail_the_rule(condition: str, reason: str) -> None:
    result = evaluate(ruleset(CONDITIONS.format(condition=f"'{condition}'")), "chatPending")
    assert result.matched_rules == []
    [failure] = result.errors
    assert reason in failure.reason


FAILING = """\
rules:
  - name: broken-condition
    on: chatAssigned
    if: chat.title > 5
    do: [resolve]
  - name: broken-template
    on: chatAssigned
    do:
      - labels: {add: [x]}
      - send_message: {text: "Hi {{ chat.nickname }}"}
  - name: no-chat
    on: "*"
    do: [resolve]
  - name: fine
    on: chatAssigned
    do: [{labels: {add: [ok]}}]
"""


def test_failures_are_data_and_the_other_rules_still_run() -> None:
    rules = ruleset(FAILING)
    result = evaluate(rules, "chatAssigned")
    assert [p.rule for p in result.plans] == ["no-chat", "fine"]
    assert result.matched_rules == ["broken-template", "no-chat", "fine"]
    condition, template = result.errors
    assert (condition.rule, condition.step_index, condition.line) == ("broken-condition", None, 2)
    assert "'>' not supported" in condition.reason
    assert (template.rule, template.step_index, template.action, template.line) == (
        "broken-template", 1, "send_message", 10,
    )  # fmt: skip
    assert template.reason == "text: 'dict object' has no attribute 'nickname'"
    # People read steps from 1, as `rules check` counts them; step_index stays 0-based.
    assert template.describe() == (
        "rule broken-template: step 2 of 2 (send_message, line 10): "
        "text: 'dict object' has no attribute 'nickname'"
    )


def test_a_chat_step_for_an_event_without_a_chat_fails_the_rule() -> None:
    result = evaluate(ruleset(FAILING), "channelHealthProblemCreated")
    [failure] = result.errors
    assert failure.rule == "no-chat"
    assert "needs chat_id" in failure.reason


def test_a_rendered_value_the_plan_refuses_fails_the_rule() -> None:
    text = (
        "rules:\n  - name: t\n    on: chatAssigned\n    do:\n"
        "      - send_template: {template: '{{ chat.title }}'}\n"
    )
    [failure] = evaluate(ruleset(text), "chatAssigned").errors
    assert failure.step_index == 0
    assert "matching regex" in failure.reason  # "Yossi Levi" is not a template name


def test_ids_and_keys_are_stable_across_redeliveries_and_differ_between_events() -> None:
    rules = ruleset(TWO_RULES.format(stop="false"))
    _, data, _ = sample("chatAssigned")

    def plans(dedup_key: str, now: datetime) -> list[Plan]:
        return rules.evaluate("chatAssigned", data, dedup_key=dedup_key, chat_id="c", now=now).plans

    first = plans("chatAssigned:c:1", NOW)
    assert plans("chatAssigned:c:1", NOW + timedelta(hours=1)) == first  # a redelivery
    later_event = plans("chatAssigned:c:2", NOW)
    assert {p.id for p in first}.isdisjoint({p.id for p in later_event})
    assert len({p.id for p in first}) == 2  # one id per rule
    assert [s.idempotency_key for p in first for s in p.steps] == [
        f"{first[0].id}:0",
        f"{first[1].id}:0",
    ]


def test_the_plan_id_derivation_is_pinned() -> None:
    """Changing it would give in-flight events new keys after an upgrade: a duplicate send."""
    assert plan_id("vip-crm", "chatAssigned:abc:2025-11-10T10:58:40.176Z") == (
        "145b043200800ae9d31eae5a864c2244"
    )
    assert plan_id("a", "b:c") != plan_id("a:b", "c")


DEFAULTS = """\
defaults:
  ignore_own_writes: false
  once_per_chat: 1h
rules:
  - name: inherits
    on: chatAssigned
    do: [resolve]
  - name: overrides
    on: chatAssigned
    ignore_own_writes: true
    once_per_chat: false
    do: [resolve]
"""


def test_defaults_and_per_rule_overrides() -> None:
    rules = ruleset(DEFAULTS)
    inherits, overrides = rules.rules
    assert (inherits.ignore_own_writes, inherits.once_per_chat) == (False, 3600.0)
    assert (overrides.ignore_own_writes, overrides.once_per_chat) == (True, None)
    assert ruleset("rules: []").rules == ()
