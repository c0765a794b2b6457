"""The demo: a scripted tour of the running service, with nothing installed but the package.

It starts the real service (embedded transport unless --rabbitmq), posts every bundled Texter
webhook plus the requests a real deployment meets (a redelivery, a wrong token, an oversized
body, garbage, a broker outage), and prints what happened to each and what is on the bus.
"""

from __future__ import annotations

import io
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

import aiohttp

from simulator.samples import webhook_body, webhook_names
from worker.bus import Bus
from worker.bus.embedded import EmbeddedBus
from worker.metrics import Metrics
from worker.runtime import RunningService, service
from worker.settings import Settings

Print = Callable[[str], None]


@dataclass
class Tally:
    statuses: dict[int, int]

    def add(self, status: int) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1


class DemoClient:
    def __init__(
        self, http: aiohttp.ClientSession, running: RunningService, secret: str, out: Print
    ) -> None:
        self.http, self.running, self.secret, self.out = http, running, secret, out
        self.tally = Tally({})

    async def post(self, label: str, body: bytes, *, token: str | None = "") -> int:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token or self.secret}"
        url = f"{self.running.url}/webhooks/texter"
        data = io.BytesIO(body) if len(body) > 512 * 1024 else body  # aiohttp warns on big bytes
        async with self.http.post(url, data=data, headers=headers) as resp:
            answer = await resp.json(content_type=None)
            retry = resp.headers.get("Retry-After")
        self.tally.add(resp.status)
        detail = answer.get("id") or answer.get("error", "")
        if retry:
            detail += f"  (Retry-After: {retry}s)"
        self.out(f"  {label:<42} → {resp.status}  {_short(detail)}")
        return resp.status


def _short(text: str, width: int = 72) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _title(name: str, body: bytes) -> str:
    chat = json.loads(body)["eventData"].get("chat") or {}
    who = chat.get("title")
    return f"{name} ({who})" if who else name


async def _scenario(client: DemoClient, bus: Bus) -> None:
    out = client.out
    out("\n1. Every documented Texter event, as Texter would POST it:")
    for name in webhook_names():
        body = webhook_body(name)
        await client.post(_title(name, body), body)
    out("\n2. What production traffic also brings:")
    await client.post("newIncomingMessage, delivered twice", webhook_body("newIncomingMessage"))
    out("     (same id as before: downstream, a redelivery is recognised by its id)")
    await client.post(
        "an event type nobody documented",
        b'{"eventName":"newThing","eventData":{"chat":{"_id":"6650f1a2b3c4d5e6f7a8b9c0"}}}',
    )
    await client.post("no token", webhook_body("chatPending"), token=None)
    await client.post("wrong token", webhook_body("chatPending"), token="not-the-secret")  # noqa: S106
    pad = b'{"eventName":"x","eventData":{"pad":"' + b"x" * 1_100_000 + b'"}}'
    await client.post("a 1.1 MB body", pad)
    await client.post("not JSON", b"<xml/>")
    await client.post("eventData is not an object", b'{"eventName":"x","eventData":[1]}')
    if isinstance(bus, EmbeddedBus):
        bus.set_available(False)
        await client.post("broker down (simulated)", webhook_body("chatResolved"))
        bus.set_available(True)
        await client.post("broker back: same event again", webhook_body("chatResolved"))


async def _bus_report(bus: Bus, running: RunningService, out: Print) -> int:
    out("\n3. On the bus now (each chat's events stay on one shard, in order):")
    total = 0
    for queue in running.topology.rules_queues:
        depth = await bus.queue_depth(queue)
        total += depth
        out(f"  {queue:<28} {depth:>3} messages")
    return total


async def run_demo(settings: Settings, out: Print, keep_running: Awaitable[None] | None) -> int:
    secret = secrets.token_urlsafe(24)
    settings = _demo_settings(settings, secret)
    metrics = Metrics.create()
    bus: Bus | None = EmbeddedBus(metrics.bus) if settings.amqp_url is None else None
    async with service(settings, metrics, bus=bus, roles=frozenset({"ingress"})) as running:
        transport = "embedded (in memory)" if settings.amqp_url is None else "RabbitMQ"
        out(f"texter-worker demo: ingress at {running.url}, transport {transport}")
        async with aiohttp.ClientSession() as http:
            client = DemoClient(http, running, secret, out)
            await _scenario(client, running.state.bus)
            stored = await _bus_report(running.state.bus, running, out)
        counts = ", ".join(f"{n} x {s}" for s, n in sorted(client.tally.statuses.items()))
        out(f"\nSummary: {counts}; {stored} events stored on the bus.")
        out(f"Metrics: {running.url}/metrics   Readiness: {running.url}/readyz")
        if keep_running is not None:
            out(
                f"Still running; POST to {running.url}/webhooks/texter with "
                f"'Authorization: Bearer {secret}'. Ctrl-C to stop."
            )
            await keep_running
        if settings.amqp_url is not None:
            await running.state.bus.delete(running.topology)
    return 0


def _demo_settings(settings: Settings, secret: str) -> Settings:
    return replace(
        settings,
        webhook_secret=secret,
        bus_namespace="texter-demo",
        http_host="127.0.0.1" if settings.http_port == 0 else settings.http_host,
    )
