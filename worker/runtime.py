"""The composition root: builds the service from Settings and shuts it down in order.

Resources are entered on one AsyncExitStack, so they close in reverse:

    start:    bus (connect, declare topology) → rules + memory → consumers → HTTP server
    SIGTERM:  readiness false → (SHUTDOWN_DELAY) → stop listening → in-flight requests finish
              → consumers stop taking messages, the handlers in progress finish (each phase up
              to SHUTDOWN_TIMEOUT) → bus closed

Roles pick what runs in this process (`run --role`): `ingress` (webhooks → bus) and `rules`
(events → Plans); `all` is both. /healthz, /readyz and /metrics are served by every role.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

import structlog
from aiohttp import web

from consumers.rules.consumer import RulesConsumer
from consumers.rules.guard import Budget, LoopGuard
from consumers.rules.holder import RulesHolder
from producers.ingress.app import IngressConfig, ReadyState, create_app
from worker.bus import Bus, Consumer, Topology, build_topology
from worker.bus.factory import open_bus
from worker.metrics import Metrics
from worker.settings import Settings
from worker.state.factory import open_memory
from worker.state.memory import SharedMemory

ROLES = ("ingress", "rules")
RULES_PREFETCH = 16

log = structlog.get_logger(__name__)


@dataclass
class ServiceState:
    """What /readyz reports: ready while the bus is connected and the service is not draining."""

    bus: Bus
    draining: bool = False
    checks: dict[str, Callable[[], bool]] = field(default_factory=dict)

    def readiness(self) -> ReadyState:
        results = {"bus": self.bus.connected, "accepting": not self.draining}
        results.update({name: check() for name, check in self.checks.items()})
        return ReadyState(ready=all(results.values()), checks=results)


@dataclass(frozen=True)
class RunningService:
    state: ServiceState
    topology: Topology
    url: str  # where the HTTP server listens, e.g. http://127.0.0.1:8080
    rules: RulesHolder | None = None


def ingress_config(settings: Settings, topology: Topology) -> IngressConfig:
    secret = settings.webhook_secret
    return IngressConfig(
        secret=secret.encode() if secret is not None else None,
        max_bytes=settings.webhook_max_bytes,
        publish_timeout=settings.publish_timeout,
        retry_after=settings.webhook_retry_after,
        exchange=topology.events_exchange,
        shards=topology.shards,
    )


async def _start_http(stack: AsyncExitStack, app: web.Application, settings: Settings) -> str:
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=settings.shutdown_timeout
    )
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    site = web.TCPSite(runner, settings.http_host, settings.http_port)
    await site.start()
    host, port = runner.addresses[0][:2]
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    log.info("http.listening", host=host, port=port, url=url)
    return url


async def _start_rules(
    *,
    stack: AsyncExitStack,
    settings: Settings,
    metrics: Metrics,
    bus: Bus,
    topology: Topology,
    memory: SharedMemory | None,
    clock: Callable[[], float],
) -> RulesHolder:
    holder = RulesHolder.load(settings.rules_file)  # RulesError: refuse to start
    if memory is None:
        memory = await stack.enter_async_context(
            open_memory(settings, namespace=settings.bus_namespace, metrics=metrics.state)
        )
    guard = LoopGuard(memory, Budget(settings.chat_budget, settings.chat_budget_window))
    consumer = RulesConsumer(
        bus=bus,
        topology=topology,
        holder=holder,
        guard=guard,
        publish_timeout=settings.publish_timeout,
        metrics=metrics.rules,
        clock=clock,
    )
    for queue in topology.rules_queues:
        running: Consumer = await bus.consume(queue, consumer.handle, prefetch=RULES_PREFETCH)
        stack.push_async_callback(running.cancel, settings.shutdown_timeout)
    return holder


@asynccontextmanager
async def service(
    settings: Settings,
    metrics: Metrics,
    bus: Bus | None = None,
    *,
    roles: frozenset[str] = frozenset(ROLES),
    memory: SharedMemory | None = None,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[RunningService]:
    """The running service; leaving the block shuts it down in order (drain, then close)."""
    async with AsyncExitStack() as stack:
        if bus is None:
            bus = await stack.enter_async_context(open_bus(settings, metrics.bus))
        topology = build_topology(
            settings.bus_namespace, settings.bus_shards, delays=settings.delay_schedule
        )
        await bus.declare(topology)
        state = ServiceState(bus)
        holder = None
        if "rules" in roles:
            holder = await _start_rules(
                stack=stack,
                settings=settings,
                metrics=metrics,
                bus=bus,
                topology=topology,
                memory=memory,
                clock=clock,
            )
            state.checks["consuming"] = lambda: not state.draining
        app = create_app(
            bus,
            ingress_config(settings, topology),
            metrics,
            state.readiness,
            webhooks="ingress" in roles,
        )
        url = await _start_http(stack, app, settings)
        try:
            yield RunningService(state, topology, url, holder)
        finally:
            state.draining = True
            log.info("shutdown.started", delay=settings.shutdown_delay)
            if settings.shutdown_delay > 0:
                # Deliberate: let load balancers see /readyz fail before the socket closes.
                await asyncio.sleep(settings.shutdown_delay)
    log.info("shutdown.complete")


async def run_until(
    settings: Settings,
    stop: asyncio.Event,
    roles: frozenset[str] = frozenset(ROLES),
    on_start: Callable[[RunningService], None] | None = None,
) -> None:
    """Run the service until `stop` is set (by SIGTERM/SIGINT in the CLI)."""
    metrics = Metrics.create()
    async with service(settings, metrics, roles=roles) as running:
        log.info("service.started", roles=sorted(roles), settings=repr(settings))
        if on_start is not None:
            on_start(running)
        await stop.wait()
