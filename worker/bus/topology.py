"""The exchanges, queues and bindings, as data. Both transports declare from this.

    <ns>.events   (direct) --shard.<n>--> <ns>.rules.<n>    webhook events
    <ns>.commands (direct) --shard.<n>--> <ns>.writer.<n>   Plans
    <ns>.dead     (fanout) ------------> <ns>.dead           dead letters (rejected, poison, failed)
    <ns>.delay.<t>ms (fanout) ---------> <ns>.delay.<t>ms    TTL t, then dead-lettered back to
                                                             <ns>.commands with its shard key

Shard queues are quorum queues with a single active consumer, a delivery limit and a DLX.

A shard is chosen from the event's ordering key (the chat id when there is one), so all events
of one chat land in one queue, and one active consumer per queue keeps them in order.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Literal

# A message that made a consumer fail this many times is dead-lettered, not retried forever.
DEFAULT_DELIVERY_LIMIT = 20


@dataclass(frozen=True, slots=True)
class ExchangeSpec:
    name: str
    kind: Literal["direct", "fanout"]


@dataclass(frozen=True, slots=True)
class QueueSpec:
    name: str
    bindings: tuple[tuple[str, str], ...] = ()  # (exchange, routing key)
    dead_letter_exchange: str | None = None
    single_active_consumer: bool = False
    delivery_limit: int | None = None
    message_ttl_ms: int | None = None  # delay queues: messages expire into the DLX

    def rabbitmq_arguments(self) -> dict[str, str | int | bool]:
        """Queue arguments for RabbitMQ: durable quorum queues, at-least-once dead-lettering."""
        args: dict[str, str | int | bool] = {"x-queue-type": "quorum"}
        if self.single_active_consumer:
            args["x-single-active-consumer"] = True
        if self.delivery_limit is not None:
            args["x-delivery-limit"] = self.delivery_limit
        if self.message_ttl_ms is not None:
            args["x-message-ttl"] = self.message_ttl_ms
        if self.dead_letter_exchange is not None:
            args["x-dead-letter-exchange"] = self.dead_letter_exchange
            # at-least-once: the message leaves this queue only once the DLQ confirmed it.
            args["x-dead-letter-strategy"] = "at-least-once"
            args["x-overflow"] = "reject-publish"
        return args


@dataclass(frozen=True, slots=True)
class Topology:
    namespace: str
    shards: int
    exchanges: tuple[ExchangeSpec, ...]
    queues: tuple[QueueSpec, ...]
    delays_ms: tuple[int, ...] = ()  # the writer's retry schedule, one delay queue each

    @property
    def events_exchange(self) -> str:
        return f"{self.namespace}.events"

    @property
    def commands_exchange(self) -> str:
        return f"{self.namespace}.commands"

    def writer_queue(self, shard: int) -> str:
        return f"{self.namespace}.writer.{shard}"

    @property
    def writer_queues(self) -> tuple[str, ...]:
        return tuple(self.writer_queue(n) for n in range(self.shards))

    def delay_exchange(self, attempt: int) -> str:
        """Where a Plan waits before attempt `attempt + 1` (attempt 1 waits on the first tier)."""
        return f"{self.namespace}.delay.{self.delays_ms[attempt - 1]}ms"

    @property
    def dead_exchange(self) -> str:
        return f"{self.namespace}.dead"

    @property
    def dead_queue(self) -> str:
        return f"{self.namespace}.dead"

    def rules_queue(self, shard: int) -> str:
        return f"{self.namespace}.rules.{shard}"

    @property
    def rules_queues(self) -> tuple[str, ...]:
        return tuple(self.rules_queue(n) for n in range(self.shards))


def routing_key(shard: int) -> str:
    return f"shard.{shard}"


def shard_of(ordering_key: str, shards: int) -> int:
    """Stable shard of a key: the same in every process and across restarts (not hash())."""
    return zlib.crc32(ordering_key.encode("utf-8", "surrogatepass")) % shards


def _shard_queues(
    stage: str, exchange: str, namespace: str, shards: int, delivery_limit: int
) -> tuple[QueueSpec, ...]:
    return tuple(
        QueueSpec(
            name=f"{namespace}.{stage}.{n}",
            bindings=((exchange, routing_key(n)),),
            dead_letter_exchange=f"{namespace}.dead",
            single_active_consumer=True,
            delivery_limit=delivery_limit,
        )
        for n in range(shards)
    )


def _delay_tiers(
    namespace: str, delays_ms: tuple[int, ...]
) -> tuple[tuple[ExchangeSpec, ...], tuple[QueueSpec, ...]]:
    names = [f"{namespace}.delay.{ms}ms" for ms in delays_ms]
    exchanges = tuple(ExchangeSpec(name, "fanout") for name in names)
    queues = tuple(
        QueueSpec(
            name=name,
            bindings=((name, ""),),
            dead_letter_exchange=f"{namespace}.commands",  # back to the writer, same shard key
            message_ttl_ms=ms,
        )
        for name, ms in zip(names, delays_ms, strict=True)
    )
    return exchanges, queues


def build_topology(
    namespace: str,
    shards: int,
    *,
    delivery_limit: int = DEFAULT_DELIVERY_LIMIT,
    delays: tuple[float, ...] = (),
) -> Topology:
    events, commands, dead = f"{namespace}.events", f"{namespace}.commands", f"{namespace}.dead"
    rules = _shard_queues("rules", events, namespace, shards, delivery_limit)
    writer = _shard_queues("writer", commands, namespace, shards, delivery_limit)
    delays_ms = tuple(round(seconds * 1000) for seconds in delays)
    delay_exchanges, delay_queues = _delay_tiers(namespace, delays_ms)
    return Topology(
        namespace=namespace,
        shards=shards,
        exchanges=(
            ExchangeSpec(events, "direct"),
            ExchangeSpec(commands, "direct"),
            ExchangeSpec(dead, "fanout"),
            *delay_exchanges,
        ),
        queues=(*rules, *writer, QueueSpec(name=dead, bindings=((dead, ""),)), *delay_queues),
        delays_ms=delays_ms,
    )
