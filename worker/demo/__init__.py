"""`texter-worker demo`: the whole service on a fake Texter, with a scripted day in the inbox.

Everything runs in this process: the embedded bus (or RabbitMQ with --rabbitmq), the ingress,
the rules (rules.example.yaml) and the writer, against a seeded fake Texter that sends the
webhooks Texter would. The demo prints, moment by moment, what arrived, what the rules decided,
the steps the writer ran and the Texter calls they made, then a summary.
"""

from __future__ import annotations

import contextlib
import secrets
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import aiohttp

from worker.bus.embedded import EmbeddedBus
from worker.demo import report
from worker.demo.observer import Observer
from worker.demo.scenario import SCENARIO, Moment, Stage
from worker.demo.world import World, demo_world
from worker.errors import BusError
from worker.metrics import Metrics
from worker.runtime import RunningService, service
from worker.settings import Settings

Print = Callable[[str], None]
DEMO_DELAYS = (0.2, 0.5, 1.0)  # short retry tiers, so a failing step resolves within the demo


@dataclass(frozen=True)
class Demo:
    """The running demo: the service, the fake Texter's world, and the webhook secret."""

    running: RunningService
    world: World
    secret: str
    embedded: bool

    @property
    def webhook_url(self) -> str:
        return f"{self.running.url}/webhooks/texter"


def _settings(base: Settings, world: World, workdir: Path, secret: str) -> Settings:
    namespace = "texter-demo" if base.amqp_url is None else f"texter-demo-{uuid.uuid4().hex[:8]}"
    return replace(
        base,
        webhook_secret=secret,
        bus_namespace=namespace,
        rules_file=world.rules_file,
        texter_base_url=world.fake.url,
        texter_api_token=world.token,
        state_dir=workdir,
        delay_schedule=DEMO_DELAYS,
        texter_retry_attempts=2,
        http_host="127.0.0.1" if base.http_port == 0 else base.http_host,
    )


@contextlib.asynccontextmanager
async def demo_service(
    base: Settings, world: World, workdir: Path, metrics: Metrics
) -> AsyncIterator[Demo]:
    """The service (embedded bus unless `base.amqp_url`) wired to the world's fake Texter."""
    secret = secrets.token_urlsafe(24)
    settings = _settings(base, world, workdir, secret)
    bus = EmbeddedBus(metrics.bus) if settings.amqp_url is None else None
    async with service(settings, metrics, bus=bus) as running:
        demo = Demo(running, world, secret, embedded=bus is not None)
        world.fake.emitter.configure(demo.webhook_url, token=secret)
        try:
            yield demo
        finally:
            if bus is None:  # RabbitMQ: the demo's own namespace, gone when it ends
                with contextlib.suppress(BusError):
                    await running.state.bus.delete(running.topology)


@contextlib.asynccontextmanager
async def running_demo(base: Settings, workdir: Path, metrics: Metrics) -> AsyncIterator[Demo]:
    """A seeded fake Texter and the service wired to it (what the tour runs on)."""
    async with demo_world(workdir) as world, demo_service(base, world, workdir, metrics) as demo:
        yield demo


async def _tour(demo: Demo, observer: Observer, out: Print, scenario: Sequence[Moment]) -> int:
    rows = []
    running, world = demo.running, demo.world
    async with aiohttp.ClientSession() as http:
        stage = Stage(world, http, demo.webhook_url)
        for n, moment in enumerate(scenario, start=1):
            await moment.act(stage)
            await observer.settle(running.state.bus, running.topology)
            rows.append(
                report.moment(
                    out,
                    n,
                    moment.title,
                    events=observer.new_events(),
                    calls=observer.new_calls(),
                    external=observer.new_external(),
                    world=world,
                )
            )
    report.summary(out, rows, len(world.catcher.received))
    return sum(len(r.dead) for r in rows)


async def run_demo(
    base: Settings,
    out: Print,
    keep_running: Awaitable[None] | None,
    scenario: Sequence[Moment] = SCENARIO,
) -> int:
    """Run the tour; 0 when it completed (dead letters in it are part of the story)."""
    with tempfile.TemporaryDirectory(prefix="texter-demo-") as tmp:
        async with demo_world(Path(tmp)) as world:
            metrics = Metrics.create()
            observer = Observer(metrics, world.fake, world.catcher)
            # From before the start: the start-up warnings are not the story.
            with observer.capturing_logs():
                async with demo_service(base, world, Path(tmp), metrics) as demo:
                    await _show(demo, observer, out, scenario, keep_running)
    return 0


async def _show(
    demo: Demo,
    observer: Observer,
    out: Print,
    scenario: Sequence[Moment],
    keep_running: Awaitable[None] | None,
) -> None:
    transport = "embedded, in memory" if demo.embedded else "RabbitMQ"
    out(
        f"texter-worker demo: service at {demo.running.url} ({transport}), "
        f"fake Texter at {demo.world.fake.origin}, rules: rules.example.yaml"
    )
    await _tour(demo, observer, out, scenario)
    out(f"\nMetrics:        {demo.running.url}/metrics")
    out(f"Texter calls:   {demo.world.fake.origin}/_control/calls")
    if keep_running is not None:
        out(
            f"Still running. Webhooks: POST {demo.webhook_url} with "
            f"'Authorization: Bearer {demo.secret}'. Ctrl-C stops."
        )
        await keep_running
