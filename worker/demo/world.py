"""The demo's world: a seeded fake Texter, a catcher for the rules' external calls, the rules.

The fake gets what the example rules expect (the templates they send, the VIP desk agent,
an order id on Yossi's chat); the example's external URLs (a CRM, an ops alert hook) are pointed
at a local catcher, since the demo runs without a network: `https://crm.example.com/x` becomes
`<catcher>/crm.example.com/x`, so the catcher can tell which system was called.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from aiohttp import web

from simulator.seed import ACCOUNT
from simulator.server import FakeTexter
from simulator.state import Agent

EXTERNAL_HOSTS = ("https://crm.example.com", "https://hooks.example.com")


@dataclass(frozen=True)
class External:
    """One request a rule's `http` step sent to an "external system"."""

    method: str
    path: str  # the original host and path: crm.example.com/api/contacts/972.../vip
    body: object
    status: int


def example_rules() -> str:
    """rules.example.yaml: from the source checkout, else the copy shipped in the package."""
    checkout = Path(__file__).resolve().parents[2] / "rules.example.yaml"
    if checkout.exists():
        return checkout.read_text(encoding="utf-8")
    return files("worker.demo").joinpath("rules.example.yaml").read_text(encoding="utf-8")


@dataclass
class Catcher:
    """Records the JSON the rules' `http` steps send to "external systems"."""

    received: list[External] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        self.received.append(External(request.method, request.path.lstrip("/"), body, 200))
        return web.json_response({"ok": True})


@dataclass
class World:
    fake: FakeTexter
    catcher: Catcher
    rules_file: Path
    token: str

    def chat_id(self, title: str) -> str:
        return next(c.id for c in self.fake.state.chats.values() if c.title == title)

    def title_of(self, chat_id: str) -> str | None:
        chat = self.fake.state.chats.get(chat_id)
        return chat.title if chat else None

    def title_of_phone(self, phone: str) -> str | None:
        return next((c.title for c in self.fake.state.chats.values() if c.phone == phone), None)


def _template(name: str, language: str, text: str) -> dict[str, object]:
    return {
        "_id": name,
        "name": name,
        "title": name,
        "usage": "inbox",
        "chatStatus": 1,
        "departments": [],
        "isDefault": False,
        "channelInfo": {"name": "whatsapp", "accountId": ACCOUNT},
        "provider_template": {
            "name": name,
            "category": "UTILITY",
            "metadata": {},
            "localizations": [
                {
                    "language": language,
                    "status": "APPROVED",
                    "components": [{"type": "BODY", "text": text}],
                }
            ],
        },
        "localizationDrafts": {},
        "defaults": {},
    }


def _seed_for_the_example(fake: FakeTexter) -> None:
    s = fake.state
    s.templates[(ACCOUNT, "feedback_survey")] = _template(
        "feedback_survey", "he", "היי {{1}}, איך היה השירות? דרגו אותנו 1-5"
    )
    s.templates[(ACCOUNT, "ops_alert")] = _template("ops_alert", "en", "Alert {{1}} on {{2}}")
    s.agents.append(
        Agent("0b9f6c1e-0000-4000-8000-000000000001", "vip-desk@example.co.il", "VIP Desk", "2001")
    )
    yossi = next(c for c in s.chats.values() if c.title == "Yossi Levi")
    yossi.crm_data = {"orderId": "15033"}


@asynccontextmanager
async def demo_world(workdir: Path) -> AsyncIterator[World]:
    catcher = Catcher()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", catcher.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    catcher.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    token = secrets.token_urlsafe(24)
    rules = example_rules()
    for host in EXTERNAL_HOSTS:
        rules = rules.replace(host, f"{catcher.url}/{host.removeprefix('https://')}")
    rules_file = workdir / "rules.yaml"
    rules_file.write_text(rules, encoding="utf-8")
    try:
        async with FakeTexter(token=token, seed=True) as fake:
            _seed_for_the_example(fake)
            yield World(fake, catcher, rules_file, token)
    finally:
        await runner.cleanup()
