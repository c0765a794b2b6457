"""The send-once ledger: what makes a non-idempotent step (send a message or a template, call an
external http endpoint) happen at most once, although messages are delivered at least once.

Before such a step the writer claims the step's idempotency key, and marks it done after the
step succeeded:

    CLAIMED   the key was free: this attempt owns it; send, then `done(key)`, then ack
    DONE      sent before: skip the step (count it), go on with the Plan
    IN_DOUBT  claimed earlier and never marked done: an earlier attempt crashed or timed out
              after the request may have left. Never send blindly: verify, or dead-letter it

`release(key)` gives a claim back when its attempt certainly had no effect (connect failed,
4xx, 429/503), so a later attempt can claim it again. Every entry expires LEDGER_HORIZON after it
was claimed; a replay older than that may send again (docs/state.md).

Backends: `SQLiteLedger` (one machine, survives restarts) and `RedisLedger` (several replicas).
Both raise `StateUnavailable` when they cannot answer; a claim that raises did not grant anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Protocol

import structlog

from worker.errors import StateUnavailable
from worker.metrics import StateMetrics

log = structlog.get_logger(__name__)


class ClaimResult(StrEnum):
    """What `SendLedger.claim` found; the values are the metric labels."""

    CLAIMED = "claimed"
    DONE = "done"
    IN_DOUBT = "in_doubt"


class EntryState(StrEnum):
    """What the ledger holds for a key (absent keys have no state)."""

    CLAIMED = "claimed"
    DONE = "done"


class SendLedger(Protocol):
    async def claim(self, key: str) -> ClaimResult:
        """Claim `key` if it is free (durable before it returns); else say what holds it."""

    async def done(self, key: str) -> None:
        """Mark `key` sent, durably before returning. Records it even if the claim expired."""

    async def release(self, key: str) -> bool:
        """Forget a claim whose attempt had no effect. A done key is kept. True if released."""

    async def state(self, key: str) -> EntryState | None:
        """The live state of `key`, or None when absent or expired."""

    async def size(self) -> int:
        """Live entries (claimed or done), for the entries gauge."""

    async def purge_expired(self) -> int:
        """Drop expired entries; return how many were dropped (0 where the backend expires)."""

    async def close(self) -> None: ...


def claim_result(held: EntryState | None) -> ClaimResult:
    """The answer to a claim, from what the key held before it (None: it was free, now ours)."""
    if held is None:
        return ClaimResult.CLAIMED
    return ClaimResult.DONE if held is EntryState.DONE else ClaimResult.IN_DOUBT


def count_claim(metrics: StateMetrics | None, result: ClaimResult) -> ClaimResult:
    if metrics is not None:
        metrics.ledger_claims.labels(result.value).inc()
    return result


async def resolve(ledger: SendLedger, key: str, *, sent: bool) -> EntryState | None:
    """An operator checked the chat of an in-doubt key by hand: record what they found.

    sent=True marks the key done (a redelivery skips the step); sent=False releases the claim so
    the next attempt sends. A key already done stays done: the ledger saw that send succeed.
    """
    if sent:
        await ledger.done(key)
    else:
        await ledger.release(key)
    return await ledger.state(key)


Sleep = Callable[[float], Awaitable[None]]


async def housekeeping(
    ledger: SendLedger,
    metrics: StateMetrics | None,
    *,
    every: float,
    sleep: Sleep = asyncio.sleep,
) -> None:
    """Forever: purge expired entries and set the entries gauge, then wait `every` seconds.

    A failing backend is logged and tried again next round; the writer sees the failure itself
    on its next claim, so this loop must not be what stops the service.
    """
    while True:
        try:
            purged = await ledger.purge_expired()
            entries = await ledger.size()
        except StateUnavailable as exc:
            log.warning("ledger.housekeeping_failed", error=str(exc))
        else:
            if metrics is not None:
                metrics.ledger_entries.set(entries)
            log.debug("ledger.housekeeping", purged=purged, entries=entries)
        await sleep(every)
