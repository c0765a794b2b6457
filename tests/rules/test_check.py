"""`rules check`: every class of bad file is reported with its file and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from consumers.rules import load_rules, parse_rules
from tests.rules.support import EXAMPLE
from worker.cli import main
from worker.errors import RulesError

GOOD_RULE = """\
  - name: ok
    on: chatAssigned
    do: [resolve]
"""


def rule(*lines: str, on: str = "chatAssigned") -> str:
    """A one-rule file: lines 1-3 are `rules:`, `- name: a`, `on: ...`; `lines` follow."""
    return f"rules:\n  - name: a\n    on: {on}\n" + "".join(f"    {line}\n" for line in lines)


def act(*actions: str) -> str:
    """A one-rule file whose actions start at line 5."""
    return rule("do:", *(f"  - {a}" for a in actions))


# (case, file text, line, severity, message fragment)
BAD = [
    ("not YAML", "rules:\n  - name: [unclosed\n", 3, "error", "invalid YAML"),
    ("empty file", "", 0, "error", "the file is empty"),
    ("no rules key", "defaults: {}\n", 1, "error", "missing `rules:`"),
    ("rules not a list", "rules: {a: 1}\n", 1, "error", "rules must be a list"),
    ("unknown top key", "rulez: []\nrules: []\n", 1, "error", "'rulez' (did you mean 'rules'?)"),
    ("unknown rule key", rule("iff: x", "do: [resolve]"), 4, "error", "(did you mean 'if'?)"),
    ("unknown default", "defaults:\n  once_per_chats: 1h\nrules: []\n", 2, "error", "unknown key"),
    ("missing do", rule(), 2, "error", "missing do"),
    ("wrong type bool", rule("stop: 3", "do: [resolve]"), 4, "error", "stop must be true or false"),
    (
        "wrong type text",
        act("send_message: {text: [a]}"),
        5,
        "error",
        "text must be text, got a list",
    ),
    (
        "wrong type map",
        act("update_crm: {data: x}"),
        5,
        "error",
        "data must be a mapping, got text",
    ),
    ("unknown action", act("send_mesage: {}"), 5, "error", "(did you mean 'send_message'?)"),
    ("unknown action key", act("resolve: {notify: true}"), 5, "error", "unknown key 'notify'"),
    (
        "two actions in one item",
        act("{resolve: {}, unsubscribe: {}}"),
        5,
        "error",
        "one action per",
    ),
    (
        "unknown eventName",
        rule("do: [resolve]", on="[chatAssigned, chatAsigned]"),
        3,
        "warning",
        "unknown eventName 'chatAsigned' (did you mean 'chatAssigned'?)",
    ),
    ("star with others", rule("do: [resolve]", on="['*', chatPending]"), 3, "error", '"*" already'),
    (
        "condition does not compile",
        rule("if: chat.title ==", "do: [resolve]"),
        4,
        "error",
        "condition",
    ),
    (
        "template does not compile",
        act("send_message: {text: 'Hi {{ chat.title'}"),
        5,
        "error",
        "does not compile",
    ),
    (
        "template in json does not compile",
        rule("do:", "  - http:", "      url: https://x.y", "      json: {a: [1, '{% if %}']}"),
        7,
        "error",
        "(http) json.a: template does not compile",
    ),
    ("duplicate rule names", f"rules:\n{GOOD_RULE}{GOOD_RULE}", 5, "error", "(first at line 2)"),
    (
        "duplicate key",
        rule("stop: true", "stop: false", "do: [resolve]"),
        5,
        "error",
        "duplicate key 'stop'",
    ),
    (
        "labels two operations",
        act("labels: {add: [x], set: []}"),
        5,
        "error",
        "exactly one of add, remove, set (got 2)",
    ),
    (
        "labels no operation",
        act("labels: {}"),
        5,
        "error",
        "exactly one of add, remove, set (got 0)",
    ),
    (
        "assign two agents",
        act("assign: {agent_uid: u, agent_email: e}"),
        5,
        "error",
        "at most one agent",
    ),
    (
        "message shape",
        act("send_message: {buttons: [{title: a}]}"),
        5,
        "error",
        "send_message takes one of",
    ),
    (
        "missing template",
        act("send_template: {to: '972500000000'}"),
        5,
        "error",
        "missing template",
    ),
    (
        "bad once_per_chat",
        rule("once_per_chat: soon", "do: [resolve]"),
        4,
        "error",
        "expected a duration like 90s",
    ),
    ("zero duration", rule("once_per_chat: 0s", "do: [resolve]"), 4, "error", "greater than zero"),
    (
        "bad default duration",
        "defaults:\n  once_per_chat: 24 hours\nrules: []\n",
        2,
        "error",
        "a duration",
    ),
    (
        "bad http timeout",
        act("http: {url: 'https://x.y', timeout: 5x}"),
        5,
        "error",
        "timeout: expected a duration",
    ),
    (
        "bad http method",
        act("http: {url: 'https://x.y', method: GET}"),
        5,
        "error",
        "method must be POST or PUT",
    ),
    (
        "bad rule name",
        "rules:\n  - name: my rule!\n    on: x\n    do: [resolve]\n",
        2,
        "error",
        "rule name 'my rule!'",
    ),
    ("empty do", rule("do: []"), 4, "error", "`do` needs at least one action"),
    (
        "unknown variable",
        rule("if: mesage.text", "do: [resolve]"),
        4,
        "warning",
        "unknown variable 'mesage'",
    ),
    (
        "variable missing for one event",
        rule(
            "do:", "  - send_message: {text: '{{ message.text }}'}", on="[newMessage, chatAssigned]"
        ),
        5,
        "warning",
        "'message' is not in the data of chatAssigned",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "severity", "fragment"), [c[1:] for c in BAD], ids=[c[0] for c in BAD]
)
def test_each_problem_names_its_file_and_line(
    text: str, line: int, severity: str, fragment: str
) -> None:
    ruleset, problems = parse_rules(text, "bad.yaml")
    where = f"bad.yaml:{line}: {severity}:" if line else f"bad.yaml: {severity}:"
    assert any(str(p).startswith(where) and fragment in p.message for p in problems), problems
    assert (ruleset is None) is (severity == "error")


def test_all_problems_are_reported_at_once() -> None:
    text = textwrap.dedent("""\
        rules:
          - name: a
            on: chatAssigned
            stop: maybe
            do:
              - labels: {}
          - name: b
            on: chatAssigned
            do:
              - teleport: {}
    """)
    _, problems = parse_rules(text, "f.yaml")
    assert [(p.line, p.severity) for p in problems] == [(4, "error"), (6, "error"), (10, "error")]


def test_load_rules_raises_rules_error_with_every_line(tmp_path: Path) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text("rules:\n  - name: a\n    on: chatAssigned\n    do: [teleport, resolv]\n")
    with pytest.raises(RulesError) as caught:
        load_rules(bad)
    assert caught.value.path == str(bad)
    assert len(caught.value.problems) == 2
    assert all(p.startswith(f"{bad}:4: error: ") for p in caught.value.problems)


def test_yaml_1_1_traps_are_avoided() -> None:
    """`on:` is a key, not the boolean True; a phone with a leading 0 stays text, not octal."""
    ruleset, problems = parse_rules(act("unsubscribe: {phone: 0521234567}"))
    assert problems == []
    assert ruleset is not None
    [rule] = ruleset.rules
    assert rule.events == frozenset({"chatAssigned"})
    assert dict(rule.steps[0].fields)["phone"].render({}) == "0521234567"


def test_check_command_prints_problems_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - name: a\n    on: chatAsigned\n    do:\n      - labels: {}\n")
    assert main(["rules", "check", str(bad)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{bad}:3: warning: rule 'a': unknown eventName 'chatAsigned' "
        "(did you mean 'chatAssigned'?)",
        f"{bad}:5: error: rule 'a' step 1 (labels): "
        "labels takes exactly one of add, remove, set (got 0)",
        f"{bad}: 1 error(s), 1 warning(s)",
    ]


def test_check_command_accepts_warnings_and_summarises_each_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ok = tmp_path / "ok.yaml"
    ok.write_text(
        "rules:\n  - name: a\n    on: qaiScenarioFinished\n    once_per_chat: 90m\n"
        "    do: [resolve]\n"
    )
    assert main(["rules", "check", str(ok)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{ok}:3: warning: rule 'a': unknown eventName 'qaiScenarioFinished'",
        "a (line 2): on qaiScenarioFinished; do resolve; once_per_chat 90m; ignore_own_writes",
        f"{ok}: 1 rule(s) OK, 1 warning(s)",
    ]


def test_check_command_on_a_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rules", "check", str(tmp_path / "nope.yaml")]) == 1
    assert "cannot read the rules file" in capsys.readouterr().out


def test_the_example_file_checks_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "check", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f"{EXAMPLE}: 14 rule(s) OK, 0 warning(s)"
    assert not any(": warning: " in line or ": error: " in line for line in out)
    assert len(out) == 15  # one summary line per rule, then the total


ISSUE_EXAMPLE = """\
defaults:
  ignore_own_writes: true
rules:
  - name: sales-leads
    on: newIncomingMessage
    if: message.type == "text" and "price" in message.text | lower
    do:
      - labels: {add: [lead]}
      - assign: {department: sales}
      - send_message: {text: "Thanks {{ chat.title }}, a sales rep will answer shortly."}
  - name: survey-after-resolve
    on: chatResolvedByAgent
    once_per_chat: 24h
    do:
      - send_template:
          template: feedback_survey
          to: "{{ chat.channelInfo.id }}"
          language: he
          body: ["{{ chat.title }}"]
  - name: vip-crm
    on: [chatLabelsUpdated, chatSpecificLabelAdded]
    if: '"vip" in addedLabels'
    stop: true
    do:
      - update_crm: {data: {vip: true, vipSince: "{{ now_iso }}"}}
"""


def test_the_issue_example_loads_as_written() -> None:
    ruleset, problems = parse_rules(ISSUE_EXAMPLE)
    assert problems == []
    assert ruleset is not None
    assert [r.name for r in ruleset.rules] == ["sales-leads", "survey-after-resolve", "vip-crm"]
