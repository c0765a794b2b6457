"""The ledger housekeeping loop: purges, sets the entries gauge, outlives backend failures."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from tests.state.conftest import FakeClock
from worker.errors import StateUnavailable
from worker.metrics import StateMetrics
from worker.state.ledger import ClaimResult, EntryState, housekeeping
from worker.state.sqlite_ledger import SQLiteLedger


class Stop(Exception):
    """Raised by the fake sleep to end the endless loop after some rounds."""


class Rounds:
    """A sleep that lets `n` rounds run, recording the waits, then stops the loop."""

    def __init__(self, n: int) -> None:
        self.left = n
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.left -= 1
        if self.left == 0:
            raise Stop


async def test_each_round_purges_and_sets_the_entries_gauge(
    tmp_path: Path, clock: FakeClock
) -> None:
    metrics = StateMetrics.create(CollectorRegistry())
    ledger = await SQLiteLedger.open(tmp_path, horizon=60, clock=clock)
    await ledger.claim("old")
    clock.advance(60)
    await ledger.claim("new-1")
    await ledger.claim("new-2")
    sleep = Rounds(1)
    with pytest.raises(Stop):
        await housekeeping(ledger, metrics, every=30, sleep=sleep)
    assert metrics.ledger_entries._value.get() == 2
    assert await ledger.purge_expired() == 0  # the round already dropped "old"
    assert sleep.waits == [30]
    await ledger.close()


class FailingLedger:
    """A ledger whose backend is down for the first `failures` rounds."""

    def __init__(self, failures: int) -> None:
        self.failures = failures

    async def purge_expired(self) -> int:
        if self.failures > 0:
            self.failures -= 1
            raise StateUnavailable(backend="redis", operation="purge_expired", reason="down")
        return 0

    async def size(self) -> int:
        return 7

    async def claim(self, key: str) -> ClaimResult:
        raise NotImplementedError

    async def done(self, key: str) -> None:
        raise NotImplementedError

    async def release(self, key: str) -> bool:
        raise NotImplementedError

    async def state(self, key: str) -> EntryState | None:
        raise NotImplementedError

    async def close(self) -> None:
        pass


async def test_a_failing_backend_is_tried_again_next_round() -> None:
    metrics = StateMetrics.create(CollectorRegistry())
    sleep = Rounds(3)
    with pytest.raises(Stop):
        await housekeeping(FailingLedger(failures=2), metrics, every=5, sleep=sleep)
    assert sleep.waits == [5, 5, 5]
    assert metrics.ledger_entries._value.get() == 7
