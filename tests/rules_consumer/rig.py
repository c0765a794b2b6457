"""One RulesConsumer on the embedded bus, driven directly: the test hands it deliveries (or lets
the bus consume), controls its clock, its sleeps and its memory, and reads what it published."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from consumers.rules.consumer import RulesConsumer
from consumers.rules.guard import Budget, LoopGuard
from consumers.rules.holder import RulesHolder
from tests.rules.support import ruleset
from worker.bus import Delivery, Message
from worker.bus.embedded import ConfirmHook, EmbeddedBus
from worker.bus.topology import Topology, build_topology, routing_key
from worker.errors import StateUnavailable
from worker.metrics import Metrics
from worker.state.memory import LocalMemory, SharedMemory

RECEIVED_MS = 1_762_776_000_000  # 2025-11-10T12:00:00Z: when the ingress took the event in


class Clock:
    """The consumer's clock, moved by the test."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Rig:
    bus: EmbeddedBus
    topology: Topology
    metrics: Metrics = field(default_factory=Metrics.create)
    clock: Clock = field(default_factory=lambda: Clock(RECEIVED_MS / 1000 + 1))
    sleeps: list[float] = field(default_factory=list)

    async def sleep(self, seconds: float) -> None:
        """Zero-wait backoff that records what the consumer asked for."""
        self.sleeps.append(seconds)

    def consumer(
        self,
        rules: str,
        memory: SharedMemory | None = None,
        *,
        budget: Budget | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> RulesConsumer:
        return RulesConsumer(
            bus=self.bus,
            topology=self.topology,
            holder=RulesHolder(Path("test.yaml"), ruleset(rules)),
            guard=LoopGuard(LocalMemory() if memory is None else memory, budget or Budget()),
            publish_timeout=2.0,
            metrics=self.metrics.rules,
            clock=self.clock,
            sleep=sleep or self.sleep,
        )

    async def publish(self, message: Message) -> None:
        await self.bus.publish(self.topology.events_exchange, message, timeout=2)

    def delivery(self, message: Message, *, redelivered: bool = False) -> Delivery:
        return Delivery(
            message,
            self.topology.rules_queue(0),
            self.topology.events_exchange,
            redelivered=redelivered,
            delivery_count=int(redelivered),
        )

    async def take(self, queues: tuple[str, ...]) -> list[Delivery]:
        taken = []
        for queue in queues:
            while (d := await self.bus.get(queue)) is not None:
                taken.append(d)
        return taken

    async def plans(self) -> list[Delivery]:
        return await self.take(self.topology.writer_queues)

    async def dead(self) -> list[Delivery]:
        return await self.take((self.topology.dead_queue,))

    def sample(self, name: str, labels: dict[str, str] | None = None) -> float:
        value = self.metrics.registry.get_sample_value(name, labels or {})
        return 0.0 if value is None else value


async def rig(namespace: str, confirm_hook: ConfirmHook | None = None) -> Rig:
    bus = EmbeddedBus(confirm_hook=confirm_hook)
    topology = build_topology(namespace, shards=1)
    await bus.declare(topology)
    return Rig(bus, topology)


def event_message(
    name: str,
    chat: str,
    key: str,
    data: dict[str, object] | None = None,
    *,
    received_ms: int | None = RECEIVED_MS,
) -> Message:
    """An event as the ingress publishes it (docs/events.md); `key` is its dedup key."""
    body = json.dumps({"eventName": name, "eventData": {"chat": {"_id": chat}, **(data or {})}})
    headers: dict[str, str | int | bool] = {"x-chat-id": chat}
    if received_ms is not None:
        headers["x-received-at-ms"] = received_ms
    return Message(
        body=body.encode(), routing_key=routing_key(0), message_id=key, type=name, headers=headers
    )


class FlakyMemory(LocalMemory):
    """A state backend that is down for the first `failures[op]` calls of each operation
    (all calls when the count is None), as the Redis backend reports it."""

    def __init__(self, failures: dict[str, int | None]) -> None:
        super().__init__()
        self.failures = dict(failures)
        self.failed: list[str] = []

    def _maybe_fail(self, operation: str) -> None:
        if operation not in self.failures:
            return
        left = self.failures[operation]
        if left is not None and left <= 0:
            return
        if left is not None:
            self.failures[operation] = left - 1
        self.failed.append(operation)
        raise StateUnavailable(backend="redis", operation=operation, reason="connection refused")

    async def claim(self, key: str, value: str, ttl: float) -> str:
        self._maybe_fail("claim")
        return await super().claim(key, value, ttl)

    async def put(self, key: str, value: str, ttl: float) -> None:
        self._maybe_fail("put")
        await super().put(key, value, ttl)

    async def get(self, key: str) -> str | None:
        self._maybe_fail("get")
        return await super().get(key)

    async def incr(self, key: str, amount: int, ttl: float) -> int:
        self._maybe_fail("incr")
        return await super().incr(key, amount, ttl)
