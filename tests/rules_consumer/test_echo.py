"""Echo recognition, table-driven: which keys a write leaves, which an event needs."""

from __future__ import annotations

import pytest

import worker.plans as p
from worker.state.echo import echo_checks, echo_keys

K = "k:0"


@pytest.mark.parametrize(
    ("step", "keys"),
    [
        (p.Labels(idempotency_key=K, add=["a", "b"]), ["echo:c:label+:a", "echo:c:label+:b"]),
        (p.Labels(idempotency_key=K, remove=["a"]), ["echo:c:label-:a"]),
        (p.Labels(idempotency_key=K, set_=["x"]), ["echo:c:label+:x", "echo:c:label-:*"]),
        (p.Assign(idempotency_key=K, department_id="sales"), ["echo:c:pending:sales"]),
        (p.Assign(idempotency_key=K, agent_email="a@b.c"), ["echo:c:pending:-"]),
        (p.Resolve(idempotency_key=K), ["echo:c:resolve"]),
        (p.SendMessage(idempotency_key=K, type="text", text="hi"), ["echo:c:send"]),
        (p.UpdateChat(idempotency_key=K, external_bot=False), ["echo:c:bot:off"]),
        (p.UpdateChat(idempotency_key=K, display_name="x"), []),
        (p.UpdateCrm(idempotency_key=K, data={"a": 1}), []),
        (p.Unsubscribe(idempotency_key=K, phone="972500000000"), ["echo:c:subscription:off"]),
    ],
)
def test_keys_a_write_leaves(step: p.Step, keys: list[str]) -> None:
    assert echo_keys("c", step) == keys


@pytest.mark.parametrize(
    ("event", "data", "checks"),
    [
        (
            "chatLabelsUpdated",
            {"addedLabels": ["a"], "removedLabels": ["b"]},
            [("echo:c:label+:a",), ("echo:c:label-:b", "echo:c:label-:*")],
        ),
        ("chatLabelsUpdated", {"addedLabels": [], "removedLabels": []}, None),
        ("chatPending", {"chat": {"departmentId": "sales"}}, [("echo:c:pending:sales",)]),
        ("chatPending", {"chat": {"departmentId": None}}, [("echo:c:pending:-",)]),
        ("chatAssigned", {"chat": {}}, None),  # an agent took it: never our API assign
        ("newMessage", {"message": {"direction": "outgoing"}}, [("echo:c:send",)]),
        ("newMessage", {"message": {"direction": "incoming"}}, None),
        ("newIncomingMessage", {"message": {"direction": "incoming"}}, None),
        ("chatResolvedByAgent", {}, [("echo:c:resolve",)]),
        ("externalBotDisabled", {}, [("echo:c:bot:off",)]),
    ],
)
def test_what_an_event_needs_to_be_an_echo(
    event: str, data: dict[str, object], checks: list[tuple[str, ...]] | None
) -> None:
    assert echo_checks(event, data, "c") == checks


@pytest.mark.parametrize(
    "step",
    [
        p.Labels(idempotency_key=K, add=["lead"]),
        p.Assign(idempotency_key=K, department_id="sales"),
        p.Resolve(idempotency_key=K),
        p.UpdateChat(idempotency_key=K, external_bot=True),
    ],
)
def test_every_echoed_write_is_recognised(step: p.Step) -> None:
    """The webhook Texter sends for a write finds every key the write left."""
    events = {
        p.Labels: ("chatLabelsUpdated", {"addedLabels": ["lead"], "removedLabels": []}),
        p.Assign: ("chatPending", {"chat": {"departmentId": "sales"}}),
        p.Resolve: ("chatResolved", {}),
        p.UpdateChat: ("externalBotEnabled", {}),
    }
    name, data = events[type(step)]
    left = set(echo_keys("c", step))
    checks = echo_checks(name, data, "c")
    assert checks is not None
    assert all(any(key in left for key in alternatives) for alternatives in checks)
