"""The rules metrics after a known sequence of events, read from the registry."""

from __future__ import annotations

import asyncio

from consumers.rules.guard import Budget
from tests.rules_consumer.rig import event_message, rig
from worker.bus import Message
from worker.bus.topology import routing_key
from worker.plans import Labels
from worker.state.echo import echo_keys
from worker.state.memory import LocalMemory

RULES = """
rules:
  - name: tag
    on: chatPending
    do:
      - labels: {add: [waiting]}
  - name: nick
    on: chatPending
    do:
      - update_crm: {data: {nick: "{{ chat.nickname }}"}}
  - name: survey
    on: chatResolvedByAgent
    once_per_chat: 24h
    do:
      - send_template: {template: feedback_survey, to: "972500000001"}
  - name: react
    on: chatLabelsUpdated
    do:
      - resolve
  - name: burst
    on: chatAssigned
    do:
      - labels: {add: [a]}
      - labels: {add: [b]}
      - labels: {add: [c]}
"""
P = "texter_worker_rules_"


async def test_counts_after_a_known_sequence(namespace: str) -> None:
    r = await rig(namespace)
    memory = LocalMemory()
    consumer = r.consumer(RULES, memory, budget=Budget(steps=4, window=60))
    for key in echo_keys("c1", Labels(idempotency_key="k:0", add=["lead"])):
        await memory.put(key, "k:0", 60)
    lead = {"addedLabels": ["lead"], "removedLabels": []}
    poison = Message(body=b"not json", routing_key=routing_key(0), message_id="poison")
    for message in [
        event_message("chatPending", "c1", "chatPending:c1:t1"),  # tag; nick fails
        event_message("chatResolvedByAgent", "c1", "chatResolvedByAgent:c1:t1"),  # survey
        event_message("chatResolvedByAgent", "c1", "chatResolvedByAgent:c1:t2"),  # once: held
        event_message("chatLabelsUpdated", "c1", "chatLabelsUpdated:c1:t1", lead),  # our echo
        event_message("chatAssigned", "c1", "chatAssigned:c1:t1"),  # 3 steps: over budget
        event_message("chatSubscribed", "c1", "chatSubscribed:c1:t1"),  # no rule for it
        poison,
    ]:
        await consumer.handle(r.delivery(message))

    assert [r.sample(f"{P}events_total", {"event": e}) for e in [
        "chatPending", "chatResolvedByAgent", "chatLabelsUpdated", "chatAssigned",
        "chatSubscribed",
    ]] == [1, 2, 1, 1, 1]  # fmt: skip
    assert {rule: r.sample(f"{P}matches_total", {"rule": rule}) for rule in [
        "tag", "nick", "survey", "react", "burst",
    ]} == {"tag": 1, "nick": 1, "survey": 1, "react": 0, "burst": 1}  # fmt: skip
    assert {rule: r.sample(f"{P}plans_total", {"rule": rule}) for rule in [
        "tag", "nick", "survey", "react", "burst",
    ]} == {"tag": 1, "nick": 0, "survey": 1, "react": 0, "burst": 0}  # fmt: skip
    assert r.sample(f"{P}errors_total", {"rule": "nick"}) == 1
    assert r.sample(f"{P}skipped_total", {"reason": "once_per_chat"}) == 1
    assert r.sample(f"{P}skipped_total", {"reason": "echo"}) == 1
    assert {reason: r.sample(f"{P}dead_letters_total", {"reason": reason}) for reason in [
        "poison", "rule_error", "budget_exceeded",
    ]} == {"poison": 1, "rule_error": 1, "budget_exceeded": 1}  # fmt: skip
    # every decoded event was evaluated once (the poison body never reaches the rules)
    assert r.sample(f"{P}evaluation_seconds_count") == 6
    assert r.sample(f"{P}event_seconds_count") == 7
    assert len(await r.plans()) == 2
    assert len(await r.dead()) == 3


async def test_a_plan_is_counted_once_the_broker_confirmed_it(namespace: str) -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow_confirm(message: Message) -> None:
        if message.type == "plan":
            entered.set()
            await release.wait()

    r = await rig(namespace, confirm_hook=slow_confirm)
    consumer = r.consumer(RULES)
    handling = asyncio.create_task(
        consumer.handle(r.delivery(event_message("chatLabelsUpdated", "c1", "k")))
    )
    async with asyncio.timeout(5):
        await entered.wait()
    assert r.sample(f"{P}matches_total", {"rule": "react"}) == 1
    assert r.sample(f"{P}plans_total", {"rule": "react"}) == 0  # published, not confirmed yet
    release.set()
    await handling
    assert r.sample(f"{P}plans_total", {"rule": "react"}) == 1
