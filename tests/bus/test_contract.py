"""The bus contract, run against both transports: what producers and consumers rely on."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import wait_for
from worker.bus import Bus, Delivery, Message, Requeue
from worker.bus.topology import Topology, routing_key
from worker.errors import Unroutable


def _msg(n: int, shard: int = 0, **headers: str) -> Message:
    return Message(
        body=f'{{"eventName":"x","n":{n},"text":"שלום"}}'.encode(),
        routing_key=routing_key(shard),
        message_id=f"id-{n}",
        type="x",
        headers={"x-chat-id": "c1", **headers},
        timestamp=1_762_767_012.0,
    )


async def _collect(bus: Bus, queue: str, n: int, fail: set[int] | None = None) -> list[Delivery]:
    """Consume until n deliveries were handled; handler raises for message numbers in `fail`."""
    seen: list[Delivery] = []
    done = asyncio.Event()

    async def handler(d: Delivery) -> None:
        seen.append(d)
        if len(seen) >= n:
            done.set()
        if fail and int(d.message.message_id.split("-")[1]) in fail:
            raise ValueError("handler failed")

    consumer = await bus.consume(queue, handler)
    async with asyncio.timeout(10):
        await done.wait()
    await consumer.cancel()
    return seen


async def test_publish_routes_to_the_shard_queue_unchanged(bus: Bus, topology: Topology) -> None:
    sent = _msg(1, shard=1)
    await bus.publish(topology.events_exchange, sent, timeout=5)

    assert await bus.get(topology.rules_queue(0)) is None
    got = await bus.get(topology.rules_queue(1))
    assert got is not None
    assert got.message.body == sent.body
    assert got.message.message_id == "id-1"
    assert got.message.type == "x"
    assert got.message.headers["x-chat-id"] == "c1"
    assert got.message.timestamp == sent.timestamp
    assert got.exchange == topology.events_exchange
    assert not got.redelivered


async def test_unroutable_key_raises(bus: Bus, topology: Topology) -> None:
    bad = Message(body=b"{}", routing_key="shard.99", message_id="m")
    with pytest.raises(Unroutable):
        await bus.publish(topology.events_exchange, bad, timeout=5)


async def test_missing_exchange_raises_unroutable(bus: Bus, topology: Topology) -> None:
    with pytest.raises(Unroutable):
        await bus.publish(f"{topology.namespace}.nope", _msg(1), timeout=5)


async def test_consumer_gets_messages_in_order_and_acks(bus: Bus, topology: Topology) -> None:
    for n in range(20):
        await bus.publish(topology.events_exchange, _msg(n), timeout=5)
    seen = await _collect(bus, topology.rules_queue(0), 20)
    assert [d.message.message_id for d in seen] == [f"id-{n}" for n in range(20)]
    assert await bus.queue_depth(topology.rules_queue(0)) == 0
    assert await bus.get(topology.rules_queue(0)) is None


async def test_rejected_message_is_dead_lettered(bus: Bus, topology: Topology) -> None:
    for n in range(3):
        await bus.publish(topology.events_exchange, _msg(n), timeout=5)
    await _collect(bus, topology.rules_queue(0), 3, fail={1})

    async def dead_arrived() -> bool:
        return await bus.queue_depth(topology.dead_queue) == 1

    await wait_for(dead_arrived)
    dead = await bus.get(topology.dead_queue)
    assert dead is not None
    assert dead.message.message_id == "id-1"
    assert dead.message.body == _msg(1).body
    assert dead.death_reason == "rejected"
    assert dead.message.headers["x-first-death-queue"] == topology.rules_queue(0)


async def test_requeue_redelivers_then_delivery_limit_dead_letters(
    bus: Bus, topology: Topology
) -> None:
    """The fixture topology allows 2 unsuccessful deliveries; the 3rd requeue dead-letters."""
    await bus.publish(topology.events_exchange, _msg(7), timeout=5)
    seen: list[Delivery] = []

    async def always_requeue(d: Delivery) -> None:
        seen.append(d)
        raise Requeue

    consumer = await bus.consume(topology.rules_queue(0), always_requeue)

    async def dead_arrived() -> bool:
        return await bus.queue_depth(topology.dead_queue) == 1

    await wait_for(dead_arrived)
    await consumer.cancel()
    assert [d.redelivered for d in seen] == [False, True, True]
    assert [d.delivery_count for d in seen] == [0, 1, 2]
    dead = await bus.get(topology.dead_queue)
    assert dead is not None
    assert dead.death_reason == "delivery_limit"


async def test_single_active_consumer_gets_everything(bus: Bus, topology: Topology) -> None:
    """Two consumers on one shard queue: only the first receives, so per-chat order holds."""
    first: list[str] = []
    second: list[str] = []
    done = asyncio.Event()

    async def one(d: Delivery) -> None:
        first.append(d.message.message_id)
        if len(first) == 10:
            done.set()

    async def two(d: Delivery) -> None:
        second.append(d.message.message_id)

    c1 = await bus.consume(topology.rules_queue(0), one)
    c2 = await bus.consume(topology.rules_queue(0), two)
    for n in range(10):
        await bus.publish(topology.events_exchange, _msg(n), timeout=5)
    async with asyncio.timeout(10):
        await done.wait()
    await c1.cancel()
    await c2.cancel()
    assert first == [f"id-{n}" for n in range(10)]
    assert second == []


async def test_cancelled_consumer_leaves_unsettled_message_in_queue(
    bus: Bus, topology: Topology
) -> None:
    started = asyncio.Event()

    async def stuck(d: Delivery) -> None:
        started.set()
        await asyncio.Event().wait()  # never finishes: shutdown interrupts it

    await bus.publish(topology.events_exchange, _msg(1), timeout=5)
    consumer = await bus.consume(topology.rules_queue(0), stuck)
    async with asyncio.timeout(10):
        await started.wait()
    await consumer.cancel()

    async def back_in_queue() -> bool:
        return await bus.queue_depth(topology.rules_queue(0)) == 1

    await wait_for(back_in_queue)
    again = await bus.get(topology.rules_queue(0))
    assert again is not None
    assert again.message.message_id == "id-1"


async def test_cancel_with_grace_lets_the_current_handler_finish(
    bus: Bus, topology: Topology
) -> None:
    started, finish = asyncio.Event(), asyncio.Event()
    handled: list[str] = []

    async def slow(d: Delivery) -> None:
        started.set()
        await finish.wait()
        handled.append(d.message.message_id)

    for n in range(3):
        await bus.publish(topology.events_exchange, _msg(n), timeout=5)
    consumer = await bus.consume(topology.rules_queue(0), slow)
    async with asyncio.timeout(10):
        await started.wait()
    stopping = asyncio.create_task(consumer.cancel(grace=10))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not stopping.done()  # waiting for the handler in progress
    finish.set()
    await stopping
    assert handled == ["id-0"]  # finished and acked; the others were never started

    async def two_left() -> bool:
        return await bus.queue_depth(topology.rules_queue(0)) == 2

    await wait_for(two_left)
    left = [await bus.get(topology.rules_queue(0)) for _ in range(2)]
    assert [d.message.message_id for d in left if d] == ["id-1", "id-2"]


async def test_delay_tier_returns_the_message_to_its_writer_shard(
    bus: Bus, topology: Topology
) -> None:
    """A Plan parked on a delay tier comes back, after the TTL, to the writer queue of its
    shard (the routing key survives the round trip)."""
    parked = Message(body=b'{"plan":1}', routing_key=routing_key(1), message_id="plan-1")
    await bus.publish(topology.delay_exchange(1), parked, timeout=5)
    assert await bus.queue_depth(topology.writer_queue(1)) == 0  # still waiting

    async def back() -> bool:
        return await bus.queue_depth(topology.writer_queue(1)) == 1

    await wait_for(back)
    got = await bus.get(topology.writer_queue(1))
    assert got is not None
    assert (got.message.body, got.message.message_id) == (b'{"plan":1}', "plan-1")
    assert await bus.queue_depth(topology.writer_queue(0)) == 0


async def test_browse_leaves_messages_and_take_removes_only_the_wanted(
    bus: Bus, topology: Topology
) -> None:
    for n in range(5):
        await bus.publish(topology.dead_exchange, _msg(n), timeout=5)

    async def five() -> bool:
        return await bus.queue_depth(topology.dead_queue) == 5

    await wait_for(five)
    seen = await bus.browse(topology.dead_queue, limit=3)
    assert len(seen) == 3
    await wait_for(five)  # browsing took nothing
    everything = await bus.browse(topology.dead_queue)
    assert sorted(d.message.message_id for d in everything) == [f"id-{n}" for n in range(5)]

    taken = await bus.take(topology.dead_queue, lambda d: d.message.message_id in {"id-1", "id-3"})
    assert sorted(d.message.message_id for d in taken) == ["id-1", "id-3"]

    async def three() -> bool:
        return await bus.queue_depth(topology.dead_queue) == 3

    await wait_for(three)
    left = await bus.browse(topology.dead_queue)
    assert sorted(d.message.message_id for d in left) == ["id-0", "id-2", "id-4"]


async def test_a_missing_queue_is_a_bus_error_on_every_operation(bus: Bus) -> None:
    """Tooling (dlq, benchmarks) gets a BusError it can report, never a KeyError or a raw
    library error, whichever transport it talks to."""

    async def handler(d: Delivery) -> None:
        raise AssertionError("nothing to consume")

    missing = "test-no-such-queue"
    with pytest.raises(Unroutable):
        await bus.queue_depth(missing)
    with pytest.raises(Unroutable):
        await bus.browse(missing)
    with pytest.raises(Unroutable):
        await bus.take(missing, lambda d: True)
    with pytest.raises(Unroutable):
        await bus.consume(missing, handler)


async def test_a_delivery_unsettled_at_cancel_comes_back_as_a_redelivery(
    bus: Bus, topology: Topology
) -> None:
    """A consumer stopped mid-handler (shutdown, crash) leaves the message to the next one,
    marked redelivered and counted: handlers may rely on that to detect a second attempt."""
    started, never = asyncio.Event(), asyncio.Event()

    async def stuck(d: Delivery) -> None:
        started.set()
        await never.wait()

    await bus.publish(topology.events_exchange, _msg(1), timeout=5)
    first = await bus.consume(topology.rules_queue(0), stuck)
    async with asyncio.timeout(10):
        await started.wait()
    await first.cancel()

    seen = await _collect(bus, topology.rules_queue(0), 1)
    assert [(d.redelivered, d.delivery_count) for d in seen] == [(True, 1)]
