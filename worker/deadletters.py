"""Dead letters: a message that cannot be processed, kept with why, for inspection and replay.

A consumer that gives up on a message publishes it to `<ns>.dead` (the original body, unchanged)
with headers saying what happened and where it came from, waits for the confirm, then acks the
original. Broker-made dead letters (rejected, delivery limit) carry `x-first-death-*` instead;
`reason_of` reads both.

    x-dead-reason        poison, rule_error, budget_exceeded, permanent, retries_exhausted,
                         in_doubt
    x-dead-error         what went wrong, for a person (trimmed)
    x-dead-source        rules | writer
    x-dead-rule          the rule involved, when there is one
    x-dead-step          the failed step index, when there is one
    x-dead-step-key      the failed step's idempotency key (the ledger key of an in-doubt send)
    x-dead-attempts      deliveries/attempts so far
    x-dead-at-ms         when it was dead-lettered (epoch ms)
    x-original-exchange, x-original-routing-key   where replay sends it back
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from worker.bus import Bus, Delivery, Message
from worker.bus.topology import Topology

MAX_ERROR_CHARS = 1000
REASONS = (
    "poison",
    "rule_error",
    "budget_exceeded",
    "permanent",
    "retries_exhausted",
    "in_doubt",
    "rejected",
    "delivery_limit",
)


@dataclass(frozen=True, slots=True)
class Why:
    reason: str
    error: str
    source: str
    rule: str | None = None
    step: int | None = None
    attempts: int = 1
    step_key: str | None = None


def dead_letter_message(original: Delivery, why: Why, now: float | None = None) -> Message:
    msg = original.message
    headers: dict[str, str | int | bool] = dict(msg.headers)
    headers.update(
        {
            "x-dead-reason": why.reason,
            "x-dead-error": why.error[:MAX_ERROR_CHARS],
            "x-dead-source": why.source,
            "x-dead-attempts": why.attempts,
            "x-dead-at-ms": int((now if now is not None else time.time()) * 1000),
            "x-original-exchange": original.exchange,
            "x-original-routing-key": msg.routing_key,
        }
    )
    if why.rule is not None:
        headers["x-dead-rule"] = why.rule
    if why.step is not None:
        headers["x-dead-step"] = why.step
    if why.step_key is not None:
        headers["x-dead-step-key"] = why.step_key
    suffix = f":{why.rule}" if why.rule else ""
    return Message(
        body=msg.body,
        routing_key=msg.routing_key,
        message_id=f"{msg.message_id}{suffix}"[:250],
        type=msg.type,
        headers=headers,
        timestamp=msg.timestamp,
        content_type=msg.content_type,
    )


async def publish_dead_letter(
    bus: Bus, topology: Topology, original: Delivery, why: Why, *, timeout: float
) -> None:
    """Publish to the dead-letter exchange and wait for the confirm (raises BusError)."""
    await bus.publish(topology.dead_exchange, dead_letter_message(original, why), timeout=timeout)


def reason_of(delivery: Delivery) -> str:
    """Why a message in the dead-letter queue died, whoever put it there."""
    reason = delivery.message.headers.get("x-dead-reason") or delivery.death_reason
    return str(reason) if reason else "unknown"
