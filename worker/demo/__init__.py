"""`texter-worker demo`: the whole service on a fake Texter, with a scripted day in the inbox.

Everything runs in this process: the embedded bus (or RabbitMQ with --rabbitmq), the ingress,
the rules (rules.example.yaml) and the writer, against a seeded fake Texter that sends the
webhooks Texter would. The demo prints, moment by moment, what arrived, what the rules decided
and which Texter calls the writer made, then a summary.
"""

from __future__ import annotations

import secrets
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import aiohttp
import structlog

from worker.bus.embedded import EmbeddedBus
from worker.demo import report
from worker.demo.observer import Observer
from worker.demo.scenario import SCENARIO, Stage
from worker.demo.world import World, demo_world
from worker.metrics import Metrics
from worker.runtime import RunningService, service
from worker.settings import Settings

Print = Callable[[str], None]
DEMO_DELAYS = (0.2, 0.5, 1.0)  # short retry tiers, so a failing step resolves within the demo


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


async def _tour(running: RunningService, world: World, observer: Observer, out: Print) -> int:
    rows = []
    async with aiohttp.ClientSession() as http:
        stage = Stage(world, http, f"{running.url}/webhooks/texter")
        for n, moment in enumerate(SCENARIO, start=1):
            await moment.act(stage)
            await observer.settle(running.state.bus, running.topology)
            rows.append(
                report.moment(
                    out,
                    n,
                    moment.title,
                    events=observer.new_events(),
                    calls=observer.new_calls(),
                    world=world,
                )
            )
    report.summary(out, rows, len(world.catcher.received))
    return sum(len(r.dead) for r in rows)


async def run_demo(base: Settings, out: Print, keep_running: Awaitable[None] | None) -> int:
    """Run the tour; 0 when it completed (dead letters in it are part of the story)."""
    secret = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="texter-demo-") as tmp:
        async with demo_world(Path(tmp)) as world:
            settings = _settings(base, world, Path(tmp), secret)
            metrics = Metrics.create()
            observer = Observer(metrics, world.fake)
            observer.capture_logs()
            bus = EmbeddedBus(metrics.bus) if settings.amqp_url is None else None
            try:
                async with service(settings, metrics, bus=bus) as running:
                    world.fake.emitter.configure(f"{running.url}/webhooks/texter", token=secret)
                    transport = "embedded, in memory" if bus else "RabbitMQ"
                    out(
                        f"texter-worker demo: service at {running.url} ({transport}), "
                        f"fake Texter at {world.fake.origin}, rules: rules.example.yaml"
                    )
                    await _tour(running, world, observer, out)
                    out(f"\nMetrics:        {running.url}/metrics")
                    out(f"Texter calls:   {world.fake.origin}/_control/calls")
                    if keep_running is not None:
                        out(
                            f"Still running. Webhooks: POST {running.url}/webhooks/texter with "
                            f"'Authorization: Bearer {secret}'. Ctrl-C stops."
                        )
                        await keep_running
                    if bus is None:
                        await running.state.bus.delete(running.topology)
            finally:
                structlog.reset_defaults()
    return 0
