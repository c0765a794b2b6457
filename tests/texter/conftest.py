"""Fixtures: a running fake Texter on loopback and a client pointed at it.

The client's retry sleep is replaced by one that records the wait and returns at once, so
tests assert *what* the client would have waited without waiting.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry

from simulator.server import FakeTexter
from worker.metrics import TexterMetrics
from worker.texter import ClientOptions, RetryConfig, TexterClient, open_client

TOKEN = "test-token-0123456789"


class RecordingSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def fake() -> AsyncIterator[FakeTexter]:
    async with FakeTexter(token=TOKEN, seed=True) as server:
        yield server


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> TexterMetrics:
    return TexterMetrics.create(registry)


OPTIONS = ClientOptions(
    rate_limit=1000,
    rate_burst=1000,
    timeout=2.0,
    retry=RetryConfig(attempts=4, deadline=30.0, retry_after_max=60.0),
    breaker_threshold=5,
    breaker_cooldown=30.0,
)


@pytest.fixture
async def client(
    fake: FakeTexter, sleep: RecordingSleep, clock: FakeClock, metrics: TexterMetrics
) -> AsyncIterator[TexterClient]:
    async with open_client(
        fake.url, TOKEN, OPTIONS, metrics=metrics, sleep=sleep, clock=clock
    ) as texter:
        yield texter
