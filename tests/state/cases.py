"""How contract tests let time pass on each backend.

In-process and SQLite backends read an injected clock: time jumps. Redis expires keys on its own
clock: the test polls, bounded by a deadline, until Redis has dropped what should be gone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from tests.state.conftest import FakeClock

Check = Callable[[], Awaitable[bool]]

SHORT = 0.05  # a TTL that has run out after `elapse(SHORT, ...)`
LONG = 60.0  # a TTL no test outlives
REDIS_EXPIRY_DEADLINE = 2.0


class Elapse:
    """`await elapse(seconds, check)`: let `seconds` pass, then `check` must hold."""

    def __init__(self, clock: FakeClock | None) -> None:
        self._clock = clock

    async def __call__(self, seconds: float, check: Check) -> None:
        if self._clock is not None:
            self._clock.advance(seconds)
            assert await check(), f"not true after {seconds}s"
            return
        async with asyncio.timeout(seconds + REDIS_EXPIRY_DEADLINE):
            while not await check():  # noqa: ASYNC110 - Redis expires keys on its own clock
                await asyncio.sleep(0.01)
