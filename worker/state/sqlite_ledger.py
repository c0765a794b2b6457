"""The send-once ledger in a SQLite file (`STATE_DIR/ledger.sqlite3`): the embedded default for
one machine. It survives restarts and `kill -9`: every claim and every `done` is a committed
transaction synced to disk (WAL, synchronous=FULL) before the call returns, so a claim is on
disk before the send it guards, and a `done` before the writer acks.

Stdlib sqlite3 with one connection, run in worker threads (`asyncio.to_thread`) so the event loop
never waits on fsync. Claims, `done`s and releases that arrive together share one transaction
(`group_commit.py`): one fsync for all of them, each still durable before it returns. A
`threading.Lock` (not an asyncio one) serialises the connection: a task cancelled while its
thread runs releases an asyncio lock at once, and the next call would share the connection with
a still-running statement; the thread lock is held until the statement ends.

Time is the wall clock (injectable): entries must expire across restarts and reboots, which a
monotonic clock does not survive. Expiry is `claimed_at + horizon`, so changing LEDGER_HORIZON
applies to the entries already stored. Expired rows read as absent until `purge_expired`.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final, TypeVar

from worker.errors import StateUnavailable
from worker.metrics import StateMetrics
from worker.state.group_commit import GroupCommit
from worker.state.ledger import ClaimResult, EntryState, claim_result, count_claim
from worker.state.memory import Clock

T = TypeVar("T")

FILE_NAME: Final = "ledger.sqlite3"
SCHEMA_VERSION: Final = 1
BUSY_TIMEOUT: Final = 5.0  # seconds to wait for another process holding the file's write lock

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    key        TEXT PRIMARY KEY,
    state      TEXT NOT NULL CHECK (state IN ('claimed', 'done')),
    claimed_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ledger_claimed_at ON ledger (claimed_at);
"""


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: no implicit transactions; each write below says where one begins.
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
    )
    try:
        _prepare(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def _prepare(conn: sqlite3.Connection, path: Path) -> None:
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if mode != "wal":
        raise sqlite3.OperationalError(f"{path}: cannot use WAL mode (got {mode!r})")
    conn.execute("PRAGMA synchronous=FULL")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(
            f"{path}: ledger schema {version} is newer than this worker knows ({SCHEMA_VERSION})"
        )
    conn.executescript(_SCHEMA)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")


class SQLiteLedger:
    """SendLedger in a SQLite file. Open it with `await SQLiteLedger.open(...)`."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        horizon: float,
        clock: Clock = time.time,
        metrics: StateMetrics | None = None,
    ) -> None:
        self._conn = conn
        self._horizon = horizon
        self._clock = clock
        self._metrics = metrics
        self._lock = threading.Lock()
        self._writes = GroupCommit(conn, self._lock)

    @classmethod
    async def open(
        cls,
        directory: Path,
        *,
        horizon: float,
        clock: Clock = time.time,
        metrics: StateMetrics | None = None,
    ) -> SQLiteLedger:
        """Open (or create) `directory/ledger.sqlite3`, creating the directory if needed."""
        try:
            conn = await asyncio.to_thread(_connect, directory / FILE_NAME)
        except (sqlite3.Error, OSError) as exc:
            if metrics is not None:
                metrics.errors.labels("sqlite", "open").inc()
            reason = repr(exc)
            raise StateUnavailable(backend="sqlite", operation="open", reason=reason) from exc
        return cls(conn, horizon=horizon, clock=clock, metrics=metrics)

    async def _run(self, operation: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        def locked() -> T:
            with self._lock:
                return fn(self._conn)

        try:
            return await asyncio.to_thread(locked)
        except sqlite3.Error as exc:
            if self._metrics is not None:
                self._metrics.errors.labels("sqlite", operation).inc()
            reason = repr(exc)
            raise StateUnavailable(backend="sqlite", operation=operation, reason=reason) from exc

    async def _write(self, operation: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        """A write, committed (and fsynced) with whatever other writes wait with it."""
        try:
            result: T = await self._writes.run(fn)
        except sqlite3.Error as exc:
            if self._metrics is not None:
                self._metrics.errors.labels("sqlite", operation).inc()
            reason = repr(exc)
            raise StateUnavailable(backend="sqlite", operation=operation, reason=reason) from exc
        return result

    def _cutoff(self, now: float) -> float:
        """Entries claimed at or before this are expired."""
        return now - self._horizon

    async def claim(self, key: str) -> ClaimResult:
        now = self._clock()

        def claim(conn: sqlite3.Connection) -> EntryState | None:
            row = conn.execute(
                "SELECT state FROM ledger WHERE key = ? AND claimed_at > ?",
                (key, self._cutoff(now)),
            ).fetchone()
            if row is not None:
                return EntryState(row[0])
            conn.execute(  # replaces an expired row, if any
                "INSERT OR REPLACE INTO ledger (key, state, claimed_at) VALUES (?, ?, ?)",
                (key, EntryState.CLAIMED.value, now),
            )
            return None

        held = await self._write("claim", claim)
        return count_claim(self._metrics, claim_result(held))

    async def done(self, key: str) -> None:
        now = self._clock()

        def done(conn: sqlite3.Connection) -> None:
            kept = conn.execute(  # keep the claim's expiry
                "UPDATE ledger SET state = ? WHERE key = ? AND claimed_at > ?",
                (EntryState.DONE.value, key, self._cutoff(now)),
            ).rowcount
            if kept == 0:  # the claim expired or vanished: the send still happened
                conn.execute(
                    "INSERT OR REPLACE INTO ledger (key, state, claimed_at) VALUES (?, ?, ?)",
                    (key, EntryState.DONE.value, now),
                )

        await self._write("done", done)

    async def release(self, key: str) -> bool:
        cutoff = self._cutoff(self._clock())

        def release(conn: sqlite3.Connection) -> bool:
            deleted = conn.execute(
                "DELETE FROM ledger WHERE key = ? AND state = ? AND claimed_at > ?",
                (key, EntryState.CLAIMED.value, cutoff),
            ).rowcount
            return deleted > 0

        return await self._write("release", release)

    async def state(self, key: str) -> EntryState | None:
        cutoff = self._cutoff(self._clock())

        def state(conn: sqlite3.Connection) -> EntryState | None:
            row = conn.execute(
                "SELECT state FROM ledger WHERE key = ? AND claimed_at > ?", (key, cutoff)
            ).fetchone()
            return None if row is None else EntryState(row[0])

        return await self._run("state", state)

    async def size(self) -> int:
        cutoff = self._cutoff(self._clock())

        def size(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT count(*) FROM ledger WHERE claimed_at > ?", (cutoff,))
            return int(row.fetchone()[0])

        return await self._run("size", size)

    async def purge_expired(self) -> int:
        cutoff = self._cutoff(self._clock())

        def purge(conn: sqlite3.Connection) -> int:
            return conn.execute("DELETE FROM ledger WHERE claimed_at <= ?", (cutoff,)).rowcount

        return await self._run("purge_expired", purge)

    async def close(self) -> None:
        await self._run("close", lambda conn: conn.close())
