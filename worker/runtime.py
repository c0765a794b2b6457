"""The composition root: builds the service from Settings and shuts it down in order.

Resources are entered on one AsyncExitStack, so they close in reverse:

    start:    bus (connect, declare topology) → rules + memory → consumers → HTTP server
    SIGTERM:  readiness false → (SHUTDOWN_DELAY) → stop listening → in-flight requests finish
              → consumers stop taking messages, the handlers in progress finish (each phase up
              to SHUTDOWN_TIMEOUT) → bus closed

Roles pick what runs in this process (`run --role`): `ingress` (webhooks → bus), `rules`
(events → Plans) and `writer` (Plans → Texter); `all` is all three. /healthz, /readyz and
/metrics are served by every role. What each role starts is in `worker/roles.py`.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial

import structlog
from aiohttp import web

from consumers.rules.holder import RulesHolder
from producers.admin import add_admin_routes
from producers.ingress.app import IngressConfig, ReadyState, create_app
from worker.bus import Bus, Topology, build_topology
from worker.bus.factory import open_bus
from worker.dlq import DeadLetterBox
from worker.errors import ConfigError
from worker.metrics import Metrics
from worker.roles import RoleContext, open_shared_state, start_rules, start_writer
from worker.settings import Settings
from worker.state.ledger import SendLedger
from worker.state.memory import SharedMemory
from worker.texter.client import credentials

ROLES = ("ingress", "rules", "writer")

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
    try:
        await site.start()
    except OSError as exc:  # address in use, no such host, not ours to bind (gaierror too)
        where = f"{settings.http_host}:{settings.http_port}"
        # asyncio wraps bind errors in a sentence of its own; the errno's text is the news.
        errno = exc.errno if isinstance(exc.errno, int) and exc.errno > 0 else None
        reason = os.strerror(errno) if errno else (exc.strerror or str(exc))
        raise ConfigError([f"HTTP_HOST/HTTP_PORT: cannot listen on {where}: {reason}"]) from None
    host, port = runner.addresses[0][:2]
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    log.info("http.listening", host=host, port=port, url=url)
    return url


@asynccontextmanager
async def service(
    settings: Settings,
    metrics: Metrics,
    bus: Bus | None = None,
    *,
    roles: frozenset[str] = frozenset(ROLES),
    memory: SharedMemory | None = None,
    ledger: SendLedger | None = None,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[RunningService]:
    """The running service; leaving the block shuts it down in order (drain, then close)."""
    # Configuration first: a bad rules file or missing Texter credentials stop the start
    # before anything connects or creates files.
    holder = RulesHolder.load(settings.rules_file) if "rules" in roles else None
    if "writer" in roles:
        credentials(settings)  # ConfigError naming what is missing
    async with AsyncExitStack() as stack:
        if bus is None:
            bus = await stack.enter_async_context(open_bus(settings, metrics.bus))
        topology = build_topology(
            settings.bus_namespace, settings.bus_shards, delays=settings.delay_schedule
        )
        await bus.declare(topology)
        state = ServiceState(bus)
        ctx = RoleContext(stack, settings, metrics, bus, topology, clock, memory, ledger)
        await open_shared_state(ctx, roles)
        if holder is not None:
            await start_rules(ctx, holder)
        if "writer" in roles:
            await start_writer(ctx)
        if roles & {"rules", "writer"}:
            state.checks["consuming"] = lambda: (
                bool(ctx.consumers) and all(consumer.alive for consumer in ctx.consumers)
            )
        app = create_app(
            bus,
            ingress_config(settings, topology),
            metrics,
            state.readiness,
            webhooks="ingress" in roles,
        )
        # The admin API (dead letters) only exists with ADMIN_TOKEN; it is how `dlq` reaches
        # an embedded bus, which lives inside this process.
        add_admin_routes(
            app,
            partial(
                DeadLetterBox, bus, topology, ctx.ledger, publish_timeout=settings.publish_timeout
            ),
            settings.admin_token,
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
