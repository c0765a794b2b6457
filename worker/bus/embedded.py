"""The embedded transport: RabbitMQ's semantics in one process, for the demo and small installs.

It mirrors what the contract tests check on RabbitMQ: direct and fanout routing, mandatory
publishes (no queue → `Unroutable`), confirms, ordered delivery to one active consumer per queue,
ack / requeue / reject, dead-lettering with `x-first-death-*` and `x-last-death-*` headers
(worker/bus/deaths.py), and quorum queues' delivery limit. It is not durable: everything in it
is lost when the process stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

import structlog

from worker.bus.deaths import death_headers
from worker.bus.interface import Delivery, Handler, Message, Requeue
from worker.bus.topology import ExchangeSpec, QueueSpec, Topology
from worker.errors import BusUnavailable, PublishNotConfirmed, Unroutable
from worker.metrics import BusMetrics

log = structlog.get_logger(__name__)

ConfirmHook = Callable[[Message], Awaitable[None]]


@dataclass
class _Entry:
    message: Message
    exchange: str
    failures: int = 0  # unsuccessful deliveries so far (requeues)
    expires_at: float | None = None  # loop time, in queues with a message TTL


@dataclass
class _Queue:
    spec: QueueSpec
    ready: deque[_Entry] = field(default_factory=deque)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    consumers: list[_EmbeddedConsumer] = field(default_factory=list)

    def put(self, entry: _Entry, *, front: bool = False) -> None:
        (self.ready.appendleft if front else self.ready.append)(entry)
        self.arrived.set()

    def active(self, consumer: _EmbeddedConsumer) -> bool:
        """Single active consumer: only the earliest registered consumer is fed."""
        return not self.spec.single_active_consumer or self.consumers[0] is consumer


class _EmbeddedConsumer:
    def __init__(self, bus: EmbeddedBus, queue: _Queue, handler: Handler) -> None:
        self._bus, self._queue, self._handler = bus, queue, handler
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"consume:{queue.spec.name}")

    async def _run(self) -> None:
        q = self._queue
        while not self._stopping:
            if not q.ready or not q.active(self):
                q.arrived.clear()
                await q.arrived.wait()
                continue
            entry = q.ready.popleft()
            self._idle.clear()
            try:
                await self._deliver(entry)
            except asyncio.CancelledError:
                # Unsettled at shutdown: back where it was, as a redelivery that counts toward
                # the delivery limit (what a quorum queue does when a channel closes).
                self._bus.requeue(q, entry)
                raise
            finally:
                self._idle.set()

    async def _deliver(self, entry: _Entry) -> None:
        delivery = Delivery(
            message=entry.message,
            queue=self._queue.spec.name,
            exchange=entry.exchange,
            redelivered=entry.failures > 0,
            delivery_count=entry.failures,
        )
        try:
            await self._handler(delivery)
        except Requeue:
            self._bus.requeue(self._queue, entry)
        except Exception as exc:  # noqa: BLE001 - any handler failure means reject
            log.warning("bus.rejected", queue=self._queue.spec.name, error=repr(exc))
            self._bus.dead_letter(self._queue, entry, "rejected")

    @property
    def alive(self) -> bool:
        return not self._task.done() and not self._stopping and self._bus.connected

    async def cancel(self, grace: float = 0.0) -> None:
        self._stopping = True
        if grace > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await self._idle.wait()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        if self in self._queue.consumers:
            self._queue.consumers.remove(self)
            self._queue.arrived.set()  # wake the next consumer, now active


class EmbeddedBus:
    """In-process bus. `confirm_hook` (tests) runs before a publish is confirmed."""

    def __init__(
        self, metrics: BusMetrics | None = None, confirm_hook: ConfirmHook | None = None
    ) -> None:
        self._metrics = metrics
        self._confirm_hook = confirm_hook
        self._exchanges: dict[str, ExchangeSpec] = {}
        self._bindings: dict[str, list[tuple[str, str]]] = {}  # exchange -> (key, queue)
        self._queues: dict[str, _Queue] = {}
        self._available = True
        if metrics:
            metrics.connected.set(1)

    @property
    def connected(self) -> bool:
        return self._available

    def set_available(self, available: bool) -> None:
        """Simulate a broker outage (tests): publishes fail with BusUnavailable meanwhile."""
        self._available = available
        if self._metrics:
            self._metrics.connected.set(1 if available else 0)

    async def declare(self, topology: Topology) -> None:
        for ex in topology.exchanges:
            self._exchanges.setdefault(ex.name, ex)
            self._bindings.setdefault(ex.name, [])
        for spec in topology.queues:
            self._queues.setdefault(spec.name, _Queue(spec))
            for exchange, key in spec.bindings:
                if (key, spec.name) not in self._bindings[exchange]:
                    self._bindings[exchange].append((key, spec.name))

    def _route(self, exchange: str, routing_key: str) -> list[_Queue]:
        spec = self._exchanges.get(exchange)
        if spec is None:
            raise Unroutable(exchange, routing_key)
        names = [
            q for key, q in self._bindings[exchange] if spec.kind == "fanout" or key == routing_key
        ]
        return [self._queues[n] for n in names]

    async def publish(self, exchange: str, message: Message, *, timeout: float) -> None:
        if not self._available:
            raise BusUnavailable("embedded bus is unavailable (simulated outage)")
        targets = self._route(exchange, message.routing_key)
        if not targets:
            self._count(exchange, "unroutable")
            raise Unroutable(exchange, message.routing_key)
        for queue in targets:
            self._enqueue(queue, _Entry(message, exchange))
        if self._confirm_hook is not None:
            try:
                async with asyncio.timeout(timeout):
                    await self._confirm_hook(message)
            except TimeoutError:
                self._count(exchange, "unconfirmed")
                raise PublishNotConfirmed(timeout) from None
        self._count(exchange, "confirmed")

    def _enqueue(self, queue: _Queue, entry: _Entry) -> None:
        ttl_ms = queue.spec.message_ttl_ms
        if ttl_ms is not None:
            loop = asyncio.get_running_loop()
            entry.expires_at = loop.time() + ttl_ms / 1000
            loop.call_at(entry.expires_at, self._expire, queue)
        queue.put(entry)

    def _expire(self, queue: _Queue) -> None:
        """Dead-letter the expired messages at the head (all of a queue's messages share one
        TTL, so they expire in order, as in RabbitMQ)."""
        now = asyncio.get_running_loop().time()
        while queue.ready and (queue.ready[0].expires_at or now + 1) <= now:
            self.dead_letter(queue, queue.ready.popleft(), "expired")

    def _count(self, exchange: str, result: str) -> None:
        if self._metrics:
            role = exchange.rsplit(".", 1)[-1]
            self._metrics.publishes.labels(role, result).inc()

    def requeue(self, queue: _Queue, entry: _Entry) -> None:
        entry.failures += 1
        limit = queue.spec.delivery_limit
        if limit is not None and entry.failures > limit:
            self.dead_letter(queue, entry, "delivery_limit")
        else:
            queue.put(entry, front=True)

    def dead_letter(self, queue: _Queue, entry: _Entry, reason: str) -> None:
        dlx = queue.spec.dead_letter_exchange
        if dlx is None:
            log.warning("bus.dropped", queue=queue.spec.name, reason=reason)
            return
        headers = dict(entry.message.headers)
        headers.setdefault("x-first-death-reason", reason)
        headers.setdefault("x-first-death-queue", queue.spec.name)
        headers.setdefault("x-first-death-exchange", entry.exchange)
        at_ms = int(time.time() * 1000)
        headers.update(death_headers(reason, queue.spec.name, entry.exchange, at_ms))
        dead = replace(entry.message, headers=headers)
        for target in self._route(dlx, dead.routing_key):
            self._enqueue(target, _Entry(dead, dlx))

    def _queue(self, name: str) -> _Queue:
        """A declared queue; a missing one is a BusError, as on RabbitMQ (never a KeyError)."""
        q = self._queues.get(name)
        if q is None:
            raise Unroutable("", name)
        return q

    async def consume(
        self, queue: str, handler: Handler, *, prefetch: int = 16
    ) -> _EmbeddedConsumer:
        q = self._queue(queue)
        consumer = _EmbeddedConsumer(self, q, handler)
        q.consumers.append(consumer)
        return consumer

    async def get(self, queue: str) -> Delivery | None:
        q = self._queue(queue)
        if not q.ready:
            return None
        entry = q.ready.popleft()
        return Delivery(entry.message, queue, entry.exchange, entry.failures > 0, entry.failures)

    async def queue_depth(self, queue: str) -> int:
        return len(self._queue(queue).ready)

    async def browse(self, queue: str, limit: int = 100) -> list[Delivery]:
        entries = list(self._queue(queue).ready)[:limit]
        return [Delivery(e.message, queue, e.exchange, e.failures > 0, e.failures) for e in entries]

    async def take(
        self, queue: str, wanted: Callable[[Delivery], bool], limit: int = 10_000
    ) -> list[Delivery]:
        q = self._queue(queue)
        taken: list[Delivery] = []
        kept: deque[_Entry] = deque()
        for entry in q.ready:
            d = Delivery(entry.message, queue, entry.exchange, entry.failures > 0, entry.failures)
            if len(taken) < limit and wanted(d):
                taken.append(d)
            else:
                kept.append(entry)
        q.ready = kept
        return taken

    async def delete(self, topology: Topology) -> None:
        for spec in topology.queues:
            q = self._queues.pop(spec.name, None)
            for consumer in list(q.consumers if q else ()):
                await consumer.cancel()
        for ex in topology.exchanges:
            self._exchanges.pop(ex.name, None)
            self._bindings.pop(ex.name, None)

    async def close(self) -> None:
        for q in self._queues.values():
            for consumer in list(q.consumers):
                await consumer.cancel()
        if self._metrics:
            self._metrics.connected.set(0)
