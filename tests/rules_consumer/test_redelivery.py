"""A redelivered event builds the same Plans, byte for byte, however much later it is evaluated:
`now` is the event's receive time (`x-received-at-ms`), not the consumer's clock."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import pytest

from consumers.rules.consumer import RulesConsumer
from tests.rules_consumer.rig import RECEIVED_MS, event_message, rig
from worker.bus import Delivery
from worker.plans import decode_plan

# Both rules depend on the time: one in its content, one in its condition (12:00 UTC matches;
# the consumer's clock moved 8 hours on, 20:00, would not).
RULES = """
rules:
  - name: vip
    on: chatLabelsUpdated
    do:
      - update_crm: {data: {vip: true, vipSince: "{{ now_iso }}"}}
  - name: day-shift
    on: chatLabelsUpdated
    if: now.hour >= 9 and now.hour < 17
    do:
      - send_message: {text: "Seen at {{ now_ms }}"}
"""
EIGHT_HOURS = 8 * 3600
LABELS = {"addedLabels": ["vip"], "removedLabels": []}


def _bodies(deliveries: list[Delivery]) -> dict[str, bytes]:
    return {d.message.message_id: d.message.body for d in deliveries}


async def test_a_redelivery_evaluated_hours_later_builds_identical_plans(namespace: str) -> None:
    r = await rig(namespace)
    consumer = r.consumer(RULES)
    message = event_message("chatLabelsUpdated", "c1", "chatLabelsUpdated:c1:t1", LABELS)
    await consumer.handle(r.delivery(message))
    first = await r.plans()
    r.clock.now += EIGHT_HOURS
    await consumer.handle(r.delivery(message, redelivered=True))
    again = await r.plans()
    assert len(first) == 2
    assert _bodies(again) == _bodies(first)
    [crm] = [decode_plan(d.message.body) for d in first if d.message.headers["x-rule"] == "vip"]
    assert crm.steps[0].data["vipSince"] == "2025-11-10T12:00:00Z"  # type: ignore[union-attr]


@pytest.mark.parametrize("received", [None, "yesterday", True, 0, -5, 10**20])
async def test_without_a_usable_receive_time_the_consumer_clock_is_used(
    namespace: str, received: object
) -> None:
    """A foreign publisher (or a replayed dead letter) may carry no usable `x-received-at-ms`."""
    r = await rig(namespace)
    consumer = r.consumer(RULES)
    r.clock.now = RECEIVED_MS / 1000 + EIGHT_HOURS + 1  # 20:00:01 UTC: day-shift does not match
    message = event_message("chatLabelsUpdated", "c1", "k", LABELS, received_ms=None)
    if received is not None:
        message = replace(message, headers={**message.headers, "x-received-at-ms": received})
    await consumer.handle(r.delivery(message))
    [plan] = await r.plans()
    assert json.loads(plan.message.body)["steps"][0]["data"]["vipSince"] == "2025-11-10T20:00:01Z"


async def test_a_crash_between_publish_and_ack_then_a_redelivery_builds_identical_plans(
    namespace: str,
) -> None:
    """The first process publishes the Plans and dies before the ack; the broker delivers the
    event again to a new process, whose clock is hours later."""
    r = await rig(namespace)
    queue = r.topology.rules_queue(0)
    published = asyncio.Event()

    async def then_crash(consumer: RulesConsumer, delivery: Delivery) -> None:
        await consumer.handle(delivery)  # Plans published and confirmed
        published.set()
        await asyncio.Future()  # never acked: the process dies here

    first_process = r.consumer(RULES)
    message = event_message("chatLabelsUpdated", "c1", "chatLabelsUpdated:c1:t1", LABELS)
    await r.publish(message)
    running = await r.bus.consume(queue, lambda d: then_crash(first_process, d))
    async with asyncio.timeout(5):
        await published.wait()
    await running.cancel()  # the crash: the unacked event goes back to its queue
    assert await r.bus.queue_depth(queue) == 1
    first = await r.plans()

    r.clock.now += EIGHT_HOURS
    second_process = r.consumer(RULES)  # fresh memory, as after a restart without STATE_URL
    redelivered: list[Delivery] = []
    done = asyncio.Event()

    async def handle(delivery: Delivery) -> None:
        redelivered.append(delivery)
        await second_process.handle(delivery)
        done.set()

    running = await r.bus.consume(queue, handle)
    async with asyncio.timeout(5):
        await done.wait()
    await running.cancel()
    # the same message again (the embedded bus does not flag it `redelivered`; RabbitMQ does)
    assert [d.message for d in redelivered] == [message]
    again = await r.plans()
    assert len(first) == 2
    assert _bodies(again) == _bodies(first)
    assert await r.dead() == []
