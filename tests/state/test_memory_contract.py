"""The SharedMemory contract, run against LocalMemory and RedisMemory: what the rules rely on
for echoes (put/get), once_per_chat (claim) and the per-chat budget (incr)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from tests.state.cases import LONG, SHORT, Elapse
from tests.state.conftest import FakeClock
from worker.state.memory import LocalMemory, SharedMemory
from worker.state.redis_memory import RedisMemory


@dataclass
class MemoryCase:
    memory: SharedMemory
    elapse: Elapse


@pytest.fixture
async def local_case(clock: FakeClock) -> AsyncIterator[MemoryCase]:
    memory = LocalMemory(clock=clock)
    yield MemoryCase(memory, Elapse(clock))
    await memory.close()


@pytest.fixture
async def redis_case(redis: Redis, redis_prefix: str) -> AsyncIterator[MemoryCase]:
    memory = RedisMemory(redis, prefix=redis_prefix)
    yield MemoryCase(memory, Elapse(None))
    await memory.close()


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
def case(request: pytest.FixtureRequest) -> MemoryCase:
    """Each contract test runs once per backend."""
    chosen: MemoryCase = request.getfixturevalue(f"{request.param}_case")
    return chosen


async def test_claim_stores_a_free_key_and_returns_its_value(case: MemoryCase) -> None:
    assert await case.memory.claim("once:r:c1", "evt-1", LONG) == "evt-1"
    assert await case.memory.get("once:r:c1") == "evt-1"


async def test_claim_keeps_the_older_value(case: MemoryCase) -> None:
    await case.memory.claim("once:r:c1", "evt-1", LONG)
    assert await case.memory.claim("once:r:c1", "evt-2", LONG) == "evt-1"
    assert await case.memory.get("once:r:c1") == "evt-1"


async def test_claim_with_the_value_held_returns_it(case: MemoryCase) -> None:
    """What a claim retried after a lost reply sees: its own value, not someone else's."""
    await case.memory.claim("k", "mine", LONG)
    assert await case.memory.claim("k", "mine", LONG) == "mine"


async def test_concurrent_claims_agree_on_one_winner(case: MemoryCase) -> None:
    held = await asyncio.gather(*(case.memory.claim("k", f"v{i}", LONG) for i in range(20)))
    assert len(set(held)) == 1
    assert await case.memory.get("k") == held[0]


async def test_claim_of_an_expired_key_stores_the_new_value(case: MemoryCase) -> None:
    await case.memory.claim("k", "old", SHORT)

    async def reclaimed() -> bool:
        return await case.memory.claim("k", "new", LONG) == "new"

    await case.elapse(SHORT, reclaimed)
    assert await case.memory.get("k") == "new"


async def test_get_of_a_missing_key_is_none(case: MemoryCase) -> None:
    assert await case.memory.get("nothing-here") is None


async def test_put_replaces_and_expires(case: MemoryCase) -> None:
    await case.memory.put("echo:c1:assign", "1", LONG)
    await case.memory.put("echo:c1:assign", "2", SHORT)
    assert await case.memory.get("echo:c1:assign") == "2"

    async def gone() -> bool:
        return await case.memory.get("echo:c1:assign") is None

    await case.elapse(SHORT, gone)


async def test_incr_counts_per_key(case: MemoryCase) -> None:
    assert await case.memory.incr("budget:c1:1", 1, LONG) == 1
    assert await case.memory.incr("budget:c1:1", 3, LONG) == 4
    assert await case.memory.incr("budget:c2:1", 2, LONG) == 2
    assert await case.memory.incr("budget:c1:1", -1, LONG) == 3


async def test_concurrent_increments_are_all_counted(case: MemoryCase) -> None:
    await asyncio.gather(*(case.memory.incr("n", 1, LONG) for _ in range(50)))
    assert await case.memory.incr("n", 0, LONG) == 50


async def test_incr_window_starts_at_creation_and_later_increments_do_not_extend_it(
    case: MemoryCase,
) -> None:
    await case.memory.incr("budget:c1", 5, SHORT)
    await case.memory.incr("budget:c1", 5, LONG)  # a later TTL must not move the expiry

    async def restarted() -> bool:
        return await case.memory.incr("budget:c1", 1, LONG) == 1

    await case.elapse(SHORT, restarted)


async def test_values_keep_unicode(case: MemoryCase) -> None:
    await case.memory.put("k", "שלום 👋", LONG)
    assert await case.memory.get("k") == "שלום 👋"
