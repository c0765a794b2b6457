"""The writer's calls to shared state (ledger, memory), retried in place while the backend is down.

A `StateUnavailable` says nothing about the Plan, so it never dead-letters one. Each call is
retried in place a few times, seconds in all (this shard waits, so order is kept through a
blip). If the backend is still down after that, `StateDown` tells the consumer to park the rest
of the Plan on a delay tier without using up an attempt (docs/writer.md, "State outages").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from worker.errors import StateUnavailable
from worker.retrying import first_try_free

log = structlog.get_logger(__name__)
T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


class StateDown(Exception):  # a verdict the consumer acts on, not a library error
    """The ledger or the memory stayed unavailable through the in-place retries.

    `step_ran`: the step itself succeeded and only its done-mark could not be written, so the
    rest of the Plan continues *after* it (never again with it: see docs/writer.md)."""

    def __init__(self, operation: str, error: str, *, step_ran: bool = False) -> None:
        self.operation, self.error, self.step_ran = operation, error, step_ran
        super().__init__(f"state backend unavailable during {operation}: {error}")


@dataclass(frozen=True)
class StateRetry:
    """How long one state call is retried in place: `attempts` tries in all, waits growing
    from `first_wait` (jittered, at most `max_wait`) in between."""

    attempts: int = 6
    first_wait: float = 0.2
    max_wait: float = 5.0


async def guarded(
    operation: str, call: Callable[[], Awaitable[T]], retry: StateRetry, sleep: Sleep
) -> T:
    """`await call()`, retried while it raises StateUnavailable; StateDown when it still does.
    The first try builds no retry machinery (worker/retrying.py)."""

    def retrying() -> AsyncRetrying:
        return AsyncRetrying(
            retry=retry_if_exception_type(StateUnavailable),
            stop=stop_after_attempt(retry.attempts),
            wait=wait_exponential_jitter(
                multiplier=retry.first_wait, max=retry.max_wait, jitter=retry.first_wait
            ),
            sleep=sleep,
            before_sleep=_log_retry(operation),
            reraise=True,
        )

    try:
        return await first_try_free(call, StateUnavailable, retrying)
    except StateUnavailable as exc:
        raise StateDown(operation, str(exc)) from exc


def _log_retry(operation: str) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else None
        log.warning(
            "writer.state_retry",
            operation=operation,
            attempt=state.attempt_number,
            wait=wait,
            error=str(error),
        )

    return before_sleep
