"""RabbitMQ messages to and from the bus's own: properties, flat headers, deliveries.

Library types stop here: the rest of the transport and everything above it see
`worker.bus.Message` and `Delivery`. The nested `x-death` list becomes flat `x-last-death-*`
headers (worker/bus/deaths.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from worker.bus.deaths import latest_death
from worker.bus.interface import Delivery, HeaderValue, Message

# Errors that mean "the broker or the link to it is gone", whatever layer noticed first.
LINK_ERRORS = (
    aiormq.exceptions.AMQPError,
    aiormq.exceptions.ChannelInvalidStateError,
    ConnectionError,
    OSError,
)


async def close_quietly(channel: AbstractChannel) -> None:
    """Close a channel the broker may already have closed (after a 404, say)."""
    with contextlib.suppress(*LINK_ERRORS, RuntimeError):
        await channel.close()


def to_amqp(message: Message) -> aio_pika.Message:
    return aio_pika.Message(
        body=message.body,
        message_id=message.message_id,
        type=message.type or None,
        headers=dict(message.headers),
        timestamp=message.timestamp,
        content_type=message.content_type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )


def _header_value(value: Any) -> HeaderValue:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str | int | bool):
        return value
    return str(value)


def flat_headers(raw: Mapping[str, Any]) -> dict[str, HeaderValue]:
    """AMQP headers as flat values; the nested `x-death` list becomes `x-last-death-*`."""
    headers = {k: _header_value(v) for k, v in raw.items() if k != "x-death"}
    for name, value in latest_death(raw.get("x-death")).items():
        headers.setdefault(name, value)  # RabbitMQ 3.13+ sets x-last-death-* itself
    return headers


def to_delivery(incoming: AbstractIncomingMessage, queue: str) -> Delivery:
    headers = flat_headers(incoming.headers or {})
    count = headers.get("x-delivery-count", 0)
    stamp = incoming.timestamp
    message = Message(
        body=incoming.body,
        routing_key=incoming.routing_key or "",
        message_id=incoming.message_id or "",
        type=incoming.type or "",
        headers=headers,
        timestamp=stamp.timestamp() if stamp else None,
        content_type=incoming.content_type or "",
    )
    return Delivery(
        message=message,
        queue=queue,
        exchange=incoming.exchange or "",
        redelivered=bool(incoming.redelivered),
        delivery_count=count if isinstance(count, int) else 0,
    )
