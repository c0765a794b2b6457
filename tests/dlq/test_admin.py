"""The admin HTTP API over an embedded bus (a small app of the test's own), and the CLI
talking to it the way it talks to a running service without AMQP_URL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
import msgspec
import pytest
from aiohttp import web

from producers.admin import add_admin_routes
from tests.dlq.support import CHAT, IN_DOUBT, POISON, event_delivery, get_one, plan_delivery, seed
from worker.bus import Topology
from worker.bus.embedded import EmbeddedBus
from worker.cli import main
from worker.dlq import DeadLetterBox, Listing, ReplayReport
from worker.settings import VARIABLES
from worker.state.ledger import EntryState
from worker.state.sqlite_ledger import SQLiteLedger

TOKEN = "admin-token-0123456789"


@dataclass
class Admin:
    url: str
    bus: EmbeddedBus
    topology: Topology

    def headers(self, token: str = TOKEN) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def _serve(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def admin(
    embedded_bus: EmbeddedBus, topology: Topology, ledger: SQLiteLedger
) -> AsyncIterator[Admin]:
    app = web.Application()
    added = add_admin_routes(
        app, lambda: DeadLetterBox(embedded_bus, topology, ledger, publish_timeout=5), TOKEN
    )
    assert added
    async with _serve(app) as url:
        yield Admin(url, embedded_bus, topology)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No AMQP_URL (the embedded case), nothing else from the developer's environment."""
    for var in VARIABLES:
        monkeypatch.delenv(var.name, raising=False)
    monkeypatch.setenv("ADMIN_TOKEN", TOKEN)
    return monkeypatch


async def _cli(*args: str) -> int:
    # main() runs its own event loop (asyncio.run): a thread, while this loop serves the app.
    return await asyncio.to_thread(main, ["dlq", *args])


# --- authentication ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token-0123456789", f"Basic {TOKEN}", TOKEN, f"Bearer {TOKEN}x"],
)
async def test_every_route_refuses_a_missing_or_wrong_token(
    admin: Admin, http: aiohttp.ClientSession, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    calls = [
        ("GET", "/admin/dlq"),
        ("GET", "/admin/dlq/0123456789ab"),
        ("POST", "/admin/dlq/replay"),
        ("POST", "/admin/dlq/purge"),
        ("POST", "/admin/dlq/0123456789ab/resolve"),
    ]
    for method, path in calls:
        async with http.request(method, admin.url + path, headers=headers, data=b"{}") as r:
            assert r.status == 401, path
            assert await r.json() == {"error": "missing or wrong admin token"}


@pytest.mark.parametrize("token", [None, ""])
async def test_without_a_token_there_is_no_admin_api(
    http: aiohttp.ClientSession, embedded_bus: EmbeddedBus, topology: Topology, token: str | None
) -> None:
    app = web.Application()
    assert not add_admin_routes(app, lambda: DeadLetterBox(embedded_bus, topology), token)
    async with _serve(app) as url:
        r = await http.get(url + "/admin/dlq", headers={"Authorization": "Bearer "})
        assert r.status == 404
        r.release()


# --- the routes --------------------------------------------------------------------------------


async def test_list_show_replay_purge_and_resolve_over_http(
    admin: Admin, http: aiohttp.ClientSession, ledger: SQLiteLedger
) -> None:
    bus, topology = admin.bus, admin.topology
    await seed(bus, topology, plan_delivery(topology), IN_DOUBT)
    await seed(bus, topology, event_delivery(topology, 1), POISON)
    await ledger.claim("plan-1:0")
    base, auth = admin.url + "/admin/dlq", admin.headers()

    async with http.get(base, params={"reason": "in_doubt"}, headers=auth) as r:
        assert r.status == 200
        listing = msgspec.json.decode(await r.read(), type=Listing)
    assert (listing.matching, listing.total) == (1, 2)
    (entry,) = listing.entries
    assert (entry.chat, entry.step_key) == (CHAT, "plan-1:0")

    async with http.get(f"{base}/{entry.id}", headers=auth) as r:
        shown = await r.json()
    assert shown["headers"]["x-dead-reason"] == "in_doubt"
    assert '"plan-1"' in shown["body"]

    async with http.post(f"{base}/{entry.id}/resolve", json={"sent": True}, headers=auth) as r:
        assert (r.status, (await r.json())["state"]) == (200, "done")
    assert await ledger.state("plan-1:0") is EntryState.DONE

    async with http.post(f"{base}/replay", json={"ids": [entry.id]}, headers=auth) as r:
        report = msgspec.json.decode(await r.read(), type=ReplayReport)
    assert report.replayed == (entry.id,)
    back = await get_one(bus, topology.writer_queue(int(entry.routing_key[-1])))
    assert back.message.type == "plan"

    async with http.post(f"{base}/purge", json={"reason": "poison"}, headers=auth) as r:
        removed = (await r.json())["removed"]
    assert [e["reason"] for e in removed] == ["poison"]
    assert await bus.queue_depth(topology.dead_queue) == 0


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/admin/dlq/0123456789ab", None, 404),
        ("GET", "/admin/dlq?limit=zero", None, 400),
        ("POST", "/admin/dlq/replay", {}, 400),  # selects nothing
        ("POST", "/admin/dlq/replay", {"everything": True}, 400),  # unknown field
        ("POST", "/admin/dlq/purge", "not json", 400),
        ("POST", "/admin/dlq/0123456789ab/resolve", {"sent": True}, 404),
        ("POST", "/admin/dlq/{poison}/resolve", {"sent": True}, 409),  # not in doubt
        ("POST", "/admin/dlq/{poison}/resolve", {"sent": "yes"}, 400),
    ],
)
async def test_bad_requests_get_clear_answers(
    admin: Admin,
    http: aiohttp.ClientSession,
    *,
    method: str,
    path: str,
    body: object,
    status: int,
) -> None:
    await seed(admin.bus, admin.topology, event_delivery(admin.topology), POISON)
    box = DeadLetterBox(admin.bus, admin.topology)
    (poison,) = (await box.list()).entries
    data = None if body is None else msgspec.json.encode(body)
    url = admin.url + path.format(poison=poison.id)
    async with http.request(method, url, data=data, headers=admin.headers()) as r:
        assert r.status == status
        assert "error" in await r.json()
    assert await admin.bus.queue_depth(admin.topology.dead_queue) == 1  # nothing changed


# --- the CLI against the running app -----------------------------------------------------------


async def test_the_cli_uses_the_admin_api_without_amqp_url(
    admin: Admin,
    ledger: SQLiteLedger,
    cli_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bus, topology = admin.bus, admin.topology
    await ledger.claim("plan-1:0")
    await seed(bus, topology, plan_delivery(topology), IN_DOUBT)
    await seed(bus, topology, event_delivery(topology, 1), POISON)
    (entry, poison) = (await DeadLetterBox(bus, topology).list()).entries
    cli_env.setenv("HTTP_PORT", admin.url.rsplit(":", 1)[1])  # the default --url

    assert await _cli("list") == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == [
        "TIME",
        "(UTC)",
        "ID",
        "REASON",
        "CHAT",
        "RULE",
        "STEP",
        "ERROR",
    ]
    assert entry.id in out
    assert poison.id in out
    assert "2 of 2 dead letter(s) shown; 2 in the queue" in out

    assert await _cli("show", entry.id, "--url", admin.url) == 0
    assert "x-dead-step-key: plan-1:0" in capsys.readouterr().out

    assert await _cli("resolve", entry.id, "--not-sent") == 0
    assert "not sent" in capsys.readouterr().out
    assert await ledger.state("plan-1:0") is None  # released: the replay sends it

    assert await _cli("replay", entry.id) == 0
    assert f"replayed   {entry.id}" in capsys.readouterr().out
    assert await bus.queue_depth(topology.writer_queue(int(entry.routing_key[-1]))) == 1

    assert await _cli("purge", "--reason", "poison") == 0
    assert f"removed    {poison.id}" in capsys.readouterr().out
    assert await bus.queue_depth(topology.dead_queue) == 0


async def test_the_cli_says_what_is_wrong_with_the_token_or_the_id(
    admin: Admin, cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _cli("show", "0123456789ab", "--url", admin.url) == 1
    assert "no dead letter 0123456789ab" in capsys.readouterr().err

    cli_env.setenv("ADMIN_TOKEN", "another-token-0123456789")
    assert await _cli("list", "--url", admin.url) == 2
    assert "ADMIN_TOKEN must match" in capsys.readouterr().err

    cli_env.delenv("ADMIN_TOKEN")
    assert await _cli("list", "--url", admin.url) == 2
    assert "ADMIN_TOKEN is not set" in capsys.readouterr().err


async def test_the_cli_says_when_no_service_answers(
    cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _cli("list", "--url", "http://127.0.0.1:9") == 3
    assert "cannot reach the admin API" in capsys.readouterr().err
