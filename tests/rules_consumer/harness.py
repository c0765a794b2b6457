"""The whole service (ingress + rules) on a bus, with a rules file written by the test."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from tests.conftest import wait_for
from tests.ingress.harness import Ingress, make_settings
from worker.bus import Bus, Delivery
from worker.metrics import Metrics
from worker.plans import Plan, decode_plan
from worker.runtime import service
from worker.state.memory import LocalMemory


@dataclass
class Pipeline:
    ingress: Ingress
    memory: LocalMemory

    @property
    def bus(self) -> Bus:
        return self.ingress.bus

    async def drain(self, queues: tuple[str, ...], expected: int) -> list[Delivery]:
        """Wait until `expected` messages sit in these queues, then take them all."""

        async def arrived() -> bool:
            depths = [await self.bus.queue_depth(q) for q in queues]
            return sum(depths) >= expected

        await wait_for(arrived)
        taken = []
        for queue in queues:
            while (d := await self.bus.get(queue)) is not None:
                taken.append(d)
        return taken

    async def plans(self, expected: int) -> list[Plan]:
        deliveries = await self.drain(self.ingress.topology.writer_queues, expected)
        return [decode_plan(d.message.body) for d in deliveries]

    async def dead(self, expected: int) -> list[Delivery]:
        return await self.drain((self.ingress.topology.dead_queue,), expected)

    async def settled(self) -> None:
        """Every event handled: the rules queues are empty and nothing is in flight."""

        async def empty() -> bool:
            depths = [await self.bus.queue_depth(q) for q in self.ingress.topology.rules_queues]
            return sum(depths) == 0

        await wait_for(empty)
        await asyncio.sleep(0)


def write_rules(tmp: Path, text: str) -> Path:
    path = tmp / "rules.yaml"
    path.write_text(text)
    return path


@asynccontextmanager
async def pipeline(
    namespace: str,
    rules: Path,
    bus: Bus,
    clock: Callable[[], float] = time.time,
    *,
    from_settings: bool = False,
    **overrides: object,
) -> AsyncIterator[Pipeline]:
    """Ingress and rules consumer running on `bus`, with an in-process memory to inspect
    (or, with `from_settings`, the memory the settings choose, e.g. Redis for STATE_URL)."""
    settings = make_settings(namespace, rules_file=rules, **overrides)
    memory = LocalMemory()
    metrics = Metrics.create()
    async with (
        service(
            settings,
            metrics,
            bus=bus,
            roles=frozenset({"ingress", "rules"}),
            memory=None if from_settings else memory,
            clock=clock,
        ) as running,
        aiohttp.ClientSession() as http,
    ):
        yield Pipeline(Ingress(running, bus, metrics, http), memory)


def event(
    name: str, chat: str, extra: dict[str, object] | None = None, **chat_fields: object
) -> bytes:
    """A webhook body: `chat_fields` go into eventData.chat, `extra` next to it."""
    data = {"chat": {"_id": chat, **chat_fields}, **(extra or {})}
    return json.dumps({"eventName": name, "eventData": data}).encode()
