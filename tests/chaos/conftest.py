"""Fixtures of the chaos tests: the fake Texter, the real broker (everything a test declared is
deleted after it), rabbitmqctl (to count unacked messages, and to stop/start the node), and the
ledger backend (SQLite under tmp_path, or Redis under the test's namespace, keys deleted after).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from simulator.server import FakeTexter
from tests.chaos.support import RABBITMQCTL, TOKEN, rabbitmqctl
from tests.conftest import SQLITE_OR_REDIS, wait_for
from worker.bus.rabbitmq import RabbitBus
from worker.bus.topology import Topology
from worker.state.redis_memory import redis_client


@pytest.fixture
async def fake() -> AsyncIterator[FakeTexter]:
    async with FakeTexter(token=TOKEN) as server:
        yield server


@dataclass
class Broker:
    bus: RabbitBus
    declared: list[Topology] = field(default_factory=list)

    async def declare(self, topology: Topology) -> Topology:
        await self.bus.declare(topology)
        self.declared.append(topology)
        return topology


@pytest.fixture
async def broker(amqp_url: str) -> AsyncIterator[Broker]:
    bus = await RabbitBus.connect(amqp_url, connect_timeout=10)
    b = Broker(bus)
    try:
        yield b
    finally:
        # After a broker restart (broker_control starts it again first) the connection takes
        # a moment to come back: deleting before it has would leave the queues behind.
        await wait_for(_connected(bus), 60)
        for topology in b.declared:
            await bus.delete(topology)
        await bus.close()


def _connected(bus: RabbitBus) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return bus.connected

    return check


def _local(amqp_url: str) -> bool:
    return "127.0.0.1" in amqp_url or "localhost" in amqp_url


@pytest.fixture
async def ctl(amqp_url: str) -> None:
    """rabbitmqctl on the broker's machine: the only way to see unacked messages."""
    if RABBITMQCTL is None or not _local(amqp_url):
        pytest.skip("NO RABBITMQ CONTROL: needs rabbitmqctl and a local broker")
    try:
        await rabbitmqctl("status", timeout=30)
    except (AssertionError, TimeoutError) as exc:
        pytest.skip(f"NO RABBITMQ CONTROL: rabbitmqctl status failed ({exc})")


@pytest.fixture
async def broker_control(ctl: None) -> AsyncIterator[None]:
    """The test may stop the node; whatever happens, it is running again afterwards."""
    yield
    await rabbitmqctl("start_app")
    await rabbitmqctl("await_startup")


@pytest.fixture(params=SQLITE_OR_REDIS)
async def ledger_env(
    request: pytest.FixtureRequest, namespace: str
) -> AsyncIterator[dict[str, str]]:
    """Extra worker environment choosing the send-once ledger: SQLite under STATE_DIR (the
    default), or Redis (STATE_URL) with keys under the namespace, deleted after the test."""
    if request.param == "sqlite":
        yield {}
        return
    url: str = request.getfixturevalue("redis_url")
    yield {"STATE_URL": url}
    client = redis_client(url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{namespace}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
