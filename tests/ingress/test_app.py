"""The ingress over real HTTP on loopback, on the embedded bus: answers and what gets published."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from simulator.samples import webhook_body, webhook_names
from tests.ingress.harness import PATH, SECRET, Ingress, make_settings, running_ingress
from worker.bus import Message
from worker.bus.embedded import EmbeddedBus
from worker.bus.topology import routing_key, shard_of


@pytest.fixture
async def ingress(namespace: str) -> AsyncIterator[Ingress]:
    async with running_ingress(make_settings(namespace), EmbeddedBus()) as running:
        yield running


async def test_fixture_is_accepted_and_published_unchanged(ingress: Ingress) -> None:
    body = webhook_body("newIncomingMessage")
    reply = await ingress.post(body)
    assert reply.status == 202
    assert reply.json == {"status": "accepted", "id": "newIncomingMessage:6911b1e4c2a9d8f0e3b4a5c6"}
    shard = shard_of("6650f1a2b3c4d5e6f7a8b9c0", 2)
    got = await ingress.bus.get(ingress.topology.rules_queue(shard))
    assert got is not None
    assert got.message.body == body
    assert got.message.routing_key == routing_key(shard)
    assert got.message.message_id == reply.json["id"]
    assert got.message.type == "newIncomingMessage"
    assert got.message.headers["x-chat-id"] == "6650f1a2b3c4d5e6f7a8b9c0"
    assert isinstance(got.message.headers["x-received-at-ms"], int)
    assert await ingress.stored() == 0


@pytest.mark.parametrize(
    ("token", "headers", "query"),
    [
        (None, {}, ""),
        ("wrong-token-wrong-token", {}, ""),
        (None, {"X-Webhook-Token": "nope"}, ""),
        (None, {}, "?token=nope"),
    ],
)
async def test_missing_or_wrong_secret_is_401_and_publishes_nothing(
    ingress: Ingress, token: str | None, headers: dict[str, str], query: str
) -> None:
    reply = await ingress.post(
        webhook_body("chatPending"), token=token, headers=headers, query=query
    )
    assert reply.status == 401
    assert reply.headers["WWW-Authenticate"] == "Bearer"
    assert await ingress.stored() == 0


@pytest.mark.parametrize(
    ("headers", "query"), [({"X-Webhook-Token": SECRET}, ""), ({}, f"?token={SECRET}")]
)
async def test_other_token_locations_are_accepted(
    ingress: Ingress, headers: dict[str, str], query: str
) -> None:
    reply = await ingress.post(
        webhook_body("chatPending"), token=None, headers=headers, query=query
    )
    assert reply.status == 202
    assert await ingress.stored() == 1


async def test_body_over_the_limit_is_413_and_publishes_nothing(namespace: str) -> None:
    settings = make_settings(namespace, webhook_max_bytes=1000)
    async with running_ingress(settings, EmbeddedBus()) as ingress:
        big = json.dumps({"eventName": "x", "eventData": {"pad": "x" * 2000}}).encode()
        reply = await ingress.post(big)
        assert reply.status == 413

        # Chunked upload (no Content-Length): aiohttp stops reading at the limit.
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(4):
                yield big[:600]

        url = f"{ingress.running.url}{PATH}"
        headers = {"Authorization": f"Bearer {SECRET}"}
        async with ingress.http.post(url, data=chunks(), headers=headers) as resp:
            assert resp.status == 413
        assert await ingress.stored() == 0
        exactly = json.dumps({"eventName": "x", "eventData": {"p": "y" * 958}}).encode()
        assert len(exactly) == 1000
        assert (await ingress.post(exactly)).status == 202


@pytest.mark.parametrize(
    "body", [b"not json", b"[]", b'{"eventData": {}}', b'{"eventName": "x", "eventData": 5}']
)
async def test_malformed_body_is_400_with_a_reason(ingress: Ingress, body: bytes) -> None:
    reply = await ingress.post(body)
    assert reply.status == 400
    assert reply.json["error"]
    assert await ingress.stored() == 0


async def test_unknown_event_is_accepted_and_queued_raw(ingress: Ingress) -> None:
    body = b'{"eventName":"somethingNew","eventData":{"chat":{"_id":"c1"}},"extra":1}'
    reply = await ingress.post(body)
    assert reply.status == 202
    assert reply.json["id"].startswith("sha256:")
    got = await ingress.bus.get(ingress.topology.rules_queue(shard_of("c1", 2)))
    assert got is not None
    assert got.message.body == body


async def test_no_2xx_before_the_broker_confirms(namespace: str) -> None:
    confirm = asyncio.Event()
    publishing = asyncio.Event()

    async def held_confirm(message: Message) -> None:
        publishing.set()
        await confirm.wait()

    bus = EmbeddedBus(confirm_hook=held_confirm)
    async with running_ingress(make_settings(namespace, publish_timeout=30), bus) as ingress:
        reply = asyncio.create_task(ingress.post(webhook_body("chatResolved")))
        await publishing.wait()  # the message reached the broker; its confirm is held
        for _ in range(50):  # let the server run as far as it can without the confirm
            await asyncio.sleep(0)
        m = ingress.metrics.ingress
        assert m.in_flight._value.get() == 1  # the handler is still waiting
        assert m.requests.labels("accepted")._value.get() == 0
        assert not reply.done()
        confirm.set()
        assert (await reply).status == 202


async def test_confirm_deadline_passed_is_503_with_retry_after(namespace: str) -> None:
    async def never(message: Message) -> None:
        await asyncio.Event().wait()

    bus = EmbeddedBus(confirm_hook=never)
    settings = make_settings(namespace, publish_timeout=0.05, webhook_retry_after=7)
    async with running_ingress(settings, bus) as ingress:
        reply = await ingress.post(webhook_body("chatResolved"))
        assert reply.status == 503
        assert reply.headers["Retry-After"] == "7"


async def test_broker_outage_is_503_then_202_when_it_returns(ingress: Ingress) -> None:
    bus = ingress.bus
    assert isinstance(bus, EmbeddedBus)
    bus.set_available(False)
    reply = await ingress.post(webhook_body("chatResolved"))
    assert reply.status == 503
    assert reply.headers["Retry-After"] == "5"
    assert (await ingress.get("/readyz"))[0] == 503
    bus.set_available(True)
    assert (await ingress.get("/readyz"))[0] == 200
    assert (await ingress.post(webhook_body("chatResolved"))).status == 202


async def test_probes_and_metrics(ingress: Ingress) -> None:
    for name in webhook_names():
        assert (await ingress.post(webhook_body(name))).status == 202
    await ingress.post(b"nope")
    await ingress.post(b"{}", token=None)
    assert await ingress.get("/healthz") == (200, '{"status":"alive"}')
    status, ready = await ingress.get("/readyz")
    assert status == 200
    assert json.loads(ready) == {"status": "ready", "bus": "ok", "accepting": "ok"}
    status, text = await ingress.get("/metrics")
    assert status == 200
    assert 'texter_worker_ingress_requests_total{outcome="accepted"} 19.0' in text
    assert 'texter_worker_ingress_requests_total{outcome="bad_request"} 1.0' in text
    assert 'texter_worker_ingress_requests_total{outcome="unauthorized"} 1.0' in text
    assert 'texter_worker_ingress_events_total{event="chatAssigned"} 1.0' in text
    assert "texter_worker_ingress_publish_seconds_count 19.0" in text
    assert "texter_worker_ingress_body_bytes_count 20.0" in text
    assert "texter_worker_build_info{python=" in text


async def test_readiness_fails_while_draining(namespace: str) -> None:
    async with running_ingress(make_settings(namespace), EmbeddedBus()) as ingress:
        ingress.running.state.draining = True
        status, body = await ingress.get("/readyz")
        assert status == 503
        assert json.loads(body)["accepting"] == "failing"


async def test_after_shutdown_the_port_is_closed(namespace: str) -> None:
    async with running_ingress(make_settings(namespace), EmbeddedBus()) as ingress:
        url = ingress.running.url
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.get(f"{url}/healthz")
