"""Fake message and file endpoints: read messages, send a session message, share a file."""

from __future__ import annotations

import secrets

from aiohttp import web

from simulator import validation as v
from simulator.web import answer, body_object, chat_or_404, emitter, fail, int_query, state

routes = web.RouteTableDef()


@routes.get("/messages/chat/{chatId}")
async def get_messages(request: web.Request) -> web.Response:
    chat = chat_or_404(request)
    q = request.query
    limit = int_query(request, "limit", 50, 1, 10_000)
    messages = state(request).messages[chat.id]
    if "botSessionId" in q:
        selected = [m for m in messages if m.get("botSessionId") == q["botSessionId"]]
    elif "beforeTime" in q and "beforeId" in q:
        before = int_query(request, "beforeTime", 0, 0, 2**53)
        selected = [m for m in messages if m["timestamp"] <= before and m["_id"] != q["beforeId"]]
    else:
        fail(400, "give botSessionId, or beforeTime together with beforeId")
    times = [m["timestamp"] for m in messages] or [None]
    return answer({"messages": selected[-limit:], "minTime": times[0], "maxTime": times[-1]})


@routes.post("/messages/send/{chatId}")
async def send_message(request: web.Request) -> web.Response:
    chat = chat_or_404(request)
    body = await body_object(request)
    if (problem := v.check_send_message(body)) is not None:
        fail(400, problem)
    s = state(request)
    if not s.in_window(chat):
        fail(400, "the 24-hour customer service window is closed; send a template instead")
    content = {k: val for k, val in body.items() if k not in ("context", "tmpSendId")}
    message = s.add_message(chat, "outgoing", content)
    emitter(request).emit("newMessage", {"message": message, "chat": chat.full()})
    return answer({"success": True, "messages": [message]})


@routes.post("/files/share/{fileId}")
async def share_file(request: web.Request) -> web.Response:
    body = await body_object(request)
    ttl = body.get("ttl")
    if ttl is not None and (not isinstance(ttl, int) or not 10 <= ttl <= 630_720_000):
        fail(400, "ttl must be 10-630720000 seconds")
    file_id = request.match_info["fileId"]
    token = secrets.token_hex(48)
    url = f"{request.url.origin()}/server/files/shared/{file_id}/{token}"
    return answer({"token": token, "url": url})
