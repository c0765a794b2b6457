"""RabbitMQ transport (aio-pika): confirms, mandatory publishes, quorum queues, robust reconnect.

One robust connection; a publishing channel with publisher confirms and `on_return_raises`
(an unroutable mandatory publish raises instead of vanishing); one channel per consumer with its
own prefetch (`rabbitmq_consumer.py`; messages converted in `amqp_messages.py`). aio-pika
restores channels, topology and consumers after a reconnect; this module keeps strong
references to everything it consumes with, so nothing is garbage-collected away.
Library exceptions stop here: callers only ever see `worker.errors.BusError` subclasses.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import aio_pika
import aiormq
import structlog
from aio_pika.abc import (
    AbstractExchange,
    AbstractIncomingMessage,
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

from worker.bus.amqp_messages import LINK_ERRORS, close_quietly, to_amqp, to_delivery
from worker.bus.interface import Delivery, Handler, Message
from worker.bus.rabbitmq_consumer import RabbitConsumer
from worker.bus.topology import Topology
from worker.errors import BusUnavailable, PublishNotConfirmed, PublishRejected, Unroutable
from worker.metrics import BusMetrics
from worker.settings import mask_url

log = structlog.get_logger(__name__)


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
        except LINK_ERRORS as exc:
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
                await target.publish(to_amqp(message), message.routing_key, mandatory=True)
        except TimeoutError:
            self._count(exchange, "unconfirmed")
            raise PublishNotConfirmed(timeout) from None
        except aiormq.exceptions.PublishError as exc:
            self._count(exchange, "unroutable")
            raise Unroutable(exchange, message.routing_key) from exc
        except aiormq.exceptions.DeliveryError as exc:
            self._count(exchange, "rejected")
            raise PublishRejected(f"broker refused the message: {exc!r}") from exc
        except LINK_ERRORS as exc:
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
        except LINK_ERRORS as exc:
            raise BusUnavailable(f"cannot open a channel to consume {queue!r}: {exc!r}") from exc
        try:
            await channel.set_qos(prefetch_count=prefetch)
            # ensure=True (a passive declare) registers the queue with the robust channel, which
            # is what makes aio-pika consume from it again after a reconnect.
            q = await channel.get_queue(queue)
        except aiormq.exceptions.ChannelNotFoundEntity as exc:
            await close_quietly(channel)
            raise Unroutable("", queue) from exc  # no such queue
        except LINK_ERRORS as exc:
            await close_quietly(channel)
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
            return to_delivery(incoming, queue)
        except TimeoutError:
            return None
        finally:
            with contextlib.suppress(*LINK_ERRORS):
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
                delivery = to_delivery(incoming, queue)
                if keep_all:
                    if len(result) < limit:
                        result.append(delivery)
                elif len(result) < limit and wanted(delivery):
                    await incoming.ack()
                    result.append(delivery)
        finally:
            with contextlib.suppress(*LINK_ERRORS):
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
            with contextlib.suppress(*LINK_ERRORS):
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
        except LINK_ERRORS as exc:
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
        except LINK_ERRORS as exc:
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
        with contextlib.suppress(*LINK_ERRORS):
            await self._connection.close()
        if self._metrics:
            self._metrics.connected.set(0)
