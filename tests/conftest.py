"""Shared fixtures: a real RabbitMQ when one is reachable, isolated namespaces, both transports.

Tests that need RabbitMQ skip with a loud reason when none is reachable, and fail instead when
REQUIRE_RABBITMQ=1 (CI sets it), so a missing broker can never turn CI green by skipping.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit

import pytest

from worker.bus import Bus, build_topology
from worker.bus.embedded import EmbeddedBus
from worker.bus.rabbitmq import RabbitBus
from worker.bus.topology import Topology

AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
REQUIRED = os.environ.get("REQUIRE_RABBITMQ") == "1"
_skipped_for_broker: list[str] = []


def _broker_reachable() -> str | None:
    """None when a TCP connection to the broker opens, else why not."""
    parts = urlsplit(AMQP_URL)
    try:
        with socket.create_connection((parts.hostname, parts.port or 5672), timeout=2):
            return None
    except OSError as exc:
        return f"RabbitMQ not reachable at {parts.hostname}:{parts.port or 5672} ({exc})"


@pytest.fixture(scope="session")
def amqp_url() -> str:
    problem = _broker_reachable()
    if problem is None:
        return AMQP_URL
    if REQUIRED:
        pytest.fail(f"REQUIRE_RABBITMQ=1 but {problem}", pytrace=False)
    pytest.skip(f"NO RABBITMQ: {problem}; start one or set TEST_AMQP_URL")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "amqp_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.rabbitmq)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and "NO RABBITMQ" in str(report.longrepr):
        _skipped_for_broker.append(report.nodeid)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _skipped_for_broker:
        terminalreporter.section("RABBITMQ TESTS SKIPPED", sep="!", red=True, bold=True)
        terminalreporter.write_line(
            f"{len(_skipped_for_broker)} tests needing RabbitMQ were SKIPPED: no broker at "
            f"{AMQP_URL}. They prove the production path; run them before trusting a change "
            "(REQUIRE_RABBITMQ=1 turns these skips into failures).",
            red=True,
        )


@pytest.fixture
def namespace() -> str:
    """A fresh bus namespace per test, so tests never see each other's queues."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def topology(namespace: str) -> Topology:
    return build_topology(namespace, shards=2, delivery_limit=2)


@pytest.fixture
async def rabbit_bus(amqp_url: str, topology: Topology) -> AsyncIterator[RabbitBus]:
    bus = await RabbitBus.connect(amqp_url, connect_timeout=5)
    await bus.declare(topology)
    try:
        yield bus
    finally:
        await bus.delete(topology)
        await bus.close()


@pytest.fixture
async def embedded_bus(topology: Topology) -> AsyncIterator[EmbeddedBus]:
    bus = EmbeddedBus()
    await bus.declare(topology)
    yield bus
    await bus.close()


@pytest.fixture(params=["embedded", "rabbitmq"])
def bus(request: pytest.FixtureRequest) -> Bus:
    """Each contract test runs once per transport."""
    name = "embedded_bus" if request.param == "embedded" else "rabbit_bus"
    transport: Bus = request.getfixturevalue(name)
    return transport


async def wait_for(predicate: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Poll until true, for state another process owns (the broker's queue counters).

    Bounded by `timeout`; never used where an event or a future can say "done" directly.
    """
    async with asyncio.timeout(timeout):
        while not await predicate():  # noqa: ASYNC110 - the state lives in another process
            await asyncio.sleep(0.01)
