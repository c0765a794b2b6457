"""Dead letters as the consumers make them, for the dlq tests."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.conftest import wait_for
from worker.bus import Bus, Delivery, Message, shard_of
from worker.bus.topology import Topology, routing_key
from worker.deadletters import Why, dead_letter_message
from worker.plans import Labels, Plan, SendMessage, encode_plan

DIED_AT = 1_762_767_012.0  # when the seeded dead letters died (epoch seconds)
CHAT = "972500000001"


def plan(attempt: int = 3) -> Plan:
    return Plan(
        id="plan-1",
        chat_id=CHAT,
        source="rules",
        rule="welcome",
        steps=[
            SendMessage(idempotency_key="plan-1:0", type="text", text="hello"),
            Labels(idempotency_key="plan-1:1", add=["vip"]),
        ],
        attempt=attempt,
        not_before=datetime(2030, 1, 1, tzinfo=UTC),
    )


def plan_delivery(topology: Topology) -> Delivery:
    """A Plan as the writer received it (what it dead-letters)."""
    p = plan()
    message = Message(
        body=encode_plan(p),
        routing_key=routing_key(shard_of(CHAT, topology.shards)),
        message_id=f"{p.id}:a{p.attempt}",
        type="plan",
        headers={"x-chat-id": CHAT, "x-rule": "welcome", "x-received-at-ms": 1},
        timestamp=DIED_AT - 60,
    )
    return Delivery(message, topology.writer_queue(0), topology.commands_exchange)


def event_delivery(topology: Topology, n: int = 1, exchange: str | None = None) -> Delivery:
    """A webhook event as the rules consumer received it."""
    body = f'{{"eventName":"chatPending","data":{{"n":{n}}}}}'.encode()
    message = Message(
        body=body,
        routing_key=routing_key(shard_of(f"chat-{n}", topology.shards)),
        message_id=f"event-{n}",
        type="chatPending",
        headers={"x-chat-id": f"chat-{n}", "x-ingress-version": "0.1.0"},
        timestamp=DIED_AT - 60,
    )
    return Delivery(message, topology.rules_queue(0), exchange or topology.events_exchange)


async def seed(
    bus: Bus, topology: Topology, delivery: Delivery, why: Why, *, at: float = DIED_AT
) -> None:
    """Dead-letter `delivery` as a consumer would, and wait until the queue shows it."""
    before = await bus.queue_depth(topology.dead_queue)
    await bus.publish(topology.dead_exchange, dead_letter_message(delivery, why, now=at), timeout=5)
    await wait_depth(bus, topology.dead_queue, before + 1)


async def wait_depth(bus: Bus, queue: str, n: int) -> None:
    """Until the broker counts `n` messages ready in `queue`.

    Also the way to start a box operation on a settled queue: on RabbitMQ the messages a browse
    (or take) hands back are counted as ready again a moment later, and a sweep started in that
    moment sees the queue short. Tests wait for the count they expect before each operation."""

    async def reached() -> bool:
        return await bus.queue_depth(queue) == n

    await wait_for(reached)


async def get_one(bus: Bus, queue: str) -> Delivery:
    """The one message a replay put in `queue`."""
    await wait_depth(bus, queue, 1)
    got = await bus.get(queue)
    assert got is not None
    return got


IN_DOUBT = Why("in_doubt", "timeout after the send left", "writer", "welcome", 0, 3, "plan-1:0")
PERMANENT = Why("permanent", "HTTP 400: label vip does not exist", "writer", "welcome", 1, 3)
POISON = Why("poison", "not JSON", "rules")
