"""The send-once ledger contract, run against SQLite and Redis: what the writer relies on to send
each message once (claim before, done after, release when nothing happened)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from tests.state.cases import LONG, SHORT, Elapse
from tests.state.conftest import FakeClock
from worker.metrics import StateMetrics
from worker.state.ledger import ClaimResult, EntryState, SendLedger, resolve
from worker.state.redis_ledger import RedisLedger
from worker.state.sqlite_ledger import SQLiteLedger

CLAIMED, DONE, IN_DOUBT = ClaimResult.CLAIMED, ClaimResult.DONE, ClaimResult.IN_DOUBT
Opener = Callable[..., Awaitable[SendLedger]]


@dataclass
class LedgerCase:
    open: Opener  # open(horizon=..., metrics=...) -> a ledger, closed after the test
    elapse: Elapse


@pytest.fixture
async def sqlite_case(tmp_path: Path, clock: FakeClock) -> AsyncIterator[LedgerCase]:
    opened: list[SendLedger] = []

    async def open_(horizon: float = LONG, metrics: StateMetrics | None = None) -> SendLedger:
        ledger = await SQLiteLedger.open(tmp_path, horizon=horizon, clock=clock, metrics=metrics)
        opened.append(ledger)
        return ledger

    yield LedgerCase(open_, Elapse(clock))
    for ledger in opened:
        await ledger.close()


@pytest.fixture
def redis_case(redis: Redis, redis_prefix: str) -> LedgerCase:
    async def open_(horizon: float = LONG, metrics: StateMetrics | None = None) -> SendLedger:
        return RedisLedger(redis, prefix=redis_prefix, horizon=horizon, metrics=metrics)

    return LedgerCase(open_, Elapse(None))


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def case(request: pytest.FixtureRequest) -> LedgerCase:
    """Each contract test runs once per backend."""
    chosen: LedgerCase = request.getfixturevalue(f"{request.param}_case")
    return chosen


@pytest.fixture
async def ledger(case: LedgerCase) -> SendLedger:
    return await case.open()


async def test_a_free_key_is_claimed(ledger: SendLedger) -> None:
    assert await ledger.state("p1:0") is None
    assert await ledger.claim("p1:0") is CLAIMED
    assert await ledger.state("p1:0") is EntryState.CLAIMED


async def test_a_claim_never_marked_done_is_in_doubt(ledger: SendLedger) -> None:
    await ledger.claim("p1:0")
    assert await ledger.claim("p1:0") is IN_DOUBT
    assert await ledger.claim("p1:0") is IN_DOUBT  # and stays so: asking changes nothing
    assert await ledger.state("p1:0") is EntryState.CLAIMED


async def test_a_done_key_is_done_for_every_later_claim(ledger: SendLedger) -> None:
    await ledger.claim("p1:0")
    await ledger.done("p1:0")
    assert await ledger.state("p1:0") is EntryState.DONE
    assert await ledger.claim("p1:0") is DONE
    assert await ledger.claim("p1:0") is DONE


async def test_a_released_claim_can_be_claimed_again(ledger: SendLedger) -> None:
    await ledger.claim("p1:0")
    assert await ledger.release("p1:0") is True
    assert await ledger.state("p1:0") is None
    assert await ledger.claim("p1:0") is CLAIMED


async def test_release_never_forgets_a_send(ledger: SendLedger) -> None:
    await ledger.claim("p1:0")
    await ledger.done("p1:0")
    assert await ledger.release("p1:0") is False
    assert await ledger.claim("p1:0") is DONE


async def test_release_of_an_unknown_key_does_nothing(ledger: SendLedger) -> None:
    assert await ledger.release("never-claimed") is False
    assert await ledger.state("never-claimed") is None


async def test_done_without_a_live_claim_still_records_the_send(ledger: SendLedger) -> None:
    await ledger.done("p1:0")
    assert await ledger.claim("p1:0") is DONE


async def test_keys_are_independent(ledger: SendLedger) -> None:
    await ledger.claim("p1:0")
    await ledger.done("p1:0")
    assert await ledger.claim("p1:1") is CLAIMED
    assert await ledger.claim("p2:0") is CLAIMED


async def test_concurrent_claims_grant_the_key_once(ledger: SendLedger) -> None:
    results = await asyncio.gather(*(ledger.claim("p1:0") for _ in range(20)))
    assert results.count(CLAIMED) == 1
    assert results.count(IN_DOUBT) == 19


async def test_two_ledgers_on_one_store_grant_the_key_once(case: LedgerCase) -> None:
    """Two replicas (Redis) or two processes on one file (SQLite) race for one key."""
    first, second = await case.open(), await case.open()
    results = await asyncio.gather(
        *(ledger.claim(f"k{i}") for i in range(10) for ledger in (first, second))
    )
    assert results.count(CLAIMED) == 10
    assert results.count(IN_DOUBT) == 10


async def test_entries_expire_after_the_horizon(case: LedgerCase) -> None:
    ledger = await case.open(horizon=SHORT)
    await ledger.claim("claimed")
    await ledger.claim("sent")
    await ledger.done("sent")

    async def forgotten() -> bool:
        return await ledger.state("claimed") is None and await ledger.state("sent") is None

    await case.elapse(SHORT, forgotten)
    assert await ledger.claim("sent") is CLAIMED  # a replay past the horizon may send again
    assert await ledger.release("claimed") is False


async def test_size_counts_live_entries_and_purge_drops_expired_ones(case: LedgerCase) -> None:
    ledger = await case.open(horizon=SHORT)
    for key in ("a", "b", "c"):
        await ledger.claim(key)
    await ledger.done("a")
    assert await ledger.size() == 3

    async def empty() -> bool:
        await ledger.purge_expired()
        return await ledger.size() == 0

    await case.elapse(SHORT, empty)
    assert await ledger.purge_expired() == 0  # nothing left to drop


async def test_resolve_records_what_an_operator_found(ledger: SendLedger) -> None:
    await ledger.claim("sent-by-hand-check")
    await ledger.claim("not-sent")
    await ledger.claim("already-done")
    await ledger.done("already-done")

    assert await resolve(ledger, "sent-by-hand-check", sent=True) is EntryState.DONE
    assert await resolve(ledger, "not-sent", sent=False) is None
    assert await ledger.claim("not-sent") is CLAIMED
    assert await resolve(ledger, "already-done", sent=False) is EntryState.DONE


async def test_claims_are_counted_by_result(case: LedgerCase) -> None:
    metrics = StateMetrics.create(CollectorRegistry())
    ledger = await case.open(metrics=metrics)
    await ledger.claim("a")
    await ledger.claim("a")
    await ledger.claim("b")
    await ledger.done("b")
    await ledger.claim("b")
    await ledger.claim("b")

    def count(result: str) -> float:
        return float(metrics.ledger_claims.labels(result)._value.get())

    assert (count("claimed"), count("in_doubt"), count("done")) == (2, 1, 2)
