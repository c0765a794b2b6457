"""Broker-made dead letters of a Plan that first waited on a delay tier, on the real RabbitMQ.

The delay tier dead-letters the Plan back to the commands exchange when its TTL ends (an
`expired` death the broker records in x-first-death-*). When a consumer of the writer queue
then fails on it, the dead letter must say why it died *there*, not `expired`.
"""

from __future__ import annotations

import pytest

from tests.dlq.support import CHAT, get_one, plan_delivery, wait_depth
from worker.bus import Bus, Delivery, Message, Requeue, Topology
from worker.bus.embedded import EmbeddedBus
from worker.bus.rabbitmq import RabbitBus
from worker.dlq import DeadLetterBox, Selection
from worker.plans import decode_plan

EXPECTED_ERROR = {
    "rejected": "a consumer of {queue} failed on it (unexpected error: see its logs)",
    "delivery_limit": "failed too many deliveries in {queue}",
}


async def _fail(delivery: Delivery, how: str) -> None:
    if how == "rejected":
        raise RuntimeError("the writer crashed on it")
    raise Requeue  # again and again, past the queue's delivery limit (2 in these tests)


async def _dies_after_a_delay(bus: Bus, topology: Topology, how: str) -> DeadLetterBox:
    """Publish an external producer's Plan (no type, no x-chat-id) to the first delay tier,
    and fail on it in the writer queue it comes back to; wait until it is a dead letter."""
    original = plan_delivery(topology).message
    external = Message(body=original.body, routing_key=original.routing_key, message_id="ext-1")
    await bus.publish(topology.delay_exchange(1), external, timeout=5)

    async def fail(delivery: Delivery) -> None:
        await _fail(delivery, how)

    shard = int(original.routing_key.rsplit(".", 1)[1])
    consumer = await bus.consume(topology.writer_queue(shard), fail)
    try:
        await wait_depth(bus, topology.dead_queue, 1)
    finally:
        await consumer.cancel()
    return DeadLetterBox(bus, topology, publish_timeout=5)


@pytest.mark.parametrize("how", ["rejected", "delivery_limit"])
async def test_the_dead_letter_gives_the_reason_of_the_last_death(
    rabbit_bus: RabbitBus, topology: Topology, how: str
) -> None:
    box = await _dies_after_a_delay(rabbit_bus, topology, how)
    (entry,) = (await box.list()).entries
    shard = int(entry.routing_key.rsplit(".", 1)[1])
    assert (entry.reason, entry.source) == (how, "broker")
    assert entry.error == EXPECTED_ERROR[how].format(queue=topology.writer_queue(shard))
    assert entry.exchange == topology.commands_exchange
    assert entry.chat == CHAT  # read from the Plan: it came without x-chat-id
    assert (await box.list(reason=how)).matching == 1

    # and it replays to the writer, as a fresh attempt
    await wait_depth(rabbit_bus, topology.dead_queue, 1)
    assert (await box.replay(Selection(ids=(entry.id,)))).replayed == (entry.id,)
    back = await get_one(rabbit_bus, topology.writer_queue(shard))
    assert decode_plan(back.message.body).attempt == 1


@pytest.mark.parametrize("how", ["rejected", "delivery_limit"])
async def test_the_embedded_bus_gives_the_reason_of_the_last_death(
    embedded_bus: EmbeddedBus, topology: Topology, how: str
) -> None:
    box = await _dies_after_a_delay(embedded_bus, topology, how)
    (entry,) = (await box.list()).entries
    assert entry.reason == how
