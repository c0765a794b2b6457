"""The shared state (Redis) down: the event waits and is retried in place, never dead-lettered
for it and never acked as processed."""

from __future__ import annotations

import asyncio

import pytest

from tests.rules_consumer.rig import FlakyMemory, event_message, rig
from worker.plans import decode_plan
from worker.state.redis_memory import RedisMemory, redis_client

RULES = """
rules:
  - name: survey
    on: chatResolvedByAgent
    once_per_chat: 24h
    do:
      - send_template: {template: feedback_survey, to: "972500000001"}
"""
EVENT = ("chatResolvedByAgent", "c1", "chatResolvedByAgent:c1:t1")


@pytest.mark.parametrize(
    "failures",
    [
        {"get": 3},  # while the guard looks up once_per_chat (before evaluating)
        {"claim": 2, "incr": 2},  # while it claims the window and charges the budget
    ],
)
async def test_an_outage_that_ends_is_waited_out(
    namespace: str, failures: dict[str, int | None]
) -> None:
    r = await rig(namespace)
    memory = FlakyMemory(failures)
    consumer = r.consumer(RULES, memory)
    await consumer.handle(r.delivery(event_message(*EVENT)))  # returns: the bus acks it
    [plan] = await r.plans()
    assert decode_plan(plan.message.body).rule == "survey"
    assert await r.dead() == []
    assert len(memory.failed) == sum(n or 0 for n in failures.values())
    assert len(r.sleeps) == len(memory.failed)  # one backoff per failed call
    assert all(0 < s <= 5 for s in r.sleeps)  # bounded
    assert await memory.get("once:survey:c1") == decode_plan(plan.message.body).id
    assert r.sample("texter_worker_rules_plans_total", {"rule": "survey"}) == 1


async def test_an_outage_that_lasts_leaves_the_event_unacked_and_not_dead(
    namespace: str,
) -> None:
    r = await rig(namespace)
    queue = r.topology.rules_queue(0)
    waited: list[float] = []
    stalled = asyncio.Event()

    async def sleep(seconds: float) -> None:
        waited.append(seconds)
        if len(waited) == 8:
            stalled.set()
            await asyncio.Future()  # still down: the test stops the consumer meanwhile

    consumer = r.consumer(RULES, FlakyMemory({"get": None}), sleep=sleep)
    await r.publish(event_message(*EVENT))
    running = await r.bus.consume(queue, consumer.handle)
    async with asyncio.timeout(5):
        await stalled.wait()
    assert await r.dead() == []
    assert await r.plans() == []
    await running.cancel()  # shutdown during the outage
    assert await r.bus.queue_depth(queue) == 1  # back in its queue, to be delivered again
    assert await r.dead() == []
    assert max(waited) <= 5
    assert r.sample("texter_worker_rules_dead_letters_total", {"reason": "rule_error"}) == 0


async def test_the_redis_backend_down_stalls_the_event_too(namespace: str) -> None:
    """The real backend, pointed at a port where no Redis listens: what it raises is retried."""
    r = await rig(namespace)
    queue = r.topology.rules_queue(0)
    stalled = asyncio.Event()

    async def sleep(seconds: float) -> None:
        stalled.set()
        await asyncio.Future()

    memory = RedisMemory(
        redis_client("redis://127.0.0.1:1/0"), prefix=f"{namespace}:", owns_client=True
    )
    try:
        consumer = r.consumer(RULES, memory, sleep=sleep)
        await r.publish(event_message(*EVENT))
        running = await r.bus.consume(queue, consumer.handle)
        async with asyncio.timeout(10):
            await stalled.wait()
        await running.cancel()
    finally:
        await memory.close()
    assert await r.bus.queue_depth(queue) == 1
    assert await r.dead() == []
