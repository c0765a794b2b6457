"""Group commit: writes that arrive together share one transaction, and each is durable (or
failed) before its caller hears back."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from worker.state.group_commit import GroupCommit
from worker.state.ledger import ClaimResult
from worker.state.sqlite_ledger import SQLiteLedger


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    c = sqlite3.connect(tmp_path / "t.db", isolation_level=None, check_same_thread=False)
    c.execute("PRAGMA journal_mode=WAL")
    c.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
    yield c
    c.close()


def _insert(key: str) -> Callable[[sqlite3.Connection], str]:
    def write(c: sqlite3.Connection) -> str:
        c.execute("INSERT INTO t VALUES (?)", (key,))
        return key

    return write


def _keys(c: sqlite3.Connection) -> set[str]:
    return {row[0] for row in c.execute("SELECT k FROM t")}


async def test_writes_arriving_together_share_one_commit(conn: sqlite3.Connection) -> None:
    group = GroupCommit(conn, threading.Lock())
    got = await asyncio.gather(*(group.run(_insert(f"k{n}")) for n in range(20)))
    assert got == [f"k{n}" for n in range(20)]
    assert _keys(conn) == set(got)
    assert group.commits == 1


class Held:
    """A write that, on the commit thread, says it started and waits until the test lets it go."""

    def __init__(self, key: str) -> None:
        self.key, self.started, self.release = key, threading.Event(), threading.Event()

    def __call__(self, c: sqlite3.Connection) -> str:
        self.started.set()
        assert self.release.wait(10), "the test never released the write"
        return _insert(self.key)(c)

    async def running(self) -> None:
        """Until the write is inside its transaction on the commit thread."""
        assert await asyncio.to_thread(self.started.wait, 10)


async def test_writes_arriving_during_a_commit_go_into_the_next(conn: sqlite3.Connection) -> None:
    group = GroupCommit(conn, threading.Lock())
    held = Held("a")
    first = asyncio.ensure_future(group.run(held))
    await held.running()  # the first batch ("a" alone) is being committed
    rest = asyncio.gather(*(group.run(_insert(k)) for k in "bcd"))
    held.release.set()
    assert (await first, await rest) == ("a", ["b", "c", "d"])
    assert group.commits == 2


async def test_one_failing_write_fails_the_whole_batch_and_stores_none_of_it(
    conn: sqlite3.Connection,
) -> None:
    def broken(c: sqlite3.Connection) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    group = GroupCommit(conn, threading.Lock())
    results = await asyncio.gather(
        group.run(_insert("x")), group.run(broken), group.run(_insert("y")), return_exceptions=True
    )
    assert [type(r) for r in results] == [sqlite3.OperationalError] * 3
    assert _keys(conn) == set()
    assert not conn.in_transaction
    assert await group.run(_insert("z")) == "z"  # the next batch works
    assert _keys(conn) == {"z"}


async def test_a_bug_in_a_write_reaches_every_waiter_instead_of_hanging_them(
    conn: sqlite3.Connection,
) -> None:
    def buggy(c: sqlite3.Connection) -> None:
        raise ValueError("not a database problem")

    group = GroupCommit(conn, threading.Lock())
    results = await asyncio.gather(
        group.run(buggy), group.run(_insert("x")), return_exceptions=True
    )
    assert [type(r) for r in results] == [ValueError, ValueError]


async def test_a_cancelled_caller_leaves_its_write_to_be_committed(
    conn: sqlite3.Connection,
) -> None:
    group = GroupCommit(conn, threading.Lock())
    held = Held("kept")
    waiter = asyncio.ensure_future(group.run(held))
    await held.running()  # its batch is being committed
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    held.release.set()
    assert await group.run(_insert("after")) == "after"  # runs after the cancelled one's batch
    assert _keys(conn) == {"kept", "after"}


async def test_concurrent_claims_of_one_key_in_one_batch_give_one_owner(tmp_path: Path) -> None:
    ledger = await SQLiteLedger.open(tmp_path, horizon=3600)
    try:
        results = await asyncio.gather(*(ledger.claim("same") for _ in range(5)))
        others = await asyncio.gather(*(ledger.claim(f"k{n}") for n in range(5)))
    finally:
        await ledger.close()
    assert sorted(results) == sorted([ClaimResult.CLAIMED] + [ClaimResult.IN_DOUBT] * 4)
    assert others == [ClaimResult.CLAIMED] * 5
