"""RabbitMQ transport (aio-pika): confirms, mandatory publishes, quorum queues, robust reconnect.

One robust connection; a publishing channel with publisher confirms and `on_return_raises`
(an unroutable mandatory publish raises instead of vanishing); one channel per consumer with its
own prefetch. aio-pika restores channels, topology and consumers after a reconnect; this module
keeps strong references to everything it consumes with, so nothing is garbage-collected away.
Library exceptions stop here: callers only ever see `worker.errors.BusError` subclasses.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import aio_pika
import aiormq
import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
    AbstractRobustExchange,
)
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_after_delay,
    wait_exponential,
)

from worker.bus.deaths import latest_death
from worker.bus.interface import Delivery, Handler, HeaderValue, Message, Requeue
from worker.bus.topology import Topology
from worker.errors import BusUnavailable, PublishNotConfirmed, PublishRejected, Unroutable
from worker.metrics import BusMetrics
from worker.settings import mask_url

log = structlog.get_logger(__name__)

# Errors that mean "the broker or the link to it is gone", whatever layer noticed first.
_LINK_ERRORS = (
    aiormq.exceptions.AMQPError,
    aiormq.exceptions.ChannelInvalidStateError,
    ConnectionError,
    OSError,
)


def _to_amqp(message: Message) -> aio_pika.Message:
    return aio_pika.Message(
        body=message.body,
        message_id=message.message_id,
        type=message.type or None,
        headers=dict(message.headers),
        timestamp=message.timestamp,
        content_type=message.content_type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )


async def _close_quietly(channel: AbstractChannel) -> None:
    """Close a channel the broker may already have closed (after a 404, say)."""
    with contextlib.suppress(*_LINK_ERRORS, RuntimeError):
        await channel.close()


def _header_value(value: Any) -> HeaderValue:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str | int | bool):
        return value
    return str(value)


def _flat_headers(raw: Mapping[str, Any]) -> dict[str, HeaderValue]:
    """AMQP headers as flat values; the nested `x-death` list becomes `x-last-death-*`."""
    headers = {k: _header_value(v) for k, v in raw.items() if k != "x-death"}
    for name, value in latest_death(raw.get("x-death")).items():
        headers.setdefault(name, value)  # RabbitMQ 3.13+ sets x-last-death-* itself
    return headers


def _to_delivery(incoming: AbstractIncomingMessage, queue: str) -> Delivery:
    headers = _flat_headers(incoming.headers or {})
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
            await self._handler(_to_delivery(incoming, self._queue.name))
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
        except _LINK_ERRORS as exc:
            log.warning("bus.settle_failed", queue=self._queue.name, error=repr(exc))

    async def cancel(self, grace: float = 0.0) -> None:
        """Stop taking deliveries, let the handler in progress finish (up to `grace` seconds),
        then stop; everything not settled goes back to the queue."""
        self._stopping = True
        if self._tag is not None:
            with contextlib.suppress(*_LINK_ERRORS):
                await self._queue.cancel(self._tag)
        if grace > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await self._idle.wait()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        # Closing the channel returns unacked messages to the queue.
        with contextlib.suppress(*_LINK_ERRORS):
            await self._channel.close()


class RabbitBus:
    """The production bus. Build it with `await RabbitBus.connect(url, ...)`."""

    def __init__(
        self,
        connection: AbstractRobustConnection,
        channel: AbstractRobustChannel,
        metrics: BusMetrics | None,
    ) -> None:
        self._connection, self._channel, self._metrics = connection, channel, metrics
        self._exchanges: dict[str, AbstractRobustExchange] = {}
        self._counted: dict[tuple[str, str], Any] = {}  # publishes{exchange,result} children
        self._consumers: list[RabbitConsumer] = []
        self._closing = False
        connection.close_callbacks.add(self._on_disconnect)
        connection.reconnect_callbacks.add(self._on_reconnect)
        self._set_gauge()

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        connect_timeout: float,
        metrics: BusMetrics | None = None,
        name: str = "texter-worker",
    ) -> RabbitBus:
        """Connect, retrying until `connect_timeout`; a refused login fails at once."""
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(aiormq.exceptions.AMQPConnectionError)
            & retry_if_not_exception_type(aiormq.exceptions.ProbableAuthenticationError),
            stop=stop_after_delay(connect_timeout),
            wait=wait_exponential(multiplier=0.2, max=5),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    connection = await aio_pika.connect_robust(
                        url,
                        timeout=min(connect_timeout, 10),
                        reconnect_interval=1,
                        client_properties={"connection_name": name},
                    )
        except _LINK_ERRORS as exc:
            raise BusUnavailable(f"cannot connect to {mask_url(url)}: {exc!r}") from exc
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        log.info("bus.connected", url=mask_url(url))
        return cls(connection, channel, metrics)

    def _on_disconnect(self, *_: Any) -> None:
        if not self._closing:
            log.warning("bus.disconnected")
        self._set_gauge()

    def _on_reconnect(self, *_: Any) -> None:
        log.info("bus.reconnected")
        self._set_gauge()

    def _set_gauge(self) -> None:
        if self._metrics:
            self._metrics.connected.set(1 if self.connected else 0)

    @property
    def connected(self) -> bool:
        return self._connection.connected.is_set() and not self._channel.is_closed

    async def declare(self, topology: Topology) -> None:
        try:
            for ex in topology.exchanges:
                kind = aio_pika.ExchangeType(ex.kind)
                self._exchanges[ex.name] = await self._channel.declare_exchange(
                    ex.name, kind, durable=True
                )
            for spec in topology.queues:
                queue = await self._channel.declare_queue(
                    spec.name, durable=True, arguments=spec.rabbitmq_arguments()
                )
                for exchange, key in spec.bindings:
                    await queue.bind(exchange, key)
        except aiormq.exceptions.ChannelPreconditionFailed as exc:
            raise BusUnavailable(
                f"a queue or exchange exists with other settings ({exc}); "
                "delete it or use another BUS_NAMESPACE"
            ) from exc

    async def publish(self, exchange: str, message: Message, *, timeout: float) -> None:
        if not self.connected:
            self._count(exchange, "unavailable")
            raise BusUnavailable("not connected to RabbitMQ")
        known = self._exchanges.get(exchange)  # the common case skips a coroutine (per webhook)
        target = known if known is not None else await self._exchange(exchange)
        try:
            async with asyncio.timeout(timeout):
                await target.publish(_to_amqp(message), message.routing_key, mandatory=True)
        except TimeoutError:
            self._count(exchange, "unconfirmed")
            raise PublishNotConfirmed(timeout) from None
        except aiormq.exceptions.PublishError as exc:
            self._count(exchange, "unroutable")
            raise Unroutable(exchange, message.routing_key) from exc
        except aiormq.exceptions.DeliveryError as exc:
            self._count(exchange, "rejected")
            raise PublishRejected(f"broker refused the message: {exc!r}") from exc
        except _LINK_ERRORS as exc:
            self._count(exchange, "unavailable")
            raise BusUnavailable(f"publish failed: {exc!r}") from exc
        self._count(exchange, "confirmed")

    def _count(self, exchange: str, result: str) -> None:
        if self._metrics:
            # The children are cached: labels() locks and builds its key on every call, and this
            # runs once per publish (it showed in the ingress profile, docs/performance.md).
            child = self._counted.get((exchange, result))
            if child is None:
                role = exchange.rsplit(".", 1)[-1]
                child = self._counted[exchange, result] = self._metrics.publishes.labels(
                    role, result
                )
            child.inc()

    async def consume(self, queue: str, handler: Handler, *, prefetch: int = 16) -> RabbitConsumer:
        try:
            channel = await self._connection.channel()
        except _LINK_ERRORS as exc:
            raise BusUnavailable(f"cannot open a channel to consume {queue!r}: {exc!r}") from exc
        try:
            await channel.set_qos(prefetch_count=prefetch)
            # ensure=True (a passive declare) registers the queue with the robust channel, which
            # is what makes aio-pika consume from it again after a reconnect.
            q = await channel.get_queue(queue)
        except aiormq.exceptions.ChannelNotFoundEntity as exc:
            await _close_quietly(channel)
            raise Unroutable("", queue) from exc  # no such queue
        except _LINK_ERRORS as exc:
            await _close_quietly(channel)
            raise BusUnavailable(f"cannot consume {queue!r}: {exc!r}") from exc
        consumer = RabbitConsumer(channel, q, handler)
        await consumer.start()
        self._consumers.append(consumer)  # strong reference: consumers must outlive reconnects
        return consumer

    async def get(self, queue: str, *, wait: float = 5.0) -> Delivery | None:
        """One message via a short-lived consumer: quorum queues with a single active consumer
        refuse basic.get. Waits at most `wait` when another consumer is active."""
        if await self.queue_depth(queue) == 0:
            return None
        channel = await self._connection.channel()
        first: asyncio.Future[AbstractIncomingMessage] = asyncio.get_running_loop().create_future()

        async def take(incoming: AbstractIncomingMessage) -> None:
            if not first.done():
                first.set_result(incoming)

        try:
            # prefetch 1 + cancel before ack: no second message is ever handed to this
            # consumer, so none sits unacked (and uncounted) while the channel closes.
            await channel.set_qos(prefetch_count=1)
            q = await channel.get_queue(queue, ensure=False)
            tag = await q.consume(take)
            try:
                async with asyncio.timeout(wait):
                    incoming = await first
            finally:
                await q.cancel(tag)
            await incoming.ack()
            return _to_delivery(incoming, queue)
        except TimeoutError:
            return None
        finally:
            with contextlib.suppress(*_LINK_ERRORS):
                await channel.close()

    async def browse(self, queue: str, limit: int = 100) -> list[Delivery]:
        return await self._sweep(queue, lambda _: False, limit, keep_all=True)

    async def take(
        self, queue: str, wanted: Callable[[Delivery], bool], limit: int = 10_000
    ) -> list[Delivery]:
        return await self._sweep(queue, wanted, limit, keep_all=False)

    async def _sweep(
        self, queue: str, wanted: Callable[[Delivery], bool], limit: int, *, keep_all: bool
    ) -> list[Delivery]:
        """Receive every message ready now on a private channel; ack the wanted ones, and let
        closing the channel return all others to the queue untouched."""
        depth = await self.queue_depth(queue)
        if depth == 0:
            return []
        channel = await self._connection.channel()
        seen: list[AbstractIncomingMessage] = []
        all_in = asyncio.Event()

        async def collect(incoming: AbstractIncomingMessage) -> None:
            seen.append(incoming)
            if len(seen) >= depth:
                all_in.set()

        result: list[Delivery] = []
        try:
            await channel.set_qos(prefetch_count=min(depth, 10_000))
            q = await channel.get_queue(queue, ensure=False)
            tag = await q.consume(collect)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10):
                    await all_in.wait()
            await q.cancel(tag)
            for incoming in seen:
                delivery = _to_delivery(incoming, queue)
                if keep_all:
                    if len(result) < limit:
                        result.append(delivery)
                elif len(result) < limit and wanted(delivery):
                    await incoming.ack()
                    result.append(delivery)
        finally:
            with contextlib.suppress(*_LINK_ERRORS):
                await channel.close()
        await self._settled(queue, len(seen) - (0 if keep_all else len(result)))
        return result

    async def _settled(self, queue: str, returned: int, within: float = 5.0) -> None:
        """Quorum queues count messages returned by a closed channel a moment later; wait for
        that, so the next operation sees the queue as it is (bounded by `within`)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                while await self.queue_depth(queue) < returned:  # noqa: ASYNC110 - broker state
                    await asyncio.sleep(0.01)

    @contextlib.asynccontextmanager
    async def _admin(self) -> AsyncIterator[aiormq.abc.AbstractChannel]:
        """A short-lived raw channel: a failed passive check closes it, not the publisher's."""
        channel = await self._connection.channel()
        try:
            yield await channel.get_underlay_channel()
        finally:
            with contextlib.suppress(*_LINK_ERRORS):
                await channel.close()

    async def _exchange(self, name: str) -> AbstractExchange:
        """The exchange to publish to. Unknown ones are checked first, because publishing to a
        missing exchange makes the broker close the publishing channel."""
        known = self._exchanges.get(name)
        if known is not None:
            return known
        try:
            async with self._admin() as raw:
                await raw.exchange_declare(name, passive=True)
        except aiormq.exceptions.ChannelNotFoundEntity as exc:
            raise Unroutable(name, "") from exc
        except _LINK_ERRORS as exc:
            raise BusUnavailable(f"cannot check exchange {name!r}: {exc!r}") from exc
        exchange = await self._channel.get_exchange(name, ensure=False)
        self._exchanges[name] = exchange  # type: ignore[assignment]
        return exchange

    async def queue_depth(self, queue: str) -> int:
        try:
            async with self._admin() as raw:
                ok = await raw.queue_declare(queue, passive=True)
        except aiormq.exceptions.ChannelNotFoundEntity as exc:
            raise Unroutable("", queue) from exc  # no such queue
        except _LINK_ERRORS as exc:
            raise BusUnavailable(f"cannot read queue {queue!r}: {exc!r}") from exc
        return int(ok.message_count or 0)

    async def delete(self, topology: Topology) -> None:
        async with self._admin() as raw:
            for spec in topology.queues:
                await raw.queue_delete(spec.name)
            for ex in topology.exchanges:
                await raw.exchange_delete(ex.name)
                self._exchanges.pop(ex.name, None)

    async def close(self) -> None:
        self._closing = True
        for consumer in self._consumers:
            await consumer.cancel()  # no-op for consumers already stopped with a grace
        self._consumers.clear()
        with contextlib.suppress(*_LINK_ERRORS):
            await self._connection.close()
        if self._metrics:
            self._metrics.connected.set(0)
