"""Retry in place without paying for it when nothing fails.

tenacity's loop (AsyncRetrying, its attempt managers, its bookkeeping) showed in the writer's
and the rules' profiles: they wrap every ledger, memory and publish call, and nearly all of them
succeed at once. `first_try_free` makes the first try a plain call and builds the retry loop only
after a failure, handing that failure to tenacity as attempt 1: the attempts, waits and logs
are tenacity's, as if it had made the first try itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying

T = TypeVar("T")


async def first_try_free(
    call: Callable[[], Awaitable[T]],
    errors: type[Exception],
    retrying: Callable[[], AsyncRetrying],
) -> T:
    """`await call()`; on `errors`, retry it under `retrying()` (attempt 1 = that failure)."""
    try:
        return await call()
    except errors as exc:
        failed: Exception | None = exc
    async for attempt in retrying():
        with attempt:
            if failed is not None:  # attempt 1 already ran, above
                first, failed = failed, None
                raise first
            return await call()
    raise AssertionError("unreachable: tenacity returns, raises, or retries")  # pragma: no cover
