"""The fake Texter over real HTTP: auth, control endpoint, recorded calls, webhook emission."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from simulator.server import FakeTexter

TOKEN = "sim-token-0123456789"
HOOK_TOKEN = "ingress-secret-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Receiver:
    """A real HTTP server standing in for the worker's webhook ingress."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, Any], str | None]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((await request.json(), request.headers.get("Authorization")))
        return web.Response(status=202)

    def events(self) -> list[str]:
        return [body["eventName"] for body, _ in self.received]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rx = Receiver()
    app = web.Application()
    app.router.add_post("/webhooks/texter", rx.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    rx.url = f"http://127.0.0.1:{runner.addresses[0][1]}/webhooks/texter"
    yield rx
    await runner.cleanup()


@pytest.fixture
async def fake(receiver: Receiver) -> AsyncIterator[FakeTexter]:
    async with FakeTexter(
        token=TOKEN, seed=True, webhook_url=receiver.url, webhook_token=HOOK_TOKEN
    ) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def yossi(fake: FakeTexter) -> str:
    chat = fake.state.chat_by_phone("972547654321")
    assert chat is not None
    return chat.id


async def test_wrong_or_missing_token_is_401(fake: FakeTexter, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{fake.url}/labels", headers={"Authorization": "Bearer nope"}) as resp:
        assert resp.status == 401
    async with http.get(f"{fake.url}/labels") as resp:
        assert resp.status == 401
    assert [(c.path, c.status) for c in fake.calls] == [("/labels", 401), ("/labels", 401)]


async def test_plain_text_ok_and_recorded_body(
    fake: FakeTexter, http: aiohttp.ClientSession
) -> None:
    url = f"{fake.url}/chats/{yossi(fake)}/labels"
    async with http.post(url, json={"add": ["VIP"]}, headers=AUTH) as resp:
        assert (resp.status, await resp.text()) == (200, "OK")
    call = fake.calls[-1]
    assert (call.method, call.path, call.body, call.status) == (
        "POST",
        f"/chats/{yossi(fake)}/labels",
        {"add": ["VIP"]},
        200,
    )


async def test_unknown_route_is_a_json_404(fake: FakeTexter, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{fake.url}/channels/problems", headers=AUTH) as resp:
        assert resp.status == 404
        assert (await resp.json())["statusCode"] == 404


async def test_control_endpoint_sets_faults_and_shows_calls(
    fake: FakeTexter, http: aiohttp.ClientSession
) -> None:
    control = f"{fake.origin}/_control"
    async with http.put(f"{control}/faults", json={"errors": 1, "error_status": 502}) as resp:
        assert resp.status == 200
    async with http.get(f"{fake.url}/labels", headers=AUTH) as resp:
        assert resp.status == 502
    async with http.get(f"{fake.url}/labels", headers=AUTH) as resp:
        assert resp.status == 200
    async with http.get(f"{control}/calls") as resp:
        calls = await resp.json()
    assert [(c["status"], c["fault"]) for c in calls] == [(502, "error"), (200, "none")]
    async with http.put(f"{control}/faults", json={"bogus": 1}) as resp:
        assert resp.status == 400
    async with http.post(f"{control}/reset", json={"seed": False}) as resp:
        assert resp.status == 200
    async with http.get(f"{control}/state") as resp:
        assert (await resp.json())["chats"] == []


async def test_rate_limit_fault_answers_429_with_retry_after(
    fake: FakeTexter, http: aiohttp.ClientSession
) -> None:
    fake.set_faults(rate_limit=2, retry_after="7")
    statuses = []
    for _ in range(3):
        async with http.get(f"{fake.url}/labels", headers=AUTH) as resp:
            statuses.append((resp.status, resp.headers.get("Retry-After")))
    assert statuses == [(200, None), (200, None), (429, "7")]


async def test_connection_drop(fake: FakeTexter, http: aiohttp.ClientSession) -> None:
    fake.set_faults(drops=1)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        async with http.post(f"{fake.url}/labels", json={"id": "a", "name": "A"}, headers=AUTH):
            pass
    assert fake.calls[-1].fault == "drop"
    assert "a" not in fake.state.labels  # dropped before it was processed


async def test_state_changes_emit_webhooks(
    fake: FakeTexter, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    cid = yossi(fake)
    for method, path, body in (
        ("POST", "/chats/assign", {"chatId": cid, "departmentId": "sales"}),
        ("POST", f"/chats/{cid}/labels", {"add": ["VIP"]}),
        ("POST", f"/chats/{cid}/labels", {"add": ["VIP"]}),  # no change: no webhook
        ("POST", f"/messages/send/{cid}", {"type": "text", "text": "on my way"}),
        ("POST", f"/chats/{cid}/resolve", {}),
    ):
        async with http.request(method, fake.url + path, json=body, headers=AUTH) as resp:
            assert resp.status == 200, await resp.text()
    await fake.emitter.drain()
    assert receiver.events() == ["chatPending", "chatLabelsUpdated", "newMessage", "chatResolved"]
    assert {auth for _, auth in receiver.received} == {f"Bearer {HOOK_TOKEN}"}
    pending, labels, message, resolved = (body["eventData"] for body, _ in receiver.received)
    assert (pending["chat"]["status"], pending["chat"]["departmentId"]) == (1, "sales")
    assert (labels["addedLabels"], labels["removedLabels"], labels["oldLabels"]) == (
        ["VIP"],
        [],
        [],
    )
    assert message["message"]["direction"] == "outgoing"
    assert resolved["chat"]["status"] == 3
    assert all(d.status == 202 for d in fake.emitter.deliveries)


async def test_opt_out_webhooks_fire_on_a_change_only(
    fake: FakeTexter, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    account = "972509876543"
    for path, body in (
        ("unsubscribe", {"phone": "0547654321", "accountId": account}),
        ("unsubscribe", {"phone": "0547654321", "accountId": account}),  # already out
        ("subscribe", {"phone": "0547654321", "accountId": "972500000002"}),  # not out there
        ("subscribe", {"phone": "0547654321"}),
    ):
        url = f"{fake.url}/whatsapp/templates/{path}"
        async with http.post(url, json=body, headers=AUTH) as resp:
            assert (resp.status, await resp.json()) == (200, {"success": True})
    await fake.emitter.drain()
    assert receiver.events() == ["chatUnsubscribed", "chatSubscribed"]
    assert receiver.received[0][0]["eventData"]["chat"]["_id"] == yossi(fake)


async def test_bad_body_fault_processes_the_request_then_answers_the_wrong_shape(
    fake: FakeTexter, http: aiohttp.ClientSession
) -> None:
    fake.set_faults(bad_bodies=1, bad_body='{"unexpected": true}')
    label = {"id": "new", "name": "New"}
    async with http.post(f"{fake.url}/labels", json=label, headers=AUTH) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        assert await resp.json() == {"unexpected": True}
    assert "new" in fake.state.labels  # the request did take effect
    async with http.get(f"{fake.url}/labels/new", headers=AUTH) as resp:
        assert (await resp.json())["id"] == "new"  # used up: the next answer is normal
    assert [c.fault for c in fake.calls] == ["bad_body", "none"]


async def test_a_failing_request_keeps_its_answer_under_the_bad_body_fault(
    fake: FakeTexter, http: aiohttp.ClientSession
) -> None:
    fake.set_faults(bad_bodies=1)
    async with http.get(f"{fake.url}/labels/nope", headers=AUTH) as resp:
        assert resp.status == 404
        assert (await resp.json())["statusCode"] == 404


async def test_latency_fault_delays_the_answer(
    fake: FakeTexter, http: aiohttp.ClientSession
) -> None:
    fake.set_faults(latency=0.2)
    async with http.get(f"{fake.url}/labels", headers=AUTH) as resp:
        assert resp.status == 200
    (call,) = fake.calls
    assert call.answered_at is not None
    assert call.answered_at - call.at >= 0.2


async def test_agent_take_emits_chat_assigned(
    fake: FakeTexter, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    url = f"{fake.origin}/_control/chats/{yossi(fake)}/take"
    async with http.post(url, json={"agentEmail": "tyler@example.com"}) as resp:
        assert resp.status == 200
    await fake.emitter.drain()
    body, _ = receiver.received[0]
    assert body["eventName"] == "chatAssigned"
    assert (body["eventData"]["chat"]["status"], body["eventData"]["agent"]["displayName"]) == (
        2,
        "Tyler",
    )


async def test_imported_subscription_receives_its_event(
    fake: FakeTexter, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    fake.emitter.disable()
    data = {
        "version": "v1",
        "name": "(SUB) Chat Resolved",
        "triggerEvents": ["domain.chat.resolved"],
        "actions": [
            {
                "name": "request",
                "params": {
                    "url": receiver.url + "?token=abc",
                    "method": "post",
                    "data": {"eventName": "chatResolved"},
                },
            }
        ],
    }
    async with http.post(
        f"{fake.url}/scenarios/manage/import", json={"data": data}, headers=AUTH
    ) as resp:
        assert resp.status == 201
    cid = yossi(fake)
    async with http.post(f"{fake.url}/chats/{cid}/labels", json={"add": ["VIP"]}, headers=AUTH):
        pass
    async with http.post(f"{fake.url}/chats/{cid}/resolve", headers=AUTH):
        pass
    await fake.emitter.drain()
    assert receiver.events() == ["chatResolved"]  # only what it subscribed to
    assert receiver.received[0][1] is None  # its token travels in the URL


async def test_incoming_message_opens_the_window(
    fake: FakeTexter, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    dana = fake.state.chat_by_phone("972521234567")
    assert dana is not None
    send = f"{fake.url}/messages/send/{dana.id}"
    async with http.post(send, json={"type": "text", "text": "hi"}, headers=AUTH) as resp:
        assert resp.status == 400
    async with http.post(f"{fake.origin}/_control/chats/{dana.id}/incoming", json={"text": "?"}):
        pass
    async with http.post(send, json={"type": "text", "text": "hi"}, headers=AUTH) as resp:
        assert resp.status == 200
    await fake.emitter.drain()
    assert receiver.events() == ["newMessage", "newIncomingMessage", "newMessage"]


async def test_cli_runs_the_simulator_until_sigterm() -> None:
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "worker", "simulator", "--port", "0", "--token", TOKEN,
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        url = line.split()[4]
        assert url.endswith("/server/api/v2"), line
        async with aiohttp.ClientSession() as http, http.get(f"{url}/labels", headers=AUTH) as resp:
            assert resp.status == 200
            assert json.loads(await resp.text())["total"] == 4
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
