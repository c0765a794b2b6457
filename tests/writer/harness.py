"""The writer role running on a bus against the fake Texter, and helpers to feed it Plans.

`writer` is the real service with the writer role; `direct_writer` builds the WriterConsumer
itself, for tests that hand it its ledger, memory, runner and sleep (state outages).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from consumers.writer.consumer import WriterConfig, WriterConsumer
from consumers.writer.guarded import StateRetry
from consumers.writer.steps import StepRunner
from simulator.server import FakeTexter
from tests.conftest import wait_for
from tests.ingress.harness import make_settings
from worker.bus import Bus, Delivery, Message, build_topology, shard_of
from worker.bus.topology import Topology, routing_key
from worker.metrics import Metrics
from worker.plans import Plan, encode_plan
from worker.runtime import service
from worker.settings import Settings
from worker.state.ledger import SendLedger
from worker.state.memory import LocalMemory, SharedMemory
from worker.texter.client import TexterClient, open_client_from_settings

TOKEN = "writer-test-token-0123456789"
DELAYS = (0.05, 0.1, 0.2)


@dataclass
class Writer:
    bus: Bus
    topology: Topology
    fake: FakeTexter
    metrics: Metrics
    memory: SharedMemory
    waits: list[float] = field(default_factory=list)  # what the consumer slept (direct_writer)

    def chat(self, title: str) -> str:
        return next(c.id for c in self.fake.state.chats.values() if c.title == title)

    async def submit(self, plan: Plan) -> None:
        key = routing_key(shard_of(plan.chat_id or plan.id, self.topology.shards))
        message = Message(body=encode_plan(plan), routing_key=key, message_id=plan.id, type="plan")
        await self.bus.publish(self.topology.commands_exchange, message, timeout=5)

    def answered(self, path_part: str, status: int | None = None) -> int:
        return sum(
            1
            for c in self.fake.calls
            if path_part in c.path and (status is None or c.status == status)
        )

    async def until_answered(self, path_part: str, count: int, status: int = 200) -> None:
        async def enough() -> bool:
            return self.answered(path_part, status) >= count

        await wait_for(enough)

    async def dead(self, count: int) -> list[Delivery]:
        async def arrived() -> bool:
            return await self.bus.queue_depth(self.topology.dead_queue) >= count

        await wait_for(arrived)
        return await self.bus.take(self.topology.dead_queue, lambda d: True)

    def plans_counted(self, outcome: str) -> float:
        return self.metrics.writer.plans.labels(outcome)._value.get()

    async def until_plans(self, outcome: str, count: int) -> None:
        async def enough() -> bool:
            return self.plans_counted(outcome) >= count

        await wait_for(enough)


def writer_settings(
    namespace: str, fake: FakeTexter, state_dir: Path, **overrides: object
) -> Settings:
    return make_settings(
        namespace,
        texter_base_url=fake.url,
        texter_api_token=TOKEN,
        state_dir=state_dir,
        delay_schedule=DELAYS,
        texter_retry_attempts=1,  # every failure goes the writer's way, not the client's
        texter_rate_limit=1000.0,
        texter_rate_burst=1000,
        **overrides,
    )


@asynccontextmanager
async def writer(
    namespace: str, bus: Bus, fake: FakeTexter, state_dir: Path, **overrides: object
) -> AsyncIterator[Writer]:
    settings = writer_settings(namespace, fake, state_dir, **overrides)
    metrics, memory = Metrics.create(), LocalMemory()
    async with service(
        settings, metrics, bus=bus, roles=frozenset({"writer"}), memory=memory
    ) as running:
        yield Writer(bus, running.topology, fake, metrics, memory)


Runner = Callable[[TexterClient, aiohttp.ClientSession], StepRunner]


@asynccontextmanager
async def direct_writer(
    namespace: str,
    bus: Bus,
    fake: FakeTexter,
    state_dir: Path,
    *,
    ledger: SendLedger,
    memory: SharedMemory,
    retry: StateRetry,
    runner: Runner = StepRunner,
) -> AsyncIterator[Writer]:
    """A WriterConsumer on every writer queue, as `start_writer` builds it, but with this
    ledger, memory, state retry and runner, and a sleep that records the wait and returns."""
    settings = writer_settings(namespace, fake, state_dir)
    topology = build_topology(namespace, settings.bus_shards, delays=DELAYS)
    await bus.declare(topology)
    metrics = Metrics.create()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        # The zero-wait mode of the retries (DESIGN habit 7): no time passes, but yield once,
        # as a real sleep would, so a retrying shard never starves the others.
        await asyncio.sleep(0)

    async with (
        open_client_from_settings(settings, metrics=metrics.texter) as client,
        aiohttp.ClientSession() as http,
    ):
        consumer = WriterConsumer(
            bus=bus,
            topology=topology,
            runner=runner(client, http),
            ledger=ledger,
            memory=memory,
            config=WriterConfig(publish_timeout=5, echo_window=60, state_retry=retry),
            metrics=metrics.writer,
            sleep=sleep,
        )
        consumers = [await bus.consume(q, consumer.handle) for q in topology.writer_queues]
        try:
            yield Writer(bus, topology, fake, metrics, memory, waits)
        finally:
            for running in consumers:
                await running.cancel()
