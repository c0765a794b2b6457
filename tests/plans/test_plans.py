"""The Plan contract: round trips, compatibility with older Plans, validation, idempotency."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from worker import plans
from worker.plans import Plan, decode_plan, encode_plan, is_idempotent

DOCS = Path(__file__).resolve().parents[2] / "docs" / "plans.md"

ONE_OF_EACH: list[plans.Step] = [
    plans.Assign(idempotency_key="k0", agent_email="dana@example.com", department_id="sales"),
    plans.Assign(idempotency_key="k1", phone="0521234567", agent_uid="u-1"),
    plans.Resolve(idempotency_key="k2", notify_client=True),
    plans.UpdateCrm(idempotency_key="k3", data={"vip": True, "nested": {"a": [1, 2]}}),
    plans.UpdateChat(idempotency_key="k4", display_name="דנה כהן", external_bot=False),
    plans.Labels(idempotency_key="k5", add=["vip"]),
    plans.Labels(idempotency_key="k6", set_=[]),
    plans.SendMessage(idempotency_key="k7", type="text", text="שלום!", context="wamid.X"),
    plans.SendMessage(
        idempotency_key="k8",
        type="media",
        media=[{"mediaType": "image", "url": "https://e.x/a.jpg"}],
    ),
    plans.SendMessage(
        idempotency_key="k9", type="buttons", text="?", buttons=[{"title": "Yes", "payload": "y"}]
    ),
    plans.SendMessage(
        idempotency_key="k10", type="list", text="?", list_={"button": "Menu", "sections": []}
    ),
    plans.SendTemplate(
        idempotency_key="k11",
        template="survey_1",
        to="972521234567",
        language="he",
        body=["Dana"],
        header={"type": "image", "url": "https://e.x/h.jpg"},
        from_="972509876543",
    ),
    plans.Unsubscribe(idempotency_key="k12", phone="972521234567"),
    plans.Resubscribe(idempotency_key="k13", phone="972521234567", account_id="972509876543"),
    plans.Http(
        idempotency_key="k14",
        url="https://crm.example.com/x",
        method="PUT",
        json={"a": 1},
        headers={"X-Key": "v"},
        timeout=5.0,
    ),
]


def _plan(steps: list[plans.Step], **kw: Any) -> Plan:
    return Plan(id="p1", chat_id="6650f1a2b3c4d5e6f7a8b9c0", source="test", steps=steps, **kw)


@pytest.mark.parametrize("step", ONE_OF_EACH, ids=lambda s: type(s).__name__)
def test_each_step_round_trips(step: plans.Step) -> None:
    plan = _plan([step], not_before=datetime(2025, 11, 10, 9, 30, tzinfo=UTC), attempt=3)
    body = encode_plan(plan)
    assert decode_plan(body) == plan
    assert json.loads(body)["steps"][0]["action"] == step.__struct_config__.tag


def test_wire_names_are_the_documented_ones() -> None:
    doc = json.loads(encode_plan(_plan(ONE_OF_EACH)))
    steps = doc["steps"]
    assert steps[6] == {"action": "labels", "idempotency_key": "k6", "set": []}
    assert steps[10]["list"] == {"button": "Menu", "sections": []}
    assert steps[11]["from"] == "972509876543"
    assert set(doc) == {
        "id",
        "chat_id",
        "source",
        "cause_event_id",
        "rule",
        "steps",
        "attempt",
        "not_before",
        "version",
    }


def test_an_old_plan_without_the_optional_fields_still_decodes() -> None:
    """What a version-1 producer that never heard of attempt/not_before/rule/version sends."""
    old = b"""{"id": "p-old", "source": "crm", "chat_id": "c1",
               "steps": [{"action": "resolve", "idempotency_key": "p-old:0"},
                         {"action": "send_template", "idempotency_key": "p-old:1",
                          "template": "hello", "to": "972521234567"}]}"""
    plan = decode_plan(old)
    assert (plan.attempt, plan.version, plan.not_before, plan.rule) == (1, 1, None, None)
    assert plan.steps[0] == plans.Resolve(idempotency_key="p-old:0", notify_client=False)
    assert plan.steps[1] == plans.SendTemplate(
        idempotency_key="p-old:1", template="hello", to="972521234567"
    )


def test_unknown_fields_from_a_newer_producer_are_ignored() -> None:
    newer = b"""{"id": "p", "source": "x", "chat_id": "c", "priority": "high",
                 "steps": [{"action": "labels", "idempotency_key": "k", "add": ["a"],
                            "comment": "new field"}]}"""
    assert decode_plan(newer).steps == [plans.Labels(idempotency_key="k", add=["a"])]


def _body(steps: list[dict[str, Any]], **plan: Any) -> bytes:
    return json.dumps({"id": "p", "source": "t", "chat_id": "c", "steps": steps, **plan}).encode()


def _s(action: str, **fields: Any) -> dict[str, Any]:
    return {"action": action, "idempotency_key": "k", **fields}


RESOLVE = [_s("resolve")]
INVALID = [
    ("two label operations", [_s("labels", add=["a"], remove=["b"])], {}, "exactly one of add"),
    ("no label operation", [_s("labels")], {}, "exactly one of add, remove, set"),
    ("empty add", [_s("labels", add=[])], {}, "length >= 1"),
    ("two agents", [_s("assign", agent_uid="u", agent_email="e")], {}, "at most one agent"),
    ("assign to nobody", [_s("assign")], {}, "needs an agent"),
    (
        "chat and phone",
        [_s("assign", chat_id="c", phone="0521234567", department_id="d")],
        {},
        "chat_id or phone",
    ),
    ("type without content", [_s("send_message", type="media", text="x")], {}, "content of text"),
    (
        "text and media",
        [_s("send_message", type="text", text="x", media=[{}])],
        {},
        "send_message takes one of",
    ),
    (
        "four buttons",
        [_s("send_message", type="buttons", text="x", buttons=[{}, {}, {}, {}])],
        {},
        "length <= 3",
    ),
    ("bad template", [_s("send_template", template="a b", to="0521234567")], {}, "matching regex"),
    ("http GET", [_s("http", url="https://x.y", method="GET")], {}, "Invalid enum value 'GET'"),
    ("http not a URL", [_s("http", url="ftp://x")], {}, "matching regex"),
    ("unknown action", [_s("delete_chat")], {}, "Invalid value 'delete_chat'"),
    ("no key", [{"action": "resolve"}], {}, "missing required field `idempotency_key`"),
    ("same key twice", RESOLVE * 2, {}, "share an idempotency_key"),
    ("no steps", [], {}, "length >= 1"),
    ("chat step without a chat", RESOLVE, {"chat_id": None}, "needs chat_id"),
    ("newer version", RESOLVE, {"version": 2}, "newer than 1"),
    ("naive not_before", RESOLVE, {"not_before": "2025-01-01T00:00:00"}, "timezone"),
    ("attempt 0", RESOLVE, {"attempt": 0}, ">= 1"),
]


@pytest.mark.parametrize(
    ("steps", "plan", "reason"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_plans_are_rejected_with_a_reason(
    steps: list[dict[str, Any]], plan: dict[str, Any], reason: str
) -> None:
    with pytest.raises(msgspec.ValidationError, match=re.escape(reason)):
        decode_plan(_body(steps, **plan))


def test_steps_that_name_their_own_target_need_no_plan_chat() -> None:
    steps = [
        {**_s("assign", phone="0521234567", department_id="d"), "idempotency_key": "a"},
        {**_s("labels", chat_id="c2", add=["x"]), "idempotency_key": "b"},
        {**_s("send_template", template="t", to="972521234567"), "idempotency_key": "c"},
        {**_s("http", url="https://x.y/z"), "idempotency_key": "d"},
    ]
    plan = decode_plan(_body(steps, chat_id=None))
    assert plan.chat_id is None
    assert [type(step) for step in plan.steps] == [
        plans.Assign,
        plans.Labels,
        plans.SendTemplate,
        plans.Http,
    ]


@pytest.mark.parametrize(
    ("step", "idempotent"),
    [
        (s, not isinstance(s, plans.SendMessage | plans.SendTemplate | plans.Http))
        for s in ONE_OF_EACH
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, bool) else str(v),
)
def test_only_sends_and_http_are_not_idempotent(step: plans.Step, idempotent: bool) -> None:
    assert is_idempotent(step) is idempotent


def test_every_step_type_is_in_the_union() -> None:
    assert set(plans.STEP_TYPES) == {
        "assign", "resolve", "update_crm", "update_chat", "labels", "send_message",
        "send_template", "unsubscribe", "resubscribe", "http",
    }  # fmt: skip


def _doc_examples() -> list[dict[str, Any]]:
    blocks = re.findall(r"```json\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL)
    return [json.loads(block) for block in blocks]


def test_every_json_example_in_the_docs_is_valid() -> None:
    examples = _doc_examples()
    documented = {e["action"] for e in examples if "action" in e}
    assert documented == set(plans.STEP_TYPES), "docs/plans.md needs one example per step type"
    for example in examples:
        body = (
            example
            if "steps" in example
            else {"id": "p", "source": "d", "chat_id": "c", "steps": [example]}
        )
        decode_plan(json.dumps(body).encode())
