"""The real service exposes the admin API only with ADMIN_TOKEN; `dlq` reaches an embedded bus
through it (the dead letters live inside the service's process)."""

from __future__ import annotations

import aiohttp

from producers.admin import AdminClient
from tests.ingress.harness import make_settings
from worker.bus import Delivery, Message
from worker.bus.embedded import EmbeddedBus
from worker.bus.topology import routing_key
from worker.deadletters import Why, dead_letter_message
from worker.metrics import Metrics
from worker.runtime import service

ADMIN = "admin-token-0123456789abcdef"


async def _dead_letter(bus: EmbeddedBus, namespace: str) -> None:
    event = Message(
        body=b'{"eventName":"x","eventData":{}}',
        routing_key=routing_key(0),
        message_id="evt-1",
        headers={"x-chat-id": "c1"},
    )
    original = Delivery(event, f"{namespace}.rules.0", f"{namespace}.events")
    why = Why("rule_error", "boom", "rules", rule="r1")
    await bus.publish(f"{namespace}.dead", dead_letter_message(original, why), timeout=5)


async def test_admin_api_serves_the_running_services_dead_letters(namespace: str) -> None:
    bus = EmbeddedBus()
    settings = make_settings(namespace, admin_token=ADMIN)
    async with (
        service(settings, Metrics.create(), bus=bus, roles=frozenset({"ingress"})) as running,
        aiohttp.ClientSession() as http,
    ):
        await _dead_letter(bus, namespace)
        listing = await AdminClient(http, running.url, ADMIN).list()
        assert [e.reason for e in listing.entries] == ["rule_error"]
        async with http.get(f"{running.url}/admin/dlq") as resp:
            assert resp.status == 401  # no token


async def test_no_admin_api_without_a_token(namespace: str) -> None:
    async with (
        service(
            make_settings(namespace),
            Metrics.create(),
            bus=EmbeddedBus(),
            roles=frozenset({"ingress"}),
        ) as running,
        aiohttp.ClientSession() as http,
        http.get(f"{running.url}/admin/dlq", headers={"Authorization": f"Bearer {ADMIN}"}) as resp,
    ):
        assert resp.status == 404
