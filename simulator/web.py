"""Helpers shared by the fake's route modules: app keys, JSON in and out, lookups."""

from __future__ import annotations

import json
from typing import Any, NoReturn

from aiohttp import web

from simulator.emitter import WebhookEmitter
from simulator.state import Chat, Json, State

STATE = web.AppKey("state", State)
EMITTER = web.AppKey("emitter", WebhookEmitter)


def ok_text() -> web.Response:
    """Texter's plain-text success body."""
    return web.Response(text="OK", content_type="text/plain")


def answer(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, ensure_ascii=False))


class Fail(Exception):
    """Raised by handlers; the fake's middleware turns it into a JSON error answer."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)

    def response(self) -> web.Response:
        # Texter's real error body format is undocumented; this shape is the fake's choice.
        return answer({"error": self.message, "statusCode": self.status}, self.status)


def fail(status: int, message: str) -> NoReturn:
    raise Fail(status, message)


async def body_json(request: web.Request) -> Any:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        fail(400, "body is not valid JSON")


async def body_object(request: web.Request) -> Json:
    """The JSON body, which must be an object; an empty body reads as {}."""
    if not await request.read():
        return {}
    data = await body_json(request)
    if not isinstance(data, dict):
        fail(400, "body must be a JSON object")
    return data


def state(request: web.Request) -> State:
    return request.app[STATE]


def emitter(request: web.Request) -> WebhookEmitter:
    return request.app[EMITTER]


def chat_or_404(request: web.Request, key: str = "chatId") -> Chat:
    chat = state(request).chats.get(request.match_info[key])
    if chat is None:
        fail(404, "chat not found")
    return chat


def int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        fail(400, f"{name} must be a whole number {low}-{high}")
    return int(raw)


def paged(items: list[Any], request: web.Request, *, default: int, high: int) -> list[Any]:
    limit = int_query(request, "limit", default, 1, high)
    skip = int_query(request, "skip", 0, 0, 100_000)
    return items[skip : skip + limit]
