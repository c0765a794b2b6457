"""The scripted moments of the demo: what happens in Texter, in Hebrew and English.

Contacts write and agents act through the fake Texter, which sends the webhooks Texter would;
the worker's own writes come back from it as echo webhooks too.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from simulator.samples import webhook_body
from simulator.state import RESOLVED
from worker.demo.world import World


@dataclass
class Stage:
    world: World
    http: aiohttp.ClientSession
    ingress_url: str

    async def contact_writes(self, title: str, text: str) -> None:
        url = f"{self.world.fake.origin}/_control/chats/{self.world.chat_id(title)}/incoming"
        async with self.http.post(url, json={"text": text}) as resp:
            resp.raise_for_status()

    async def agent_takes(self, title: str, email: str) -> None:
        url = f"{self.world.fake.origin}/_control/chats/{self.world.chat_id(title)}/take"
        async with self.http.post(url, json={"agentEmail": email}) as resp:
            resp.raise_for_status()

    def emit(self, event_name: str, data: dict[str, Any]) -> None:
        self.world.fake.emitter.emit(event_name, data)

    def chat(self, title: str) -> Any:
        return self.world.fake.state.chats[self.world.chat_id(title)]


@dataclass(frozen=True)
class Moment:
    title: str
    act: Callable[[Stage], Awaitable[None]]


async def _price(stage: Stage) -> None:
    await stage.contact_writes("Yossi Levi", "Hi! What's the price of a monthly plan? מחיר?")


async def _appointment(stage: Stage) -> None:
    await stage.contact_writes("Dana Cohen", "היי, אני רוצה לקבוע תור למחר בבוקר")


async def _take(stage: Stage) -> None:
    await stage.agent_takes("Yossi Levi", "michal@example.co.il")


async def _vip(stage: Stage) -> None:
    chat = stage.chat("Avi Mizrahi")
    old = list(chat.labels)
    chat.labels.append("VIP")
    stage.world.fake.state.touch(chat)
    stage.emit(
        "chatLabelsUpdated",
        {"chat": chat.full(), "oldLabels": old, "addedLabels": ["VIP"], "removedLabels": []},
    )


async def _opt_in(stage: Stage) -> None:
    await stage.contact_writes("Avi Mizrahi", "הצטרף")


async def _resolve(stage: Stage) -> None:
    chat = stage.chat("Dana Cohen")
    chat.status = RESOLVED
    stage.world.fake.state.touch(chat)
    stage.emit("chatResolvedByAgent", {"chat": chat.full()})


async def _health(stage: Stage) -> None:
    problem = json.loads(webhook_body("channelHealthProblemCreated"))["eventData"]["problem"]
    stage.emit("channelHealthProblemCreated", {"problem": problem})


async def _wrong_token(stage: Stage) -> None:
    body = webhook_body("newIncomingMessage")
    headers = {"Authorization": "Bearer not-the-secret", "Content-Type": "application/json"}
    async with stage.http.post(stage.ingress_url, data=body, headers=headers) as resp:
        await resp.read()


async def _stop(stage: Stage) -> None:
    await stage.contact_writes("Yossi Levi", "STOP")


SCENARIO = (
    Moment("Yossi asks for the price (English + Hebrew)", _price),
    Moment('Dana writes "אני רוצה לקבוע תור" (an appointment)', _appointment),
    Moment("Michal (an agent) takes Yossi's chat", _take),
    Moment("An agent adds the VIP label to Avi's chat", _vip),
    Moment('Avi, unsubscribed from templates, writes "הצטרף"', _opt_in),
    Moment("An agent resolves Dana's chat", _resolve),
    Moment("...and resolves it again (the survey is once per chat per day)", _resolve),
    Moment("WhatsApp reports a channel health problem", _health),
    Moment("Someone posts a webhook with a wrong token", _wrong_token),
    Moment('Yossi writes "STOP"', _stop),
)
