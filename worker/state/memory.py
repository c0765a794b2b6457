"""Short-lived shared facts with expiry: what the worker wrote recently, which rule ran for
which chat, how many steps a chat got this minute.

`SharedMemory` is the interface; `LocalMemory` keeps it in the process (one replica, or tests),
the Redis backend shares it between replicas. Keys are plain strings chosen by the callers
(`echo:<chat>:<effect>`, `once:<rule>:<chat>`, `budget:<chat>:<window>`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

Clock = Callable[[], float]


class SharedMemory(Protocol):
    async def claim(self, key: str, value: str, ttl: float) -> str:
        """Store `value` unless the key holds one; return the value held now (ours or older)."""

    async def put(self, key: str, value: str, ttl: float) -> None:
        """Store `value` for `ttl` seconds, replacing what was there."""

    async def get(self, key: str) -> str | None:
        """The value, or None when absent or expired."""

    async def incr(self, key: str, amount: int, ttl: float) -> int:
        """Add to a counter that expires `ttl` after it was created; return the new total."""

    async def close(self) -> None: ...


class LocalMemory:
    """In-process SharedMemory. Expired keys are dropped when read and swept now and then."""

    SWEEP_EVERY = 1024  # writes between sweeps: memory stays bounded by the live keys

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._values: dict[str, tuple[str, float]] = {}
        self._writes = 0

    def _live(self, key: str) -> str | None:
        entry = self._values.get(key)
        if entry is None:
            return None
        if entry[1] <= self._clock():
            del self._values[key]
            return None
        return entry[0]

    def _store(self, key: str, value: str, ttl: float) -> None:
        self._values[key] = (value, self._clock() + ttl)
        self._writes += 1
        if self._writes % self.SWEEP_EVERY == 0:
            now = self._clock()
            for k in [k for k, (_, exp) in self._values.items() if exp <= now]:
                del self._values[k]

    async def claim(self, key: str, value: str, ttl: float) -> str:
        held = self._live(key)
        if held is not None:
            return held
        self._store(key, value, ttl)
        return value

    async def put(self, key: str, value: str, ttl: float) -> None:
        self._store(key, value, ttl)

    async def get(self, key: str) -> str | None:
        return self._live(key)

    async def incr(self, key: str, amount: int, ttl: float) -> int:
        held = self._live(key)
        if held is None:
            self._store(key, str(amount), ttl)
            return amount
        total = int(held) + amount
        self._values[key] = (str(total), self._values[key][1])  # keep the original expiry
        return total

    def __len__(self) -> int:
        return len(self._values)

    async def close(self) -> None:
        self._values.clear()
