"""One RabbitMQ queue consumed on its own channel, settled in one place.

aio-pika runs each delivery's callback in a task of its own; this consumer feeds an inbox
processed one message at a time instead, which is what keeps per-chat order. Settling happens
only in `_settle`: a handler that returns is acked, `Requeue` puts the message back, any other
exception rejects it to the queue's dead-letter exchange.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue

from worker.bus.amqp_messages import LINK_ERRORS, to_delivery
from worker.bus.interface import Handler, Requeue

log = structlog.get_logger(__name__)


class RabbitConsumer:
    """One queue consumed on its own channel; handlers run one at a time, in arrival order."""

    def __init__(self, channel: AbstractChannel, queue: AbstractQueue, handler: Handler) -> None:
        self._channel, self._queue, self._handler = channel, queue, handler
        self._inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self._tag: str | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"consume:{queue.name}")

    async def start(self) -> None:
        self._tag = await self._queue.consume(self._inbox.put)

    @property
    def alive(self) -> bool:
        """Consuming now: its loop runs and its channel is open (false while reconnecting)."""
        return not self._task.done() and not self._stopping and not self._channel.is_closed

    async def _run(self) -> None:
        while True:
            incoming = await self._inbox.get()
            if self._stopping:
                return  # not started: it goes back to the queue when the channel closes
            self._idle.clear()
            try:
                await self._settle(incoming)
            finally:
                self._idle.set()

    async def _settle(self, incoming: AbstractIncomingMessage) -> None:
        """The one place a RabbitMQ message is acked, requeued or rejected."""
        try:
            await self._handler(to_delivery(incoming, self._queue.name))
        except Requeue:
            await self._safely(incoming.nack(requeue=True))
        except Exception as exc:  # noqa: BLE001 - any handler failure means reject
            log.warning("bus.rejected", queue=self._queue.name, error=repr(exc))
            await self._safely(incoming.reject(requeue=False))
        else:
            await self._safely(incoming.ack())

    async def _safely(self, settle: Any) -> None:
        # After a reconnect the delivery tag is stale; the broker redelivers the message and
        # the consumers' idempotency absorbs the duplicate. Nothing to do but note it.
        try:
            await settle
        except LINK_ERRORS as exc:
            log.warning("bus.settle_failed", queue=self._queue.name, error=repr(exc))

    async def cancel(self, grace: float = 0.0) -> None:
        """Stop taking deliveries, let the handler in progress finish (up to `grace` seconds),
        then stop; everything not settled goes back to the queue."""
        self._stopping = True
        if self._tag is not None:
            with contextlib.suppress(*LINK_ERRORS):
                await self._queue.cancel(self._tag)
        if grace > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await self._idle.wait()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        # Closing the channel returns unacked messages to the queue.
        with contextlib.suppress(*LINK_ERRORS):
            await self._channel.close()
