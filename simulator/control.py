"""The fake's control endpoint under /_control: faults, recorded calls, webhooks, contact acts.

Not part of Texter's API; no API token needed (bind the fake to loopback). Routes:

    GET    /_control/calls             every recorded call (method, path, query, body, at, status)
    DELETE /_control/calls             forget them
    GET    /_control/faults            the active faults
    PUT    /_control/faults            replace them, e.g. {"errors": 3, "error_status": 503}
    DELETE /_control/faults            back to no faults
    PUT    /_control/webhooks          {"url": ..., "token": ..., "events": [...]} emit webhooks
    DELETE /_control/webhooks          stop emitting to the configured URL
    GET    /_control/webhooks          deliveries made so far
    GET    /_control/state             chats, labels, templates, opt-outs, scenarios
    POST   /_control/reset             empty the state; {"seed": true} re-seeds it
    POST   /_control/chats/{id}/incoming   {"text": ...} the contact writes (opens the window)
    POST   /_control/chats/{id}/take       {"agentUid": ...} an agent takes the chat (ASSIGNED)
"""

from __future__ import annotations

from dataclasses import asdict

from aiohttp import web

from simulator.faults import FaultPlan, Faults
from simulator.seed import seed
from simulator.state import ASSIGNED
from simulator.web import EMITTER, STATE, answer, body_object, chat_or_404, fail

routes = web.RouteTableDef()
CALLS = web.AppKey("calls", list)  # list[Call]
PLAN = web.AppKey("plan", FaultPlan)


@routes.get("/_control/calls")
async def get_calls(request: web.Request) -> web.Response:
    return answer([asdict(c) for c in request.app[CALLS]])


@routes.delete("/_control/calls")
async def clear_calls(request: web.Request) -> web.Response:
    request.app[CALLS].clear()
    return answer({"ok": True})


@routes.get("/_control/faults")
async def get_faults(request: web.Request) -> web.Response:
    return answer(request.app[PLAN].faults.to_json())


@routes.put("/_control/faults")
async def put_faults(request: web.Request) -> web.Response:
    try:
        faults = Faults.from_json(await body_object(request))
    except (TypeError, ValueError) as exc:
        fail(400, str(exc))
    request.app[PLAN].set(faults)
    return answer(faults.to_json())


@routes.delete("/_control/faults")
async def clear_faults(request: web.Request) -> web.Response:
    request.app[PLAN].set(Faults())
    return answer({"ok": True})


@routes.put("/_control/webhooks")
async def put_webhooks(request: web.Request) -> web.Response:
    body = await body_object(request)
    if not isinstance(body.get("url"), str):
        fail(400, "url is required")
    request.app[EMITTER].configure(body["url"], token=body.get("token"), events=body.get("events"))
    return answer({"ok": True})


@routes.delete("/_control/webhooks")
async def delete_webhooks(request: web.Request) -> web.Response:
    request.app[EMITTER].disable()
    return answer({"ok": True})


@routes.get("/_control/webhooks")
async def get_deliveries(request: web.Request) -> web.Response:
    return answer([asdict(d) for d in request.app[EMITTER].deliveries])


@routes.get("/_control/state")
async def get_state(request: web.Request) -> web.Response:
    s = request.app[STATE]
    return answer(
        {
            "chats": [c.full() for c in s.chats.values()],
            "labels": list(s.labels.values()),
            "templates": list(s.templates.values()),
            "unsubscribed": list(s.unsubscribed.values()),
            "scenarios": list(s.scenarios.values()),
        }
    )


@routes.post("/_control/reset")
async def reset(request: web.Request) -> web.Response:
    body = await body_object(request)
    request.app[STATE].reset()
    if body.get("seed"):
        seed(request.app[STATE])
    return answer({"ok": True})


@routes.post("/_control/chats/{chatId}/incoming")
async def incoming(request: web.Request) -> web.Response:
    chat = chat_or_404(request)
    body = await body_object(request)
    text = str(body.get("text", "Hello"))
    message = request.app[STATE].add_message(chat, "incoming", {"type": "text", "text": text})
    data = {"message": message, "chat": chat.full()}
    request.app[EMITTER].emit("newMessage", data)
    request.app[EMITTER].emit("newIncomingMessage", data)
    return answer(message)


@routes.post("/_control/chats/{chatId}/take")
async def take(request: web.Request) -> web.Response:
    chat = chat_or_404(request)
    body = await body_object(request)
    s = request.app[STATE]
    agent = s.find_agent(body.get("agentUid"), body.get("agentEmail"), None)
    if agent is None:
        fail(400, "agent not found")
    chat.agent, chat.status = agent, ASSIGNED
    s.touch(chat)
    agent_json = {
        "id": agent.uid,
        "crmId": agent.crm_id,
        "email": agent.email,
        "displayName": agent.display_name,
        "roles": ["agent"],
    }
    request.app[EMITTER].emit("chatAssigned", {"chat": chat.full(), "agent": agent_json})
    return answer(chat.full())
