"""Fake chat endpoints: assign, get, resolve, search, update, CRM data, labels."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from simulator import validation as v
from simulator.state import PENDING, RESOLVED, STATUS_NAMES, Chat, Json
from simulator.web import (
    answer,
    body_object,
    chat_or_404,
    emitter,
    fail,
    ok_text,
    paged,
    state,
)

routes = web.RouteTableDef()


@routes.post("/chats/assign")
async def assign(request: web.Request) -> web.Response:
    body = await body_object(request)
    if (problem := v.check_assign(body)) is not None:
        fail(400, problem)
    s = state(request)
    if "chatId" in body:
        chat = s.chats.get(str(body["chatId"]))
    else:
        chat = s.chat_by_phone(v.normalize_phone(str(body["phone"])))
    if chat is None:
        fail(404, "chat not found")
    ids = (body.get("agentUid"), body.get("agentEmail"), body.get("agentCrmId"))
    if ids != (None, None, None):
        agent = s.find_agent(*ids)
        if agent is None:
            fail(400, "agent not found")
        chat.agent = agent
    if "departmentId" in body:
        chat.department_id = body["departmentId"]
    chat.status = PENDING  # the API assigns as PENDING; an agent taking it makes it ASSIGNED
    s.touch(chat)
    emitter(request).emit("chatPending", {"chat": chat.full()})
    return ok_text()


@routes.get("/chats/search")
async def search(request: web.Request) -> web.Response:
    q = request.query
    chats = [c for c in state(request).chats.values() if c.last_message_ms is not None]
    if (text := q.get("search")) is not None:
        if len(text) < 2:
            fail(400, "search must be at least 2 characters")
        chats = [c for c in chats if _matches(c, text)]
    if labels := q.getall("labels[]", []):
        chats = [c for c in chats if set(c.labels) & set(labels)]
    if statuses := q.getall("statuses[]", []):
        if bad := [s for s in statuses if s not in STATUS_NAMES]:
            fail(400, f"unknown status {bad[0]}; use {', '.join(STATUS_NAMES)}")
        chats = [c for c in chats if STATUS_NAMES[c.status] in statuses]
    if ("channel[name]" in q) != ("channel[accountId]" in q):
        fail(400, "channel[name] and channel[accountId] go together")
    if account := q.get("channel[accountId]"):
        chats = [c for c in chats if c.account_id == account]
    chats.sort(key=lambda c: c.last_message_ms or 0, reverse=True)
    page = paged(chats, request, default=30, high=10_000)
    return answer({"data": [c.search_view() for c in page], "total": len(chats)})


def _matches(chat: Chat, text: str) -> bool:
    digits = v.normalize_phone(text)
    names = f"{chat.title} {chat.display_name or ''}".lower()
    return text.lower() in names or (len(digits) >= 2 and digits in chat.phone)


@routes.get("/chats/{chatId}")
async def get_chat(request: web.Request) -> web.Response:
    return answer(chat_or_404(request).public_view())


@routes.post("/chats/{chatId}/resolve")
async def resolve(request: web.Request) -> web.Response:
    chat = chat_or_404(request)
    body = await body_object(request)
    s = state(request)
    if body.get("notifyClient") is True:
        message = s.add_message(chat, "outgoing", {"type": "text", "text": "Chat resolved."})
        emitter(request).emit("newMessage", {"message": message, "chat": chat.full()})
    chat.status = RESOLVED
    s.touch(chat)
    emitter(request).emit("chatResolved", {"chat": chat.full()})
    return answer({"success": True})


@routes.patch("/chats/{chatId}")
async def update_chat(request: web.Request) -> web.Response:
    chat = chat_or_404(request)
    body = await body_object(request)
    was_external = chat.external_bot
    _apply_update(chat, body)
    state(request).touch(chat)
    if chat.external_bot != was_external:
        event = "externalBotEnabled" if chat.external_bot else "externalBotDisabled"
        emitter(request).emit(event, {"chat": chat.full()})
    return answer(chat.full())


def _apply_update(chat: Chat, body: Json) -> None:
    checks: dict[str, Any] = {
        "displayName": str,
        "externalBot": bool,
        "crmData": dict,
        "crmDeepLink": str,
    }
    for key, kind in checks.items():
        if key in body and not isinstance(body[key], kind):
            fail(400, f"{key} must be a {kind.__name__}")
    if len(body.get("displayName", "")) > 255:
        fail(400, "displayName longer than 255 characters")
    chat.display_name = body.get("displayName", chat.display_name)
    chat.external_bot = body.get("externalBot", chat.external_bot)
    chat.crm_data = body.get("crmData", chat.crm_data)  # overwritten, not merged
    chat.crm_deep_link = body.get("crmDeepLink", chat.crm_deep_link)


@routes.post("/chats/{chatId}/crm-data")
async def crm_data(request: web.Request) -> web.Response:
    chat = chat_or_404(request)
    body = await body_object(request)
    if not isinstance(body.get("data"), dict):
        fail(400, "data (an object) is required")
    chat.crm_data = deep_merge(chat.crm_data, body["data"])
    state(request).touch(chat)
    return answer({"success": True, **chat.full()})


def deep_merge(old: Json, new: Json) -> Json:
    """Texter's default `merge` mode: nested objects merged, other values overwritten."""
    out = dict(old)
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


@routes.post("/chats/{chatId}/labels")
async def chat_labels(request: web.Request) -> web.Response:
    chat = chat_or_404(request)
    body = await body_object(request)
    if (problem := v.check_labels(body)) is not None:
        fail(400, problem)
    old = list(chat.labels)
    if "set" in body:
        new = list(dict.fromkeys(body["set"]))
    elif "add" in body:
        new = old + [label for label in dict.fromkeys(body["add"]) if label not in old]
    else:
        new = [label for label in old if label not in body["remove"]]
    chat.labels = new
    state(request).touch(chat)
    added = [label for label in new if label not in old]
    removed = [label for label in old if label not in new]
    if added or removed:  # Texter reports changes, not no-op writes
        data = {"chat": chat.full(), "oldLabels": old, "addedLabels": added}
        emitter(request).emit("chatLabelsUpdated", {**data, "removedLabels": removed})
    return ok_text()
