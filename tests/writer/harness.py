"""The writer role running on a bus against the fake Texter, and helpers to feed it Plans."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from simulator.server import FakeTexter
from tests.conftest import wait_for
from tests.ingress.harness import make_settings
from worker.bus import Bus, Delivery, Message, shard_of
from worker.bus.topology import Topology, routing_key
from worker.metrics import Metrics
from worker.plans import Plan, encode_plan
from worker.runtime import service
from worker.state.memory import LocalMemory

TOKEN = "writer-test-token-0123456789"
DELAYS = (0.05, 0.1, 0.2)


@dataclass
class Writer:
    bus: Bus
    topology: Topology
    fake: FakeTexter
    metrics: Metrics
    memory: LocalMemory

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


@asynccontextmanager
async def writer(
    namespace: str, bus: Bus, fake: FakeTexter, state_dir: Path, **overrides: object
) -> AsyncIterator[Writer]:
    settings = make_settings(
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
    metrics, memory = Metrics.create(), LocalMemory()
    async with service(
        settings, metrics, bus=bus, roles=frozenset({"writer"}), memory=memory
    ) as running:
        yield Writer(bus, running.topology, fake, metrics, memory)
