"""A circuit breaker as a small state machine with an injected clock (no I/O, no sleeping).

closed ──N consecutive failures──▶ open ──cool-down elapsed, one caller let through──▶ half_open
  ▲                                  ▲                                                   │
  └──────────── probe succeeded ─────┼─────────────────── probe failed ──────────────────┘

A *failure* is a 5xx, a timeout or a lost connection: signs that Texter is unwell. Any answer
below 500 (including 4xx and 429) proves Texter is up and counts as a success, so a stream of
bad requests never opens the breaker. In half-open exactly one probe is in flight; every other
caller fails fast until the probe reports. A probe that ends without a verdict (the caller was
cancelled) frees the slot so the next caller probes.

No library fits here: the maintained asyncio breakers either count every exception (4xx too)
or own the call; this one only answers "may I call?" and is told the result.
"""

from __future__ import annotations

import enum
from collections.abc import Callable


class State(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(
        self,
        *,
        threshold: int,
        cooldown: float,
        clock: Callable[[], float],
        on_change: Callable[[State], None] | None = None,
    ) -> None:
        if threshold < 1 or cooldown <= 0:
            raise ValueError("threshold must be >= 1 and cooldown > 0")
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._on_change = on_change
        self._state = State.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False

    @property
    def state(self) -> State:
        """The current state; an open breaker whose cool-down passed reads as half-open."""
        if self._state is State.OPEN and self._clock() - self._opened_at >= self.cooldown:
            return State.HALF_OPEN
        return self._state

    def retry_in(self) -> float:
        """Seconds until the next probe may go (0 when calls are allowed)."""
        if self._state is not State.OPEN:
            return 0.0
        return max(0.0, self.cooldown - (self._clock() - self._opened_at))

    def allow(self) -> bool:
        """May a call go out now? In half-open, True for exactly one caller (the probe)."""
        if self.state is State.CLOSED:
            return True
        if self.state is State.HALF_OPEN and not self._probing:
            self._set(State.HALF_OPEN)
            self._probing = True
            return True
        return False

    def record_success(self) -> None:
        self._failures = 0
        self._probing = False
        if self._state is not State.CLOSED:
            self._set(State.CLOSED)

    def record_failure(self) -> None:
        self._failures += 1
        if self._state is State.OPEN:  # a call started before opening: keep the cool-down
            return
        if self._state is State.HALF_OPEN or self._failures >= self.threshold:
            self._probing = False
            self._opened_at = self._clock()
            self._set(State.OPEN)

    def record_abandoned(self) -> None:
        """The call ended without a verdict (cancelled): free the probe slot."""
        self._probing = False

    def _set(self, state: State) -> None:
        changed = state is not self._state
        self._state = state
        if changed and self._on_change is not None:
            self._on_change(state)
