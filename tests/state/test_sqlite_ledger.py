"""SQLiteLedger beyond the contract: the file, durability across close and kill -9, expiry by
the injected clock, errors at the boundary."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from tests.state.conftest import FakeClock
from worker.errors import StateUnavailable
from worker.metrics import StateMetrics
from worker.state.ledger import ClaimResult, EntryState
from worker.state.sqlite_ledger import FILE_NAME, SCHEMA_VERSION, SQLiteLedger

HOUR = 3600.0


async def test_open_creates_the_directory_and_a_wal_file(tmp_path: Path) -> None:
    directory = tmp_path / "state" / "nested"
    ledger = await SQLiteLedger.open(directory, horizon=HOUR)
    await ledger.close()
    with sqlite3.connect(directory / FILE_NAME) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


async def test_entries_survive_closing_and_reopening(tmp_path: Path) -> None:
    ledger = await SQLiteLedger.open(tmp_path, horizon=HOUR)
    await ledger.claim("sent")
    await ledger.done("sent")
    await ledger.claim("in-flight")
    await ledger.close()

    reopened = await SQLiteLedger.open(tmp_path, horizon=HOUR)
    assert await reopened.claim("sent") is ClaimResult.DONE
    assert await reopened.claim("in-flight") is ClaimResult.IN_DOUBT
    await reopened.close()


# Claims and marks keys done in a loop, printing each key once `done` returned, until killed.
_SENDER = """
import asyncio, sys
from pathlib import Path
from worker.state.sqlite_ledger import SQLiteLedger

async def main():
    ledger = await SQLiteLedger.open(Path(sys.argv[1]), horizon=3600)
    i = 0
    while True:
        await ledger.claim(f"k{i}")
        await ledger.done(f"k{i}")
        print(i, flush=True)
        i += 1

asyncio.run(main())
"""


async def test_every_done_that_returned_survives_kill_9(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _SENDER, str(tmp_path), stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    async with asyncio.timeout(30):
        for _ in range(50):
            last = int(await proc.stdout.readline())
        proc.send_signal(signal.SIGKILL)  # mid-stream: the sender is claiming the next key
        assert await proc.wait() == -signal.SIGKILL

    ledger = await SQLiteLedger.open(tmp_path, horizon=HOUR)
    states = [await ledger.state(f"k{i}") for i in range(last + 1)]
    assert states == [EntryState.DONE] * (last + 1)
    await ledger.close()


async def test_done_keeps_the_expiry_of_its_claim(tmp_path: Path, clock: FakeClock) -> None:
    ledger = await SQLiteLedger.open(tmp_path, horizon=HOUR, clock=clock)
    await ledger.claim("k")
    clock.advance(0.6 * HOUR)
    await ledger.done("k")
    clock.advance(0.6 * HOUR)
    assert await ledger.state("k") is None
    await ledger.close()


async def test_done_after_its_claim_expired_starts_a_new_horizon(
    tmp_path: Path, clock: FakeClock
) -> None:
    ledger = await SQLiteLedger.open(tmp_path, horizon=HOUR, clock=clock)
    await ledger.claim("k")
    clock.advance(2 * HOUR)
    await ledger.done("k")
    clock.advance(0.5 * HOUR)
    assert await ledger.claim("k") is ClaimResult.DONE
    await ledger.close()


async def test_expired_rows_stay_on_disk_until_purged(tmp_path: Path, clock: FakeClock) -> None:
    ledger = await SQLiteLedger.open(tmp_path, horizon=HOUR, clock=clock)
    await ledger.claim("old-1")
    await ledger.claim("old-2")
    clock.advance(HOUR)  # exactly the horizon: expired
    await ledger.claim("new")
    assert await ledger.size() == 1
    assert await ledger.purge_expired() == 2
    assert await ledger.purge_expired() == 0
    assert await ledger.state("new") is EntryState.CLAIMED
    await ledger.close()


async def test_a_longer_horizon_applies_to_entries_already_stored(
    tmp_path: Path, clock: FakeClock
) -> None:
    ledger = await SQLiteLedger.open(tmp_path, horizon=HOUR, clock=clock)
    await ledger.claim("k")
    await ledger.close()
    clock.advance(2 * HOUR)
    longer = await SQLiteLedger.open(tmp_path, horizon=3 * HOUR, clock=clock)
    assert await longer.claim("k") is ClaimResult.IN_DOUBT
    await longer.close()


async def test_a_ledger_file_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / FILE_NAME)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StateUnavailable, match="newer than this worker knows"):
        await SQLiteLedger.open(tmp_path, horizon=HOUR)


async def test_a_directory_that_cannot_be_made_raises_state_unavailable(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    with pytest.raises(StateUnavailable) as caught:
        await SQLiteLedger.open(tmp_path / "a-file" / "state", horizon=HOUR)
    assert (caught.value.backend, caught.value.operation) == ("sqlite", "open")


async def test_a_failing_database_raises_state_unavailable_and_counts_it(tmp_path: Path) -> None:
    metrics = StateMetrics.create(CollectorRegistry())
    ledger = await SQLiteLedger.open(tmp_path, horizon=HOUR, metrics=metrics)
    await ledger.close()
    with pytest.raises(StateUnavailable) as caught:
        await ledger.claim("k")
    assert caught.value.operation == "claim"
    assert metrics.errors.labels("sqlite", "claim")._value.get() == 1
    assert metrics.ledger_claims.labels("claimed")._value.get() == 0
