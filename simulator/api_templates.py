"""Fake WhatsApp template endpoints, including send and the template opt-out list."""

from __future__ import annotations

import re

from aiohttp import web

from simulator import validation as v
from simulator.state import BULK, Json
from simulator.web import answer, body_object, emitter, fail, ok_text, paged, state

routes = web.RouteTableDef()
T = "/whatsapp/templates"


def _template_or_404(request: web.Request) -> Json:
    key = (request.match_info["accountId"], request.match_info["templateName"])
    template = state(request).templates.get(key)
    if template is None:
        fail(404, "template not found")
    return template


def approved_languages(template: Json) -> list[str]:
    locs = template["provider_template"]["localizations"]
    return [loc["language"] for loc in locs if loc.get("status") == "APPROVED"]


@routes.get(T)
async def list_templates(request: web.Request) -> web.Response:
    account = request.query.get("accountId")
    include_all = request.query.get("includeAll") in ("true", "1")
    out = [
        t
        for (acc, _), t in state(request).templates.items()
        if (account is None or acc == account) and (include_all or approved_languages(t))
    ]
    return answer(out)


@routes.post(T + "/send")
async def send_template(request: web.Request) -> web.Response:
    body = await body_object(request)
    if (problem := v.check_send_template(body)) is not None:
        fail(400, problem)
    s = state(request)
    phone = v.normalize_phone(body["to"])
    matches = [t for (acc, name), t in s.templates.items() if name == body["templateName"]]
    matches = [t for t in matches if body.get("from") in (None, t["channelInfo"]["accountId"])]
    if not matches or not approved_languages(matches[0]):
        fail(400, "no approved template with that name")
    template = matches[0]
    account = template["channelInfo"]["accountId"]  # `from`, or the template's own account
    if s.blocks_templates(phone, account):  # documented: skipped, and success false
        return answer({"success": False, "error": "recipient unsubscribed from templates"})
    text = render(template, body.get("language"), body.get("body") or [])
    chat = s.chat_by_phone(phone, account) or s.add_chat(phone, phone, account_id=account)
    if chat.last_message_ms is None:
        chat.status = BULK if template.get("usage") == "bulk" else chat.status
    message = s.add_message(chat, "outgoing", {"type": "special", "text": text})
    emitter(request).emit("newMessage", {"message": message, "chat": chat.full()})
    return answer(
        {"success": True, "text": text, "sentAsSessionMessage": False, "messageId": message["_id"]}
    )


def render(template: Json, language: str | None, values: list[str]) -> str:
    """The BODY text of the approved localization with {{n}} filled from `values`."""
    for loc in template["provider_template"]["localizations"]:
        if loc.get("status") == "APPROVED" and language in (None, loc["language"]):
            for comp in loc.get("components", []):
                if comp.get("type") == "BODY":
                    return re.sub(
                        r"\{\{(\d+)\}\}",
                        lambda m: values[int(m[1]) - 1] if int(m[1]) <= len(values) else m[0],
                        str(comp.get("text", "")),
                    )
    fail(400, f"no approved localization for language {language}")


async def _opt_out_body(request: web.Request) -> tuple[str, str | None]:
    """(phone digits, accountId or None = every WhatsApp account) of an opt-out/opt-in."""
    body = await body_object(request)
    if (problem := v.check_opt_out(body)) is not None:
        fail(400, problem)
    return v.normalize_phone(body["phone"]), body.get("accountId")


@routes.post(T + "/unsubscribe")
async def unsubscribe(request: web.Request) -> web.Response:
    phone, account = await _opt_out_body(request)
    s = state(request)
    if s.opt_out(phone, account):
        for chat in s.chats_by_phone(phone, account):
            emitter(request).emit("chatUnsubscribed", {"chat": chat.full()})
    return answer({"success": True})


@routes.post(T + "/subscribe")
async def resubscribe(request: web.Request) -> web.Response:
    phone, account = await _opt_out_body(request)
    s = state(request)
    if s.opt_in(phone, account):
        for chat in s.chats_by_phone(phone, account):
            emitter(request).emit("chatSubscribed", {"chat": chat.full()})
    return answer({"success": True})


@routes.get(T + "/unsubscribed")
async def list_unsubscribed(request: web.Request) -> web.Response:
    return _unsubscribed(request, None)


@routes.get(T + "/unsubscribed/{accountId}")
async def list_unsubscribed_account(request: web.Request) -> web.Response:
    return _unsubscribed(request, request.match_info["accountId"])


def _unsubscribed(request: web.Request, account: str | None) -> web.Response:
    entries = state(request).opt_outs(account)
    page = paged(entries, request, default=10_000, high=9_999)
    return answer([{k: e[k] for k in ("title", "phone") if k in e} for e in page])


@routes.post(T + "/{accountId}")
async def create_template(request: web.Request) -> web.Response:
    body = await body_object(request)
    for key in ("title", "category", "chatStatus", "usage"):
        if key not in body:
            fail(400, f"{key} is required")
    if body["category"] not in ("MARKETING", "UTILITY") or body["chatStatus"] not in range(4):
        fail(400, "category must be MARKETING or UTILITY and chatStatus 0-3")
    s = state(request)
    account = request.match_info["accountId"]
    name = body.get("name") or f"{body['usage']}_{body['category'].lower()}_{len(s.templates)}"
    if (account, name) in s.templates:
        fail(400, "a template with this name exists")
    template = new_template(s.new_id(), account, name, body, s.clock())
    s.templates[(account, name)] = template
    return answer(template)


def new_template(template_id: str, account: str, name: str, body: Json, now_ms: int) -> Json:
    fields = ("title", "chatStatus", "usage", "departments", "isDefault", "setBotNode")
    return {
        "_id": template_id,
        "name": name,
        "channelInfo": {"name": "whatsapp", "accountId": account},
        "created": now_ms,
        "departments": [],
        "isDefault": False,
        "localizationDrafts": {},
        "provider_template": {
            "name": name,
            "category": body["category"],
            "localizations": [],
            "metadata": {},
        },
        **{k: body[k] for k in fields if k in body},
    }


@routes.post(T + "/{accountId}/{templateName}/localizations")
async def localize(request: web.Request) -> web.Response:
    template = _template_or_404(request)
    body = await body_object(request)
    if not isinstance(body.get("language"), str) or not body.get("components"):
        fail(400, "language and components (at least one) are required")
    if template["provider_template"]["localizations"]:
        fail(400, "template already submitted; create a new template instead")
    template["localizationDrafts"][body["language"]] = {
        "components": body["components"],
        "defaults": body.get("defaults", {}),
    }
    return answer(template)


@routes.post(T + "/{accountId}/{templateName}/localizations/{language}/submit")
async def submit(request: web.Request) -> web.Response:
    template = _template_or_404(request)
    language = request.match_info["language"]
    draft = template["localizationDrafts"].pop(language, None)
    if draft is None:
        fail(400, f"no draft localization for {language}")
    loc = {"language": language, "status": "REQUESTED", "components": draft["components"]}
    template["provider_template"]["localizations"].append(loc)
    return answer(template)


@routes.patch(T + "/{accountId}/{templateName}")
async def update_template(request: web.Request) -> web.Response:
    template = _template_or_404(request)
    body = await body_object(request)
    if {"name", "category"} & set(body):
        fail(400, "name and category cannot change")
    if "responsibleAgent" in body and "responsibleDepartment" in body:
        fail(400, "responsibleAgent and responsibleDepartment are exclusive")
    template.update(body)
    return answer(template)


@routes.delete(T + "/{accountId}/{templateName}")
async def delete_template(request: web.Request) -> web.Response:
    _template_or_404(request)
    key = (request.match_info["accountId"], request.match_info["templateName"])
    del state(request).templates[key]
    return ok_text()
