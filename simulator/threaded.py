"""Run a FakeTexter on its own event loop in a thread, for measurements that need it.

    fake = FakeTexter(token=TOKEN)
    async with serve_in_thread(fake):
        ...  # the client runs on the caller's loop; the fake answers from its own
    fake.calls  # read them after the block (the fake's thread appends while it runs)

With the fake on the caller's loop, a request's arrival is stamped only when that loop gets
round to it, so a stall in the client's loop moves the fake's timestamps too. On its own loop
the fake stamps requests as they arrive, independently of the client's scheduling; that is what
a test of "what Texter would see" (the rate limit) must measure.

Configure faults before the block, or through the control endpoint while it runs: the fault
plan is not locked against the caller's thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from simulator.server import FakeTexter


@asynccontextmanager
async def serve_in_thread(fake: FakeTexter, *, timeout: float = 10.0) -> AsyncIterator[FakeTexter]:
    """Start `fake` on a new loop in a daemon thread; stop it and join the thread on exit."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=_run, args=(loop,), name="fake-texter", daemon=True)
    thread.start()
    try:
        await _on(loop, fake.start(), timeout)
        try:
            yield fake
        finally:
            await _on(loop, fake.stop(), timeout)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        await asyncio.to_thread(thread.join, timeout)


async def _on(
    loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None], timeout: float
) -> None:
    future = asyncio.run_coroutine_threadsafe(coro, loop)
    await asyncio.wait_for(asyncio.wrap_future(future), timeout)


def _run(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()
