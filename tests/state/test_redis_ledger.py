"""RedisLedger beyond the contract: what it stores, expiry kept by done, the prefix, errors."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from tests.state.cases import LONG
from tests.state.test_redis_memory import _closed_port
from worker.errors import StateUnavailable
from worker.metrics import StateMetrics
from worker.state.ledger import ClaimResult, EntryState
from worker.state.redis_ledger import RedisLedger
from worker.state.redis_memory import redis_client


async def test_a_claim_expires_after_the_horizon_and_done_keeps_that_expiry(
    redis: Redis, redis_prefix: str
) -> None:
    ledger = RedisLedger(redis, prefix=redis_prefix, horizon=LONG)
    await ledger.claim("k")
    assert LONG * 1000 - 5000 < await redis.pttl(redis_prefix + "k") <= LONG * 1000
    await redis.pexpire(redis_prefix + "k", 5000)  # as if claimed long ago
    await ledger.done("k")
    assert await redis.get(redis_prefix + "k") == "done"
    assert 0 < await redis.pttl(redis_prefix + "k") <= 5000


async def test_a_claim_stored_by_another_attempt_is_in_doubt(
    redis: Redis, redis_prefix: str
) -> None:
    await redis.set(redis_prefix + "k", "claimed:another-replica", px=60_000)
    ledger = RedisLedger(redis, prefix=redis_prefix, horizon=LONG)
    assert await ledger.claim("k") is ClaimResult.IN_DOUBT
    assert await ledger.state("k") is EntryState.CLAIMED
    assert await ledger.release("k") is True


async def test_size_counts_only_its_own_prefix(redis: Redis, redis_prefix: str) -> None:
    ours = RedisLedger(redis, prefix=redis_prefix + "ledger:", horizon=LONG)
    await redis.set(redis_prefix + "mem:echo", "1", px=60_000)
    await redis.set(redis_prefix + "ledgerx", "1", px=60_000)
    for i in range(3):
        await ours.claim(f"p{i}")
    assert await ours.size() == 3


async def test_an_unreachable_redis_raises_state_unavailable_and_grants_nothing() -> None:
    metrics = StateMetrics.create(CollectorRegistry())
    client = redis_client(f"redis://127.0.0.1:{_closed_port()}/0")
    ledger = RedisLedger(client, prefix="x:", horizon=LONG, metrics=metrics, owns_client=True)
    for call in (ledger.claim("k"), ledger.done("k"), ledger.release("k"), ledger.size()):
        with pytest.raises(StateUnavailable):
            await call
    assert metrics.errors.labels("redis", "claim")._value.get() == 1
    assert metrics.errors.labels("redis", "size")._value.get() == 1
    assert metrics.ledger_claims.labels("claimed")._value.get() == 0
    await ledger.close()


def test_a_client_answering_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="decode_responses"):
        RedisLedger(Redis(), prefix="x:", horizon=LONG)
