"""The rate limit holds across concurrent callers of one client, and is used fully.

50 tasks share one client limited to R requests per second with a burst of B. The fake records
when each request arrived: no one-second window may hold more than R + B requests, and after
the initial burst the requests must arrive at no less than 95% of R.
"""

from __future__ import annotations

import asyncio

from simulator.server import FakeTexter
from worker.texter import ClientOptions, open_client

from .conftest import TOKEN

RATE = 20
BURST = 5
CALLERS = 50
REQUESTS = 55  # (55 - 5) / 20 = 2.5 s
JITTER = 2  # requests: see the assertion below


def max_in_any_window(times: list[float], width: float = 1.0) -> int:
    times = sorted(times)
    return max(sum(1 for u in times[i:] if u - t < width) for i, t in enumerate(times))


async def test_fifty_callers_share_the_limit(fake: FakeTexter) -> None:
    options = ClientOptions(rate_limit=RATE, rate_burst=BURST)
    todo = list(range(REQUESTS))

    async with open_client(fake.url, TOKEN, options) as client:

        async def caller() -> None:
            while todo:
                todo.pop()
                await client.list_labels()

        await asyncio.gather(*(caller() for _ in range(CALLERS)))

    times = sorted(c.at for c in fake.calls)
    assert len(times) == REQUESTS
    assert all(c.status == 200 for c in fake.calls)
    # The limiter releases at most RATE + BURST per second. The fake stamps a request when its
    # handler runs, in this same event loop: when the loop stalls (a loaded 2-core CI machine),
    # requests released apart get stamped together. JITTER allows for that measurement effect
    # only; bench/rate_limit.py measures the limit strictly, in separate processes (0 over).
    assert max_in_any_window(times) <= RATE + BURST + JITTER
    steady = times[BURST - 1 :]  # after the burst, requests are paced
    throughput = (len(steady) - 1) / (steady[-1] - steady[0])
    assert throughput >= 0.95 * RATE
    assert throughput <= 1.05 * RATE


def test_window_counter() -> None:
    assert max_in_any_window([0.0, 0.5, 0.99, 1.0, 1.5]) == 3
    assert max_in_any_window([0.0, 2.0]) == 1
