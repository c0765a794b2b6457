"""The bus contract both transports implement, and the messages that cross it.

Settlement happens in exactly one place, each transport's dispatcher: a handler that returns
has its message acked; one that raises `Requeue` has it put back (delivered again later);
one that raises anything else has it rejected, and the queue's dead-letter exchange takes it.
Handlers of one consumer run one at a time, in queue order: per-chat order depends on it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from worker.bus.topology import Topology

HeaderValue = str | int | bool


@dataclass(frozen=True, slots=True)
class Message:
    """What a producer publishes. `body` travels unchanged, byte for byte."""

    body: bytes
    routing_key: str
    message_id: str
    type: str = ""
    headers: Mapping[str, HeaderValue] = field(default_factory=dict)
    timestamp: float | None = None  # epoch seconds; AMQP keeps whole seconds
    content_type: str = "application/json"


@dataclass(frozen=True, slots=True)
class Delivery:
    """What a consumer receives: the message plus how it travelled."""

    message: Message
    queue: str
    exchange: str
    redelivered: bool = False
    delivery_count: int = 0  # earlier unsuccessful deliveries (quorum queue x-delivery-count)

    @property
    def death_reason(self) -> str | None:
        """Why a dead-lettered message last died (rejected, delivery_limit, ...), else None.
        The latest death, not the first: see worker/bus/deaths.py."""
        headers = self.message.headers
        reason = headers.get("x-last-death-reason", headers.get("x-first-death-reason"))
        return reason if isinstance(reason, str) else None


class Requeue(Exception):
    """Raised by a handler to put the message back for a later delivery (not a failure)."""


Handler = Callable[[Delivery], Awaitable[None]]


class Consumer(Protocol):
    @property
    def alive(self) -> bool:
        """True while it is consuming (false while stopped, failed or reconnecting)."""

    async def cancel(self, grace: float = 0.0) -> None:
        """Stop receiving; let the handler in progress finish (up to `grace` seconds); messages
        not settled by then go back to the queue."""


class Bus(Protocol):
    """Publish with confirm, consume with ack, dead-letter on reject."""

    @property
    def connected(self) -> bool:
        """True while messages can be published."""

    async def declare(self, topology: Topology) -> None:
        """Create exchanges, queues and bindings (idempotent)."""

    async def publish(self, exchange: str, message: Message, *, timeout: float) -> None:
        """Return once the broker confirmed the message; raise a BusError otherwise."""

    async def consume(self, queue: str, handler: Handler, *, prefetch: int = 16) -> Consumer:
        """Deliver the queue's messages to `handler`, one at a time, in order."""

    async def get(self, queue: str) -> Delivery | None:
        """Take one message off a queue (acked), or None when it is empty."""

    async def queue_depth(self, queue: str) -> int:
        """Messages ready in the queue (not counting unacked ones)."""

    async def browse(self, queue: str, limit: int = 100) -> list[Delivery]:
        """Up to `limit` messages from the head of a queue, left in place (for inspection).
        Meant for queues without a consumer, such as the dead-letter queue."""

    async def take(
        self, queue: str, wanted: Callable[[Delivery], bool], limit: int = 10_000
    ) -> list[Delivery]:
        """Remove and return the messages `wanted` selects (at most `limit`); leave the rest.
        Meant for queues without a consumer (replaying or purging dead letters)."""

    async def delete(self, topology: Topology) -> None:
        """Remove every queue and exchange of the topology (tests, uninstall)."""

    async def close(self) -> None:
        """Cancel consumers and close connections."""
