"""The metrics catalogue in docs/operations.md against a running service's /metrics.

The whole service runs in-process (ingress, rules with rules.example.yaml, writer, on the
embedded bus) against the fake Texter, the bundled sample webhooks are posted, and once every
event and Plan is settled, /metrics is scraped: every catalogued metric must be there with
exactly the documented labels, and every metric there must be catalogued.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from simulator.samples import webhook_body, webhook_names
from simulator.server import FakeTexter
from tests.conftest import wait_for
from tests.deploy.support import ROOT, catalogue, declared, exposed_name
from tests.ingress.harness import SECRET, make_settings
from worker.bus.embedded import EmbeddedBus
from worker.metrics import TEXTER_STATUS_CLASSES, Metrics
from worker.runtime import RunningService, service

TOKEN = "catalogue-test-token-0123456789"
# Requests beside the samples, so more outcomes and label values show up.
EXTRA = (
    b'{"eventName":"aThingTexterNeverSent","eventData":{"chat":{"_id":"6650f1a2b3c4d5e6f7a8bb00"}}}',
    b'{"eventName":"newIncomingMessage","eventData":{}}',  # identity unreadable: body hash
)


@dataclass
class Run:
    scrape: str
    registry: CollectorRegistry


def total(registry: CollectorRegistry, sample: str, **labels: str) -> float:
    return sum(
        s.value
        for family in registry.collect()
        for s in family.samples
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
    )


def give_the_fake_the_sample_chats(fake: FakeTexter) -> None:
    """The samples name chats by id: create them in the fake, inside the 24-hour window."""
    state = fake.state
    for name in webhook_names():
        chat = json.loads(webhook_body(name))["eventData"].get("chat")
        if not chat or chat["_id"] in state.chats:
            continue
        made = state.add_chat(chat["channelInfo"]["id"], chat.get("title") or name)
        del state.chats[made.id]
        state.messages[chat["_id"]] = state.messages.pop(made.id)
        made.id = chat["_id"]
        made.last_incoming_ms = state.clock()
        state.chats[made.id] = made


async def external_endpoint() -> AsyncIterator[str]:
    """Stands in for the example rules' CRM and alert hooks: a loopback server answering 200."""

    async def ok(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def example_rules(tmp: Path, hooks: str) -> Path:
    """rules.example.yaml with its two external http hosts pointed at the loopback server."""
    text = (ROOT / "rules.example.yaml").read_text(encoding="utf-8")
    for host in ("https://crm.example.com", "https://hooks.example.com"):
        assert host in text
        text = text.replace(host, hooks)
    path = tmp / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


async def post_everything(running: RunningService, http: aiohttp.ClientSession) -> int:
    """Every sample webhook and the extras with the secret, one without; returns how many 202s."""
    url = f"{running.url}/webhooks/texter"
    bodies = [webhook_body(n) for n in webhook_names()] + list(EXTRA)
    accepted = 0
    for body in bodies:
        headers = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"}
        async with http.post(url, data=body, headers=headers) as resp:
            assert resp.status == 202, await resp.text()
            accepted += 1
    async with http.post(url, data=bodies[0]) as resp:
        assert resp.status == 401
    async with http.post(url, data=b"<xml/>", headers={"Authorization": f"Bearer {SECRET}"}) as r:
        assert r.status == 400
    return accepted


async def settled(registry: CollectorRegistry, accepted: int) -> bool:
    """Every event consumed by the rules, and every Plan they made finished by the writer."""
    events = total(registry, "texter_worker_rules_events_total")
    plans = total(registry, "texter_worker_rules_plans_total")
    finished = sum(
        total(registry, "texter_worker_writer_plans_total", outcome=o)
        for o in ("done", "dead_letter")
    )
    return events == accepted and plans > 0 and finished == plans


@pytest.fixture
async def run(tmp_path: Path, namespace: str) -> AsyncIterator[Run]:
    hooks_gen = external_endpoint()
    hooks = await anext(hooks_gen)
    metrics = Metrics.create()
    bus = EmbeddedBus(metrics.bus)
    base = make_settings(
        namespace,
        rules_file=example_rules(tmp_path, hooks),
        texter_api_token=TOKEN,
        state_dir=tmp_path / "state",
        delay_schedule=(0.05, 0.1),
        texter_retry_attempts=2,
        texter_rate_limit=1000.0,
        texter_rate_burst=1000,
    )
    try:
        async with FakeTexter(token=TOKEN, seed=True) as fake:
            give_the_fake_the_sample_chats(fake)
            fake.set_faults(errors=1)  # the first Texter call answers 503: one retry
            settings = replace(base, texter_base_url=fake.url)
            async with (
                service(settings, metrics, bus=bus) as running,
                aiohttp.ClientSession() as http,
            ):
                accepted = await post_everything(running, http)

                async def done() -> bool:
                    return await settled(metrics.registry, accepted)

                await wait_for(done, timeout=30)
                async with http.get(f"{running.url}/metrics") as resp:
                    assert resp.status == 200
                    yield Run(await resp.text(), metrics.registry)
    finally:
        await bus.close()
        await hooks_gen.aclose()


def scraped(text: str) -> dict[str, tuple[str, list[frozenset[str]]]]:
    """Metric families in a scrape by exposed name: (type, label sets of their samples)."""
    families = list(text_string_to_metric_families(text))
    names = {f.name for f in families}
    found: dict[str, tuple[str, list[frozenset[str]]]] = {}
    for family in families:
        base = family.name.removesuffix("_created")
        if family.name.endswith("_created") and base in names:
            continue  # the client's creation timestamps of counters and histograms
        labels = [frozenset(s.labels) - {"le"} for s in family.samples]
        found[exposed_name(family.name, family.type)] = (family.type, labels)
    return found


async def test_every_catalogued_metric_is_exposed_with_its_labels(run: Run) -> None:
    documented = catalogue()
    exposed = scraped(run.scrape)
    assert set(documented) - set(exposed) == set(), "catalogued but not exposed"
    assert set(exposed) - set(documented) == set(), "exposed but not in the catalogue"
    for name, doc in documented.items():
        kind, label_sets = exposed[name]
        # the text format has no info type: an info metric is a gauge named *_info, value 1
        assert kind == ("gauge" if doc.kind == "info" else doc.kind), name
        for labels in label_sets:
            assert labels == doc.labels, f"{name}: exposed {sorted(labels)}"


async def test_registry_declares_exactly_the_catalogue(run: Run) -> None:
    """Also the label names of metrics no sample showed yet (declared, from the registry)."""
    assert declared() == catalogue()
    families = {exposed_name(f.name, f.type) for f in run.registry.collect()}
    assert families == set(catalogue())


async def test_the_run_exercised_every_stage(run: Run) -> None:
    """Guards the test itself: a scrape of an idle service would prove little."""
    reg = run.registry
    assert total(reg, "texter_worker_ingress_requests_total", outcome="accepted") > 0
    assert total(reg, "texter_worker_ingress_requests_total", outcome="unauthorized") == 1
    assert total(reg, "texter_worker_ingress_events_total", event="other") == 1
    assert total(reg, "texter_worker_rules_matches_total") > 0
    assert total(reg, "texter_worker_texter_requests_total", status="2xx") > 0
    assert total(reg, "texter_worker_texter_retries_total") >= 1
    assert total(reg, "texter_worker_writer_steps_total", outcome="done") > 0
    assert total(reg, "texter_worker_end_to_end_seconds_count") > 0
    assert total(reg, "texter_worker_state_ledger_claims_total", result="claimed") > 0
    assert total(reg, "texter_worker_bus_publishes_total", result="confirmed") > 0


async def test_label_values_are_closed_sets(run: Run) -> None:
    """No chat id, phone number or free text as a label value (DESIGN habit 8)."""
    chat_id = re.compile(r"^[0-9a-f]{24}$")
    phone = re.compile(r"^\+?\d{9,15}$")
    for family in text_string_to_metric_families(run.scrape):
        for sample in family.samples:
            for label, value in sample.labels.items():
                assert not chat_id.match(value), f"{sample.name}{{{label}={value}}}"
                assert not phone.match(value), f"{sample.name}{{{label}={value}}}"
                if label == "status" and sample.name.startswith("texter_worker_texter_"):
                    assert value in TEXTER_STATUS_CLASSES
