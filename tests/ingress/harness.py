"""A running ingress (the real composition root, real HTTP on loopback) and a client for it."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp

from worker.bus import Bus
from worker.bus.topology import Topology
from worker.metrics import Metrics
from worker.runtime import RunningService, service
from worker.settings import Settings

SECRET = "test-secret-0123456789abcdef"
PATH = "/webhooks/texter"


def make_settings(namespace: str, **overrides: object) -> Settings:
    base: dict[str, object] = {
        "webhook_secret": SECRET,
        "http_host": "127.0.0.1",
        "http_port": 0,
        "bus_namespace": namespace,
        "bus_shards": 2,
        "publish_timeout": 2.0,
        "shutdown_timeout": 5.0,
    }
    base.update(overrides)
    return Settings(**base)  # type: ignore[arg-type]


@dataclass
class Reply:
    status: int
    json: dict[str, str]
    headers: dict[str, str]


@dataclass
class Ingress:
    running: RunningService
    bus: Bus
    metrics: Metrics
    http: aiohttp.ClientSession

    @property
    def topology(self) -> Topology:
        return self.running.topology

    async def post(
        self,
        body: bytes,
        *,
        token: str | None = SECRET,
        headers: dict[str, str] | None = None,
        query: str = "",
    ) -> Reply:
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        url = f"{self.running.url}{PATH}{query}"
        # Large bodies as a stream: aiohttp warns about big raw bytes (warnings are errors).
        data = io.BytesIO(body) if len(body) > 512 * 1024 else body
        async with self.http.post(url, data=data, headers=hdrs) as resp:
            payload = await resp.json(content_type=None)
            return Reply(resp.status, payload, dict(resp.headers))

    async def get(self, path: str) -> tuple[int, str]:
        async with self.http.get(f"{self.running.url}{path}") as resp:
            return resp.status, await resp.text()

    async def stored(self) -> int:
        """Messages waiting in every queue of the topology."""
        return sum([await self.bus.queue_depth(q.name) for q in self.topology.queues])


@asynccontextmanager
async def running_ingress(settings: Settings, bus: Bus) -> AsyncIterator[Ingress]:
    metrics = Metrics.create()
    async with (
        service(settings, metrics, bus=bus, roles=frozenset({"ingress"})) as running,
        aiohttp.ClientSession() as http,
    ):
        yield Ingress(running, bus, metrics, http)
