"""first_try_free: a plain first call; after a failure, tenacity's attempts and waits."""

from __future__ import annotations

import pytest
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_fixed

from worker.retrying import first_try_free


class Flaky:
    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError(f"down (call {self.calls})")
        return "ok"


def _retrying(waits: list[float], built: list[int], attempts: int) -> AsyncRetrying:
    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    built.append(1)
    return AsyncRetrying(
        retry=retry_if_exception_type(ConnectionError),
        stop=stop_after_attempt(attempts),
        wait=wait_fixed(0.5),
        sleep=sleep,
        reraise=True,
    )


async def test_a_call_that_works_builds_no_retry_loop() -> None:
    waits: list[float] = []
    built: list[int] = []
    flaky = Flaky(0)
    got = await first_try_free(flaky, ConnectionError, lambda: _retrying(waits, built, 3))
    assert (got, flaky.calls, built, waits) == ("ok", 1, [], [])


async def test_the_first_failure_counts_as_tenacitys_attempt_1() -> None:
    waits: list[float] = []
    built: list[int] = []
    flaky = Flaky(2)
    got = await first_try_free(flaky, ConnectionError, lambda: _retrying(waits, built, 3))
    assert (got, flaky.calls, waits) == ("ok", 3, [0.5, 0.5])  # a wait after each failure


async def test_attempts_are_tenacitys_and_the_last_error_is_raised() -> None:
    waits: list[float] = []
    built: list[int] = []
    flaky = Flaky(10)
    with pytest.raises(ConnectionError, match=r"call 3\)"):
        await first_try_free(flaky, ConnectionError, lambda: _retrying(waits, built, 3))
    assert (flaky.calls, waits) == (3, [0.5, 0.5])


async def test_other_errors_are_not_retried() -> None:
    async def broken() -> str:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        await first_try_free(broken, ConnectionError, lambda: _retrying([], [], 3))
