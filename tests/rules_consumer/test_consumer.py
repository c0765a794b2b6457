"""The rules consumer on the embedded bus: events in through the ingress, Plans out."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import worker.plans as p
from consumers.rules import plan_id
from consumers.rules.guard import once_key
from simulator.samples import webhook_body
from tests.rules_consumer.harness import Pipeline, event, pipeline, write_rules
from worker.bus import Message
from worker.bus.embedded import EmbeddedBus
from worker.bus.topology import routing_key
from worker.deadletters import reason_of
from worker.plans import action_of, decode_plan
from worker.state.echo import echo_keys
from worker.state.redis_memory import RedisMemory, redis_client

RULES = """
rules:
  - name: tag-pending
    on: chatPending
    do:
      - labels: {add: [waiting]}
  - name: greet
    on: newIncomingMessage
    if: message.type == "text"
    do:
      - send_message: {text: "שלום {{ chat.title }}"}
  - name: survey
    on: chatResolvedByAgent
    once_per_chat: 24h
    do:
      - send_template: {template: feedback_survey, language: he, body: ["{{ chat.title }}"]}
  - name: needs-nickname
    on: chatPending
    do:
      - update_crm: {data: {nick: "{{ chat.nickname }}"}}
  - name: count-failures
    on: chatLabelsUpdated
    ignore_own_writes: false
    do:
      - update_crm: {data: {labelsSeen: true}}
  - name: react-to-labels
    on: chatLabelsUpdated
    do:
      - resolve: {}
"""


@pytest.fixture
async def pipe(tmp_path: Path, namespace: str) -> AsyncIterator[Pipeline]:
    bus = EmbeddedBus()
    async with pipeline(namespace, write_rules(tmp_path, RULES), bus) as p:
        yield p


async def test_events_become_plans_with_deterministic_ids(pipe: Pipeline) -> None:
    body = webhook_body("newIncomingMessage")
    reply = await pipe.ingress.post(body)
    assert reply.status == 202
    [plan] = await pipe.plans(1)
    assert plan.rule == "greet"
    assert plan.id == plan_id("greet", reply.json["id"])
    assert plan.cause_event_id == reply.json["id"]
    assert plan.chat_id == "6650f1a2b3c4d5e6f7a8b9c0"
    [step] = plan.steps
    assert action_of(step) == "send_message"
    assert step.idempotency_key == f"{plan.id}:0"


async def test_redelivered_event_yields_the_same_plan(pipe: Pipeline) -> None:
    body = webhook_body("newIncomingMessage")
    await pipe.ingress.post(body)
    await pipe.ingress.post(body)  # Texter delivers it again
    first, second = await pipe.plans(2)
    assert first == second


async def test_per_chat_order_is_kept(pipe: Pipeline) -> None:
    for n in range(30):
        chat = f"chat-{n % 3}"
        await pipe.ingress.post(event("chatPending", chat, updatedAt=f"t{n:02d}"))
    # each chatPending yields tag-pending, plus a rule_error for needs-nickname
    plans = await pipe.plans(30)
    await pipe.dead(30)
    by_chat: dict[str, list[str]] = {}
    for plan in plans:
        by_chat.setdefault(plan.chat_id or "", []).append(plan.cause_event_id or "")
    for chat, causes in by_chat.items():
        assert causes == sorted(causes), chat
        assert len(causes) == 10


async def test_poison_event_is_dead_lettered(pipe: Pipeline) -> None:
    bad = Message(body=b"\xff not json", routing_key=routing_key(0), message_id="poison-1")
    await pipe.bus.publish(pipe.ingress.topology.events_exchange, bad, timeout=5)
    [dead] = await pipe.dead(1)
    assert reason_of(dead) == "poison"
    assert dead.message.body == b"\xff not json"
    assert dead.message.headers["x-original-exchange"] == pipe.ingress.topology.events_exchange


async def test_rule_error_is_dead_lettered_and_other_rules_still_run(pipe: Pipeline) -> None:
    await pipe.ingress.post(event("chatPending", "c1", updatedAt="t1"))
    [plan] = await pipe.plans(1)
    assert plan.rule == "tag-pending"
    [dead] = await pipe.dead(1)
    assert reason_of(dead) == "rule_error"
    assert dead.message.headers["x-dead-rule"] == "needs-nickname"
    assert "nickname" in str(dead.message.headers["x-dead-error"])
    # People read "step 1 of 1"; the machine field stays 0-based, like the step's key.
    assert str(dead.message.headers["x-dead-error"]).startswith(
        "rule needs-nickname: step 1 of 1 (update_crm, line 20): data: "
    )
    assert dead.message.headers["x-dead-step"] == 0
    assert json.loads(dead.message.body)["eventName"] == "chatPending"  # replayable as is


async def test_echo_of_our_own_write_skips_ignore_own_writes_rules(pipe: Pipeline) -> None:
    ours = p.Labels(idempotency_key="k:0", add=["lead"])
    for key in echo_keys("c7", ours):
        await pipe.memory.put(key, "k:0", 60)
    added_lead = {"addedLabels": ["lead"], "removedLabels": []}
    await pipe.ingress.post(event("chatLabelsUpdated", "c7", added_lead, updatedAt="t1"))
    [plan] = await pipe.plans(1)
    assert plan.rule == "count-failures"  # the one rule that sees its own writes
    # The same change in another chat is no echo: both rules run there.
    await pipe.ingress.post(event("chatLabelsUpdated", "c8", added_lead, updatedAt="t1"))
    assert sorted(pl.rule or "" for pl in await pipe.plans(2)) == [
        "count-failures",
        "react-to-labels",
    ]


async def test_an_agents_change_next_to_ours_is_not_an_echo(pipe: Pipeline) -> None:
    for key in echo_keys("c7", p.Labels(idempotency_key="k:0", add=["lead"])):
        await pipe.memory.put(key, "k:0", 60)
    vip = {"addedLabels": ["VIP"], "removedLabels": []}  # an agent's label, not ours
    await pipe.ingress.post(event("chatLabelsUpdated", "c7", vip, updatedAt="t2"))
    assert sorted(pl.rule or "" for pl in await pipe.plans(2)) == [
        "count-failures",
        "react-to-labels",
    ]


async def test_once_per_chat_holds_back_a_second_event_but_not_a_redelivery(
    pipe: Pipeline,
) -> None:
    contact = {"channelInfo": {"id": "972500000009"}, "title": "Dana"}
    first = event("chatResolvedByAgent", "c9", updatedAt="t1", **contact)
    reply = await pipe.ingress.post(first)
    [plan] = await pipe.plans(1)
    assert plan.rule == "survey"
    assert await pipe.memory.get(once_key("survey", "c9")) == plan.id
    await pipe.ingress.post(event("chatResolvedByAgent", "c9", updatedAt="t2", **contact))
    await pipe.settled()
    assert (
        await pipe.bus.queue_depth(pipe.ingress.topology.writer_queue(0))
        + await pipe.bus.queue_depth(pipe.ingress.topology.writer_queue(1))
        == 0
    )
    await pipe.ingress.post(first)  # a redelivery of the first event: same Plan again
    [again] = await pipe.plans(1)
    assert again.id == plan.id == plan_id("survey", reply.json["id"])


async def test_runaway_chat_is_stopped_by_the_budget(tmp_path: Path, namespace: str) -> None:
    bus = EmbeddedBus()
    frozen = 1_800_000_030.0  # mid-window: all five events fall in one budget window
    rules = write_rules(tmp_path, RULES)
    async with pipeline(namespace, rules, bus, clock=lambda: frozen, chat_budget=3) as pipe:
        for n in range(5):
            await pipe.ingress.post(event("chatLabelsUpdated", "loop", updatedAt=f"t{n}"))
        # 1 step per Plan, 2 Plans per event: 3 fit the budget, the other 7 are held back
        plans = await pipe.plans(3)
        dead = await pipe.dead(7)
    assert sorted(p.rule or "" for p in plans) == [
        "count-failures",
        "count-failures",
        "react-to-labels",
    ]
    assert {reason_of(d) for d in dead} == {"budget_exceeded"}
    held = decode_plan(dead[0].message.body)  # the Plan itself, ready for replay
    assert held.chat_id == "loop"
    assert dead[0].message.headers["x-original-exchange"] == f"{namespace}.commands"


async def test_reload_swaps_good_rules_and_keeps_old_ones_on_a_bad_file(
    tmp_path: Path, namespace: str
) -> None:
    path = write_rules(tmp_path, RULES)
    async with pipeline(namespace, path, EmbeddedBus()) as pipe:
        holder = pipe.ingress.running.rules
        assert holder is not None
        path.write_text("rules:\n  - name: x\n    on: chatPending\n    do: [{teleport: {}}]\n")
        assert holder.reload() is False
        assert holder.current.get("greet") is not None
        path.write_text(
            "rules:\n  - name: only\n    on: chatPending\n    do:\n      - resolve: {}\n"
        )
        assert holder.reload() is True
        await pipe.ingress.post(event("chatPending", "c1", updatedAt="t1"))
        [plan] = await pipe.plans(1)
        assert plan.rule == "only"


async def test_with_state_url_the_memory_is_shared_through_redis(
    tmp_path: Path, namespace: str, redis_url: str
) -> None:
    """Another replica recorded a write to chat c7: this one sees the echo through Redis."""
    other_replica = RedisMemory(
        redis_client(redis_url), prefix=f"{namespace}:mem:", owns_client=True
    )
    [key] = echo_keys("c7", p.Labels(idempotency_key="k:0", add=["lead"]))
    await other_replica.put(key, "k:0", 60)
    added = {"addedLabels": ["lead"], "removedLabels": []}
    try:
        async with pipeline(
            namespace,
            write_rules(tmp_path, RULES),
            EmbeddedBus(),
            from_settings=True,
            state_url=redis_url,
        ) as pipe:
            await pipe.ingress.post(event("chatLabelsUpdated", "c7", added, updatedAt="t1"))
            [plan] = await pipe.plans(1)
    finally:
        await other_replica.put(key, "", 0.001)
        await other_replica.close()
    assert plan.rule == "count-failures"
