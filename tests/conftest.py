"""Shared fixtures: a real RabbitMQ when one is reachable, isolated namespaces, both transports.

Tests that need RabbitMQ skip with a loud reason when none is reachable, and fail instead when
REQUIRE_RABBITMQ=1 (CI sets it), so a missing broker can never turn CI green by skipping;
the same for Redis with REQUIRE_REDIS=1.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest

from worker.bus import Bus, build_topology
from worker.bus.embedded import EmbeddedBus
from worker.bus.rabbitmq import RabbitBus
from worker.bus.topology import Topology


@dataclass(frozen=True)
class External:
    """A real service some tests need: where it is, and what to say when it is not there."""

    name: str
    url: str
    default_port: int
    require_var: str
    fixture: str
    skipped: list[str] = field(default_factory=list)

    @property
    def tag(self) -> str:
        return f"NO {self.name.upper()}"

    def unreachable(self) -> str | None:
        """None when a TCP connection opens, else why not."""
        parts = urlsplit(self.url)
        where = (parts.hostname or "127.0.0.1", parts.port or self.default_port)
        try:
            with socket.create_connection(where, timeout=2):
                return None
        except OSError as exc:
            return f"{self.name} not reachable at {where[0]}:{where[1]} ({exc})"

    def url_or_skip(self) -> str:
        problem = self.unreachable()
        if problem is None:
            return self.url
        if os.environ.get(self.require_var) == "1":
            pytest.fail(f"{self.require_var}=1 but {problem}", pytrace=False)
        pytest.skip(f"{self.tag}: {problem}; start one or set TEST_{self.fixture.upper()}")


RABBITMQ = External(
    "RabbitMQ",
    os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
    5672,
    "REQUIRE_RABBITMQ",
    "amqp_url",
)
REDIS = External(
    "Redis",
    os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
    6379,
    "REQUIRE_REDIS",
    "redis_url",
)
EXTERNALS = (RABBITMQ, REDIS)
AMQP_URL = RABBITMQ.url


@pytest.fixture(scope="session")
def amqp_url() -> str:
    return RABBITMQ.url_or_skip()


@pytest.fixture(scope="session")
def redis_url() -> str:
    return REDIS.url_or_skip()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    markers = {"amqp_url": pytest.mark.rabbitmq, "redis_url": pytest.mark.redis}
    for item in items:
        for fixture, marker in markers.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(marker)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for ext in EXTERNALS:
        if report.skipped and ext.tag in str(report.longrepr):
            ext.skipped.append(report.nodeid)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for ext in EXTERNALS:
        if not ext.skipped:
            continue
        terminalreporter.section(f"{ext.name.upper()} TESTS SKIPPED", sep="!", red=True, bold=True)
        terminalreporter.write_line(
            f"{len(ext.skipped)} tests needing {ext.name} were SKIPPED: none at {ext.url}. "
            f"They prove the production path; run them before trusting a change "
            f"({ext.require_var}=1 turns these skips into failures).",
            red=True,
        )


@pytest.fixture
def namespace() -> str:
    """A fresh bus namespace per test, so tests never see each other's queues."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def topology(namespace: str) -> Topology:
    return build_topology(namespace, shards=2, delivery_limit=2, delays=(0.05, 0.2))


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


# Parameters that reach a service through request.getfixturevalue() carry its marker
# themselves: the collection hook below only sees fixtures a test names directly.
EMBEDDED_OR_RABBITMQ = ["embedded", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)]
SQLITE_OR_REDIS = ["sqlite", pytest.param("redis", marks=pytest.mark.redis)]


@pytest.fixture(params=EMBEDDED_OR_RABBITMQ)
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
