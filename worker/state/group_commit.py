"""Group commit for the SQLite ledger: writes that arrive together share one transaction.

Every claim and `done` must be on disk before it returns, and with `synchronous=FULL` each
COMMIT is an fsync (about a millisecond here, far more on a busy disk). The writer's shards
claim and mark concurrently, so one at a time they queue behind each other's fsyncs. Here a
write waits only for the transaction in progress: whatever arrived meanwhile is committed next,
all of it in one transaction with one fsync. Each write still returns only after the COMMIT
that holds it, so nothing is acknowledged before it is durable.

The functions run in order on one worker thread, under the connection's lock. A failure rolls
the whole batch back and fails every write in it (none of them is stored: a claim that raised
granted nothing). A caller that is cancelled while its batch runs does not stop it: the thread
finishes the transaction, as a single write would.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

Write = Callable[[sqlite3.Connection], Any]


class GroupCommit:
    def __init__(self, conn: sqlite3.Connection, lock: threading.Lock) -> None:
        self._conn, self._lock = conn, lock
        self._pending: list[tuple[Write, asyncio.Future[Any]]] = []
        self._drainer: asyncio.Task[None] | None = None
        self.commits = 0  # transactions committed (tests, and the curious: writes / commits)

    async def run(self, write: Write) -> Any:
        """Run `write(conn)` inside a transaction shared with the writes around it."""
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((write, done))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name="ledger-group-commit")
        return await asyncio.shield(done)  # a cancelled caller leaves the batch to finish

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                results = await asyncio.to_thread(self._commit, [w for w, _ in batch])
            except Exception as exc:  # noqa: BLE001 - every waiter gets it; none may hang
                for _, done in batch:
                    _settle(done, exc)
                continue
            for (_, done), result in zip(batch, results, strict=True):
                if not done.done():
                    done.set_result(result)

    def _commit(self, writes: list[Write]) -> list[Any]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")  # the write lock first: see sqlite_ledger
            try:
                results = [write(self._conn) for write in writes]
                self._conn.execute("COMMIT")
                self.commits += 1
            except BaseException:
                if self._conn.in_transaction:  # a failed COMMIT may leave it open
                    self._conn.execute("ROLLBACK")
                raise
            return results


def _settle(done: asyncio.Future[Any], exc: Exception) -> None:
    if done.done():
        return
    done.set_exception(exc)
    # Its caller may have been cancelled meanwhile: nobody else would ever read the exception.
    done.add_done_callback(lambda f: f.exception())
