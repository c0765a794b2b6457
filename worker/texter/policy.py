"""What to do after one attempt of a Texter call: a pure function, table-tested.

An attempt ends in an `Outcome`: an HTTP status, or one of three kinds of "no answer". The
decision depends on whether the call is idempotent (repeating it cannot do anything twice):

* connect failed: the request never left, so any call may be retried;
* 429, 503 and 408: Texter says it did not process the request, so any call may be retried,
  after the `Retry-After` it asked for (if it is longer than the cap, the call fails instead);
* timeout, connection lost, other 5xx: the request may have been processed. Idempotent calls are
  retried; non-idempotent ones (sends, creates) fail as *ambiguous* and are never repeated here;
* other 4xx: permanent, never retried. 2xx: done.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime


class NoAnswer(enum.Enum):
    """Why an attempt got no HTTP status."""

    CONNECT_FAILED = "connect_failed"  # before the request was written: nothing happened
    TIMEOUT = "timeout"  # after it may have been written
    DISCONNECTED = "disconnected"  # connection lost after it may have been written


class Verdict(enum.Enum):
    SUCCESS = "success"
    RETRY = "retry"  # transient and safe to repeat
    TRANSIENT = "transient"  # transient, but may not be repeated in process (cap exceeded)
    PERMANENT = "permanent"  # a 4xx: the same request will fail again
    AMBIGUOUS = "ambiguous"  # may have taken effect; not safe to repeat


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    wait: float | None = None  # the server's Retry-After, when it gave one
    reason: str = ""  # closed set, used as a metric label: status code or NoAnswer value


# The server declares it did not process the request: safe to repeat any call.
NOT_PROCESSED = frozenset({408, 429, 503})


def decide(
    outcome: int | NoAnswer,
    *,
    idempotent: bool,
    retry_after: float | None = None,
    retry_after_max: float = 60.0,
) -> Decision:
    """The verdict on one attempt. `retry_after` is the parsed header (seconds), if any."""
    if isinstance(outcome, NoAnswer):
        # Only a failed connect proves the request never left.
        safe = outcome is NoAnswer.CONNECT_FAILED or idempotent
        return Decision(Verdict.RETRY if safe else Verdict.AMBIGUOUS, reason=outcome.value)
    reason = str(outcome)
    if outcome in NOT_PROCESSED:
        capped = retry_after is not None and retry_after > retry_after_max
        return Decision(Verdict.TRANSIENT if capped else Verdict.RETRY, retry_after, reason)
    if outcome >= 500:
        return Decision(Verdict.RETRY if idempotent else Verdict.AMBIGUOUS, reason=reason)
    verdict = Verdict.SUCCESS if outcome < 400 else Verdict.PERMANENT
    return Decision(verdict, reason=reason)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date.

    Returns None when absent or unreadable (the caller then uses its own backoff), and 0 for
    a date in the past. `now` must be timezone-aware (UTC).
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; be lenient with ones that omit it
        when = when.replace(tzinfo=now.tzinfo)
    return max(0.0, (when - now).total_seconds())


def status_class(outcome: int | NoAnswer) -> str:
    """The `status` metric label: 2xx..5xx, timeout or connection_error (a closed set)."""
    if isinstance(outcome, NoAnswer):
        return "timeout" if outcome is NoAnswer.TIMEOUT else "connection_error"
    return f"{min(max(outcome // 100, 2), 5)}xx"
