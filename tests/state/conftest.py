"""Fixtures for the state backends: a real Redis when one is reachable, a fresh key prefix per
test (its keys deleted afterwards), and controllable clocks.

The `redis_url` fixture (skip loudly without Redis, fail with REQUIRE_REDIS=1) lives in the
root conftest, shared with other tests.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from worker.state.redis_memory import redis_client


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 1_762_767_012.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = redis_client(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def redis_prefix(redis: Redis) -> AsyncIterator[str]:
    """A key prefix no other test uses; every key under it is deleted after the test."""
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    yield prefix
    keys = [key async for key in redis.scan_iter(match=prefix + "*")]
    if keys:
        await redis.delete(*keys)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
