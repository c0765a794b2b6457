"""The webhooks the fake Texter sends after a state change, delivered like Texter would.

Two kinds of target receive them:
* the configured target (`configure(url, token=..., events=...)`, or the control endpoint),
  which gets every event (or the listed ones), with `Authorization: Bearer <token>` when a
  token is set, so it can authenticate to the worker's ingress;
* every *active imported subscription* (a `(SUB)` scenario whose first action is `request`):
  it gets its own eventName at its own URL (a token in that URL's query authenticates it).

Deliveries run in the background; `drain()` waits for all of them, and `deliveries` records
each one (event, url, status or error) for assertions.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import aiohttp

from simulator.state import Json, State


@dataclass(frozen=True)
class Target:
    url: str
    token: str | None = None
    events: frozenset[str] | None = None  # None = every event


@dataclass(frozen=True)
class Delivery:
    event: str
    url: str
    body: Json
    status: int | None
    error: str | None = None


class WebhookEmitter:
    def __init__(self, state: State, *, timeout: float = 10.0) -> None:
        self._state = state
        self._timeout = timeout
        self.target: Target | None = None
        self.deliveries: list[Delivery] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    def configure(
        self, url: str, *, token: str | None = None, events: list[str] | None = None
    ) -> None:
        self.target = Target(url, token, None if events is None else frozenset(events))

    def disable(self) -> None:
        self.target = None

    def emit(self, event_name: str, event_data: Json) -> None:
        """Schedule the delivery of `{eventName, eventData}` to every interested target."""
        body = {"eventName": event_name, "eventData": event_data}
        for target in self._targets(event_name):
            task = asyncio.get_running_loop().create_task(self._deliver(target, event_name, body))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait until every scheduled delivery has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks))

    async def close(self) -> None:
        await self.drain()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _targets(self, event_name: str) -> list[Target]:
        targets = []
        if self.target is not None and (
            self.target.events is None or event_name in self.target.events
        ):
            targets.append(self.target)
        for scenario in self._state.scenarios.values():
            url = subscription_url(scenario, event_name)
            if url is not None:
                targets.append(Target(url))
        return targets

    async def _deliver(self, target: Target, event_name: str, body: Json) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout)
            )
        headers = {"Content-Type": "application/json"}
        if target.token:
            headers["Authorization"] = f"Bearer {target.token}"
        data = json.dumps(body, ensure_ascii=False).encode()
        try:
            async with self._session.post(target.url, data=data, headers=headers) as resp:
                await resp.read()
                delivery = Delivery(event_name, target.url, body, resp.status)
        except (aiohttp.ClientError, TimeoutError) as exc:  # Texter does not retry either
            delivery = Delivery(event_name, target.url, body, None, repr(exc))
        self.deliveries.append(delivery)


def subscription_url(scenario: Json, event_name: str) -> str | None:
    """The URL an active imported subscription posts `event_name` to, if it does."""
    revision: Any = scenario.get("activeRevision")
    if not isinstance(revision, dict):
        return None
    for action in revision.get("actions") or []:
        params = action.get("params") or {}
        data = params.get("data") or {}
        if action.get("name") == "request" and data.get("eventName") == event_name:
            url = params.get("url")
            return url if isinstance(url, str) and url.startswith("http") else None
    return None
