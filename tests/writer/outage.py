"""A state backend that fails on demand: the real SQLite ledger and LocalMemory behind a switch.

A failing call raises `StateUnavailable` before it reaches the real store, as Redis does when it
cannot be reached, so what the store holds is exactly what the writer managed to write.
"""

from __future__ import annotations

from collections import Counter

from worker.errors import StateUnavailable
from worker.state.ledger import ClaimResult, EntryState
from worker.state.memory import LocalMemory
from worker.state.sqlite_ledger import SQLiteLedger


class Outage:
    """Which calls fail: `down` holds operations ("claim") or (operation, key) pairs that fail
    until removed; `blips` counts the next failures of an operation, whatever the key."""

    def __init__(self) -> None:
        self.down: set[str | tuple[str, str]] = set()
        self.blips: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()  # failures raised so far, by operation

    def check(self, operation: str, key: str) -> None:
        if operation in self.down or (operation, key) in self.down:
            self._fail(operation)
        if self.blips[operation] > 0:
            self.blips[operation] -= 1
            self._fail(operation)

    def _fail(self, operation: str) -> None:
        self.failed[operation] += 1
        raise StateUnavailable(backend="test", operation=operation, reason="simulated outage")


class FlakyLedger:
    def __init__(self, inner: SQLiteLedger, outage: Outage) -> None:
        self.inner, self._outage = inner, outage

    async def claim(self, key: str) -> ClaimResult:
        self._outage.check("claim", key)
        return await self.inner.claim(key)

    async def done(self, key: str) -> None:
        self._outage.check("done", key)
        await self.inner.done(key)

    async def release(self, key: str) -> bool:
        self._outage.check("release", key)
        return await self.inner.release(key)

    async def state(self, key: str) -> EntryState | None:
        self._outage.check("state", key)
        return await self.inner.state(key)

    async def size(self) -> int:
        return await self.inner.size()

    async def purge_expired(self) -> int:
        return await self.inner.purge_expired()

    async def close(self) -> None:
        await self.inner.close()


class FlakyMemory:
    def __init__(self, inner: LocalMemory, outage: Outage) -> None:
        self.inner, self._outage = inner, outage

    async def claim(self, key: str, value: str, ttl: float) -> str:
        return await self.inner.claim(key, value, ttl)

    async def put(self, key: str, value: str, ttl: float) -> None:
        self._outage.check("put", key)
        await self.inner.put(key, value, ttl)

    async def get(self, key: str) -> str | None:
        return await self.inner.get(key)

    async def incr(self, key: str, amount: int, ttl: float) -> int:
        return await self.inner.incr(key, amount, ttl)

    async def close(self) -> None:
        await self.inner.close()
