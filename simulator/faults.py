"""Fault injection for the fake Texter, and the record of every call it received.

`Faults` is plain configuration (set it in a test, or POST it to /_control/faults); `FaultPlan`
turns it into one decision per incoming request. Counted faults (`errors`, `timeouts`, `drops`,
`bad_bodies`) are used up one request at a time, in that order of precedence, so a test can say
"the next three requests fail with 503". `rate_limit` answers 429 with Retry-After to every
request over the configured number per sliding second, like a real gateway would.
"""

from __future__ import annotations

import collections
import enum
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Faults:
    latency: float = 0.0  # seconds added before every answer
    rate_limit: float | None = None  # requests per sliding second before 429
    retry_after: str = "1"  # Retry-After value on 429 (seconds or an HTTP-date)
    errors: int = 0  # the next N requests answer `error_status`
    error_status: int = 503
    error_retry_after: str | None = None  # Retry-After on those errors, if any
    timeouts: int = 0  # the next N requests hang for `hang` seconds (client should time out)
    hang: float = 30.0
    drops: int = 0  # the next N requests: connection closed after the request arrived
    bad_bodies: int = 0  # the next N requests are processed, but a 2xx answer's body is...
    bad_body: str = '["not", "the", "documented", "shape"]'  # ...this (as application/json)
    paths: list[str] = field(default_factory=list)  # only requests whose path contains one

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Faults:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        unknown = set(data) - set(known)
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        return cls(**known)


class Action(enum.Enum):
    NONE = "none"
    RATE_LIMITED = "rate_limited"
    ERROR = "error"
    TIMEOUT = "timeout"
    DROP = "drop"
    BAD_BODY = "bad_body"


@dataclass
class Call:
    """One request the fake received, recorded on arrival; `status` and `answered_at` are set
    when it answers."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any  # parsed JSON, or the text when not JSON, or None
    at: float  # monotonic seconds (the fake's clock) when the request reached the fake
    status: int | None = None  # what it answered; None for timeouts and drops
    fault: str = "none"
    answered_at: float | None = None  # monotonic seconds when it answered; None if it did not


class FaultPlan:
    """Decides, per request, which fault (if any) applies. Owns the sliding rate window."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.faults = Faults()
        self._clock = clock
        self._window: collections.deque[float] = collections.deque()

    def set(self, faults: Faults) -> None:
        self.faults = faults
        self._window.clear()

    def decide(self, path: str) -> Action:
        f = self.faults
        if f.paths and not any(p in path for p in f.paths):
            return Action.NONE
        for name, action in (
            ("errors", Action.ERROR),
            ("timeouts", Action.TIMEOUT),
            ("drops", Action.DROP),
            ("bad_bodies", Action.BAD_BODY),
        ):
            if getattr(f, name) > 0:
                setattr(f, name, getattr(f, name) - 1)
                return action
        if f.rate_limit is not None and self._over_rate(f.rate_limit):
            return Action.RATE_LIMITED
        return Action.NONE

    def _over_rate(self, rate: float) -> bool:
        now = self._clock()
        while self._window and now - self._window[0] >= 1.0:
            self._window.popleft()
        if len(self._window) >= rate:
            return True  # rejected requests do not take a slot
        self._window.append(now)
        return False
