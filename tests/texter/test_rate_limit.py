"""The rate limit holds across concurrent callers of one client, and is used fully.

50 tasks share one client limited to R requests per second with a burst of B. The fake runs on
its own event loop in a thread and stamps each request when it arrives, before awaiting
anything, so its timestamps are what Texter would see and do not move when the client's loop
is busy. No one-second window may hold more than R + B requests, and after the initial burst
the requests must arrive at no less than 95% of R.
"""

from __future__ import annotations

import asyncio

from simulator.server import FakeTexter
from simulator.threaded import serve_in_thread
from worker.texter import ClientOptions, open_client

from .conftest import TOKEN

RATE = 20
BURST = 5
CALLERS = 50
REQUESTS = 55  # (55 - 5) / 20 = 2.5 s


def max_in_any_window(times: list[float], width: float = 1.0) -> int:
    times = sorted(times)
    return max(sum(1 for u in times[i:] if u - t < width) for i, t in enumerate(times))


async def test_fifty_callers_share_the_limit() -> None:
    options = ClientOptions(rate_limit=RATE, rate_burst=BURST)
    todo = list(range(REQUESTS))
    fake = FakeTexter(token=TOKEN, seed=True)

    async with serve_in_thread(fake), open_client(fake.url, TOKEN, options) as client:

        async def caller() -> None:
            while todo:
                todo.pop()
                await client.list_labels()

        await asyncio.gather(*(caller() for _ in range(CALLERS)))

    times = sorted(c.at for c in fake.calls)
    assert len(times) == REQUESTS
    assert all(c.status == 200 for c in fake.calls)
    assert max_in_any_window(times) <= RATE + BURST
    steady = times[BURST - 1 :]  # after the burst, requests are paced
    throughput = (len(steady) - 1) / (steady[-1] - steady[0])
    assert throughput >= 0.95 * RATE
    assert throughput <= 1.05 * RATE


def test_window_counter() -> None:
    assert max_in_any_window([0.0, 0.5, 0.99, 1.0, 1.5]) == 3
    assert max_in_any_window([0.0, 2.0]) == 1
