"""Fixtures of the writer tests: the fake Texter, a bare bus on each transport (the writer
declares its own topology), and the writer role running on them (`w`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from simulator.server import FakeTexter
from tests.conftest import EMBEDDED_OR_RABBITMQ
from tests.writer.harness import DELAYS, TOKEN, Writer, writer
from worker.bus import Bus, build_topology
from worker.bus.embedded import EmbeddedBus
from worker.bus.rabbitmq import RabbitBus


@pytest.fixture
async def fake() -> AsyncIterator[FakeTexter]:
    async with FakeTexter(token=TOKEN, seed=True) as server:
        yield server


@pytest.fixture(params=EMBEDDED_OR_RABBITMQ)
async def bus(request: pytest.FixtureRequest, namespace: str) -> AsyncIterator[Bus]:
    """A bus with nothing declared yet: the service declares its own topology."""
    if request.param == "embedded":
        yield EmbeddedBus()
        return
    rabbit = await RabbitBus.connect(request.getfixturevalue("amqp_url"), connect_timeout=5)
    yield rabbit
    await rabbit.delete(build_topology(namespace, 2, delays=DELAYS))
    await rabbit.close()


@pytest.fixture
async def w(namespace: str, bus: Bus, fake: FakeTexter, tmp_path: Path) -> AsyncIterator[Writer]:
    async with writer(namespace, bus, fake, tmp_path) as running:
        yield running
