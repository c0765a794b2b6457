"""Dead letters: a message that cannot be processed, kept with why, for inspection and replay.

A consumer that gives up on a message publishes it to `<ns>.dead` (the original body, unchanged)
with headers saying what happened and where it came from, waits for the confirm, then acks the
original. Broker-made dead letters (rejected, delivery limit) carry the broker's record of the
message's deaths instead; `reason_of` reads both. A message can die more than once (a Plan
parked on a delay tier "expires" back to the writer, then is rejected there), so the broker's
record is read for the *latest* death (`broker_death`), never just the first.

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
    x-original-message-id  the message id before the `:<rule>` suffix (replay restores it:
                         ids and idempotency keys downstream are derived from it)
    x-replays            how many times `dlq replay` sent it back (copied when it dies again)

`DeadLetter.of(delivery)` is the parsed view the dlq tooling lists; `dead_letter_id` its short,
stable id (the same dead letter gets the same id on every listing).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass

import msgspec

from worker.bus import Bus, Delivery, Message
from worker.bus.interface import HeaderValue
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
            "x-original-message-id": msg.message_id,
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


@dataclass(frozen=True, slots=True)
class BrokerDeath:
    """The broker's record of a message's latest death."""

    reason: str  # rejected, delivery_limit, expired, maxlen
    queue: str | None  # the queue it died in
    exchange: str | None  # the exchange it had been published (or dead-lettered) to


def broker_death(headers: Mapping[str, HeaderValue]) -> BrokerDeath | None:
    """The latest death the broker recorded, or None if it recorded none: `x-last-death-*`
    (both transports set them, worker/bus/deaths.py), else `x-first-death-*` (dead letters
    stored before they did, right as long as the message died once)."""
    for prefix in ("x-last-death-", "x-first-death-"):
        reason = _text(headers, prefix + "reason")
        if reason is not None:
            return BrokerDeath(
                reason, _text(headers, prefix + "queue"), _text(headers, prefix + "exchange")
            )
    return None


def reason_of(delivery: Delivery) -> str:
    """Why a message in the dead-letter queue died, whoever put it there."""
    headers = delivery.message.headers
    ours = _text(headers, "x-dead-reason")
    if ours is not None:
        return ours
    death = broker_death(headers)
    return death.reason if death is not None else "unknown"


# --- the parsed view, for listing and replay -------------------------------------------------

# Headers describing a death (ours and the broker's). A replay strips them, so a message that
# dies again is described by its new death only.
_DEATH_PREFIXES = ("x-dead-", "x-original-", "x-first-death-", "x-last-death-")
_DEATH_HEADERS = frozenset({"x-death", "x-delivery-count"})


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """One dead letter as an operator sees it. None: the dead letter does not say."""

    id: str
    at: float | None  # when it died (epoch seconds); the publish time if nothing better is known
    reason: str
    source: str | None = None  # rules | writer | broker
    chat: str | None = None
    rule: str | None = None
    step: int | None = None
    step_key: str | None = None
    error: str | None = None
    attempts: int | None = None
    replays: int = 0
    message_id: str = ""
    type: str = ""
    exchange: str | None = None  # where it came from (and where replay sends it)
    routing_key: str = ""

    @classmethod
    def of(cls, delivery: Delivery) -> DeadLetter:
        msg = delivery.message
        h = msg.headers
        death = None if "x-dead-reason" in h else broker_death(h)  # None: consumer-made
        exchange = _text(h, "x-original-exchange") or (death.exchange if death else None)
        return cls(
            id=dead_letter_id(delivery),
            at=_died_at(msg),
            reason=reason_of(delivery),
            source="broker" if death is not None else _text(h, "x-dead-source"),
            chat=_text(h, "x-chat-id") or _plan_chat(msg, exchange),
            rule=_text(h, "x-dead-rule") or _text(h, "x-rule"),
            step=_int(h, "x-dead-step"),
            step_key=_text(h, "x-dead-step-key"),
            error=_broker_error(death) if death is not None else _text(h, "x-dead-error"),
            attempts=_int(h, "x-dead-attempts"),
            replays=_int(h, "x-replays") or 0,
            message_id=original_message_id(msg),
            type=msg.type,
            exchange=exchange,
            routing_key=_text(h, "x-original-routing-key") or msg.routing_key,
        )


def dead_letter_id(delivery: Delivery) -> str:
    """12 hex digits naming one dead letter: the same on every listing, different for another
    death of the same message (a later death has another time, or another replay count)."""
    msg = delivery.message
    h = msg.headers
    names = (
        *("x-dead-at-ms", "x-dead-reason", "x-dead-rule", "x-dead-step", "x-replays"),
        *("x-first-death-reason", "x-first-death-queue", "x-first-death-exchange"),
    )
    parts = [msg.message_id, msg.timestamp, *(h.get(n) for n in names)]
    digest = hashlib.sha256(msgspec.json.encode(parts))
    digest.update(hashlib.sha256(msg.body).digest())
    return digest.hexdigest()[:12]


def original_message_id(msg: Message) -> str:
    """The message id before dead-lettering added `:<rule>` to it."""
    original = _text(msg.headers, "x-original-message-id")
    if original is not None:
        return original
    rule = _text(msg.headers, "x-dead-rule")
    suffix = f":{rule}" if rule else ""
    if suffix and msg.message_id.endswith(suffix):  # dead letters made before the header
        return msg.message_id[: -len(suffix)]
    return msg.message_id


def living_headers(headers: Mapping[str, HeaderValue]) -> dict[str, HeaderValue]:
    """The headers without any record of a death: what a replayed message carries."""
    return {
        k: v
        for k, v in headers.items()
        if k not in _DEATH_HEADERS and not k.startswith(_DEATH_PREFIXES)
    }


def _text(h: Mapping[str, HeaderValue], name: str) -> str | None:
    value = h.get(name)
    return str(value) if value is not None and value != "" else None


def _int(h: Mapping[str, HeaderValue], name: str) -> int | None:
    value = h.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _died_at(msg: Message) -> float | None:
    at_ms = _int(msg.headers, "x-dead-at-ms")
    if at_ms is not None:
        return at_ms / 1000
    broker_ms = _int(msg.headers, "x-last-death-at-ms")
    if broker_ms is not None:
        return broker_ms / 1000
    return msg.timestamp


def _broker_error(death: BrokerDeath) -> str:
    reason, queue = death.reason, death.queue
    if reason == "delivery_limit":
        return f"failed too many deliveries in {queue}"
    if reason == "rejected":
        return f"a consumer of {queue} failed on it (unexpected error: see its logs)"
    return f"{reason} in {queue}"


class _ChatOf(msgspec.Struct):
    chat_id: str | None = None


_chat_of = msgspec.json.Decoder(_ChatOf)


def _plan_chat(msg: Message, exchange: str | None) -> str | None:
    """The chat of a Plan that came without an `x-chat-id` header (an external producer's,
    dead-lettered by the broker), read from its body; None for anything else."""
    if msg.type != "plan" and not (exchange or "").endswith(".commands"):
        return None
    try:
        chat = _chat_of.decode(msg.body).chat_id
    except (msgspec.DecodeError, ValueError, RecursionError):  # not a Plan: no chat to show
        return None
    return chat or None
