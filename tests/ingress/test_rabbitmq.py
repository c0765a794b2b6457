"""The ingress against the real RabbitMQ: what lands on the bus, and what happens when it fails.

The TCP proxy between the worker and the broker holds confirms or cuts the link; the broker
itself keeps running, so these tests are fast and deterministic.
"""

from __future__ import annotations

import asyncio
import gc
import json
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import pytest

from simulator.samples import webhook_body, webhook_names
from tests.conftest import wait_for
from tests.ingress.harness import SECRET, Ingress, make_settings, running_ingress
from tests.support.proxy import TcpProxy
from worker.bus import Delivery, Message, build_topology
from worker.bus.rabbitmq import RabbitBus
from worker.bus.topology import routing_key, shard_of
from worker.settings import Settings


@pytest.fixture
async def proxy(amqp_url: str) -> AsyncIterator[TcpProxy]:
    parts = urlsplit(amqp_url)
    p = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5672)
    await p.start()
    yield p
    await p.close()


def _via(amqp_url: str, proxy: TcpProxy) -> str:
    parts = urlsplit(amqp_url)
    return parts._replace(
        netloc=f"{parts.username}:{parts.password}@127.0.0.1:{proxy.port}"
    ).geturl()


@asynccontextmanager
async def _ingress(url: str, settings: Settings) -> AsyncIterator[Ingress]:
    bus = await RabbitBus.connect(url, connect_timeout=5)
    try:
        async with running_ingress(settings, bus) as ingress:
            yield ingress
            await bus.delete(ingress.topology)
    finally:
        await bus.close()


@pytest.fixture
async def rabbit_ingress(amqp_url: str, namespace: str) -> AsyncIterator[Ingress]:
    async with _ingress(amqp_url, make_settings(namespace)) as ingress:
        yield ingress


async def test_every_fixture_lands_once_on_its_shard_unchanged(rabbit_ingress: Ingress) -> None:
    ing = rabbit_ingress
    sent: dict[str, tuple[bytes, str]] = {}
    for name in webhook_names():
        body = webhook_body(name)
        reply = await ing.post(body)
        assert reply.status == 202, name
        data = json.loads(body)["eventData"]
        key = (data.get("chat") or data.get("problem"))["_id"]
        sent[reply.json["id"]] = (body, routing_key(shard_of(key, 2)))

    received = {}
    for queue in ing.topology.rules_queues:
        while (d := await ing.bus.get(queue)) is not None:
            assert d.message.message_id not in received, "published twice"
            received[d.message.message_id] = (d.message.body, d.message.routing_key)
            assert d.queue == ing.topology.rules_queue(int(d.message.routing_key.split(".")[1]))
    assert received == sent
    assert len(received) == 19


@pytest.mark.parametrize(
    ("body", "token", "status"),
    [
        (webhook_body("chatPending"), None, 401),
        (webhook_body("chatPending"), "wrong-wrong-wrong-wrong", 401),
        (b'{"eventName":"x","eventData":{"pad":"' + b"x" * 1_100_000 + b'"}}', "ok", 413),
        (b"not json", "ok", 400),
        (b'{"eventName":"x","eventData":[]}', "ok", 400),
    ],
)
async def test_rejected_requests_publish_nothing(
    rabbit_ingress: Ingress, body: bytes, token: str | None, status: int
) -> None:
    reply = await rabbit_ingress.post(body, token=SECRET if token == "ok" else token)
    assert reply.status == status
    assert await rabbit_ingress.stored() == 0


async def test_no_2xx_while_the_broker_confirm_is_held(
    amqp_url: str, namespace: str, proxy: TcpProxy
) -> None:
    settings = make_settings(namespace, publish_timeout=30)
    async with _ingress(_via(amqp_url, proxy), settings) as ing:
        proxy.hold()
        reply = asyncio.create_task(ing.post(webhook_body("chatAssigned")))
        await proxy.held.wait()  # the broker answered; its confirm waits in the proxy
        for _ in range(50):
            await asyncio.sleep(0)
        assert ing.metrics.ingress.in_flight._value.get() == 1
        assert not reply.done()
        proxy.release()
        assert (await reply).status == 202
        assert await ing.stored() == 1


async def test_confirm_not_arriving_in_time_is_503(
    amqp_url: str, namespace: str, proxy: TcpProxy
) -> None:
    settings = make_settings(namespace, publish_timeout=0.3)
    async with _ingress(_via(amqp_url, proxy), settings) as ing:
        proxy.hold()
        reply = await ing.post(webhook_body("chatAssigned"))
        assert reply.status == 503
        assert reply.headers["Retry-After"] == "5"
        proxy.release()


async def test_broker_gone_is_503_and_back_is_202_without_restart(
    amqp_url: str, namespace: str, proxy: TcpProxy
) -> None:
    async with _ingress(_via(amqp_url, proxy), make_settings(namespace)) as ing:
        assert (await ing.post(webhook_body("chatPending"))).status == 202
        await proxy.cut()

        async def not_ready() -> bool:
            return (await ing.get("/readyz"))[0] == 503

        await wait_for(not_ready)
        for _ in range(3):
            reply = await ing.post(webhook_body("chatResolved"))
            assert reply.status == 503
            assert reply.headers["Retry-After"] == "5"
        proxy.restore()

        async def ready() -> bool:
            return (await ing.get("/readyz"))[0] == 200

        await wait_for(ready, timeout=30)
        assert (await ing.post(webhook_body("chatResolved"))).status == 202
        assert await ing.stored() == 2


@pytest.mark.parametrize("caller_keeps_it", [True, False])
async def test_consumers_come_back_after_the_link_is_restored(
    amqp_url: str, namespace: str, proxy: TcpProxy, *, caller_keeps_it: bool
) -> None:
    """The robust channel re-consumes after a reconnect; `alive` says when it is not consuming.
    Without the caller's reference, and with garbage collected while the link is down, too:
    aio-pika keeps channels only weakly, so what keeps a consumer alive must be ours."""
    bus = await RabbitBus.connect(_via(amqp_url, proxy), connect_timeout=5)
    topology = build_topology(namespace, 2)
    got: list[str] = []
    arrived = asyncio.Event()

    async def handler(d: Delivery) -> None:
        got.append(d.message.message_id)
        arrived.set()

    try:
        await bus.declare(topology)
        kept = await bus.consume(topology.rules_queue(0), handler)
        held = weakref.ref(kept)
        if not caller_keeps_it:
            del kept
        gc.collect()
        await proxy.cut()
        gc.collect()

        async def down() -> bool:
            consumer = held()
            assert consumer is not None, "the bus let its consumer be garbage-collected"
            return not consumer.alive

        await wait_for(down)
        proxy.restore()
        gc.collect()

        async def up() -> bool:
            consumer = held()
            return consumer is not None and consumer.alive and bus.connected

        await wait_for(up, timeout=30)
        message = Message(body=b"{}", routing_key=routing_key(0), message_id="after")
        await bus.publish(topology.events_exchange, message, timeout=5)
        async with asyncio.timeout(10):
            await arrived.wait()
        assert got == ["after"]
        await bus.delete(topology)
    finally:
        await bus.close()
