"""Fake label, quick-reply and subscription (scenario) endpoints.

DELETE /labels/{id} and DELETE /quick-replies/{id} exist here because the client calls them,
but their real paths are inferred (GAPS.md §1): the fake cannot verify them.
"""

from __future__ import annotations

import copy

from aiohttp import web

from simulator import validation as v
from simulator.state import Json
from simulator.web import answer, body_json, body_object, fail, ok_text, paged, state

routes = web.RouteTableDef()


@routes.get("/labels")
async def list_labels(request: web.Request) -> web.Response:
    labels = list(state(request).labels.values())
    page = paged(labels, request, default=10_000, high=10_000)
    return answer({"total": len(labels), "labels": page})


@routes.post("/labels")
async def create_label(request: web.Request) -> web.Response:
    body = await body_object(request)
    if (problem := v.check_label(body, creating=True)) is not None:
        fail(400, problem)
    labels = state(request).labels
    if body["id"] in labels:
        fail(400, "a label with this id exists")
    label = {"id": body["id"], "name": body["name"], "color": body.get("color", "#555555")}
    labels[label["id"]] = label
    return answer(label)


def _label_or_404(request: web.Request) -> Json:
    label = state(request).labels.get(request.match_info["labelId"])
    if label is None:
        fail(404, "label not found")
    return label


@routes.get("/labels/{labelId}")
async def get_label(request: web.Request) -> web.Response:
    return answer(_label_or_404(request))


@routes.patch("/labels/{labelId}")
async def update_label(request: web.Request) -> web.Response:
    label = _label_or_404(request)
    body = await body_object(request)
    if (problem := v.check_label(body, creating=False)) is not None:
        fail(400, problem)
    label.update({k: body[k] for k in ("name", "color") if k in body})
    return ok_text()


@routes.delete("/labels/{labelId}")
async def delete_label(request: web.Request) -> web.Response:
    label = _label_or_404(request)
    if label.get("system"):
        fail(400, "system labels cannot be deleted")
    del state(request).labels[label["id"]]
    return ok_text()


@routes.get("/quick-replies")
async def list_quick_replies(request: web.Request) -> web.Response:
    replies = list(state(request).quick_replies.values())
    if chat_id := request.query.get("forChat[id]"):
        replies = [r for r in replies if any(t.get("id") == chat_id for t in r["send"]["target"])]
    if position := request.query.get("position"):
        replies = [r for r in replies if r.get("display", {}).get("position") == position]
    page = paged(replies, request, default=10_000, high=10_000)
    return answer({"total": len(replies), "quickReplies": page})


@routes.post("/quick-replies")
async def create_quick_reply(request: web.Request) -> web.Response:
    body = await body_object(request)
    send = body.get("send")
    if not isinstance(send, dict) or not send.get("contents") or not send.get("target"):
        fail(400, "send.contents and send.target are required")
    s = state(request)
    reply = {
        "_id": s.new_id(),
        "send": send,
        "display": body.get("display", {}),
        "metadata": {"created": s.clock()},
    }
    s.quick_replies[reply["_id"]] = reply
    return answer(reply)


QUICK_REPLY_OPS = {
    "updateSendContents": ("send", "contents"),
    "updateSendTarget": ("send", "target"),
    "updateBetweenMessagesDelay": ("send", "betweenMessagesDelay"),
    "updateDisplayTitle": ("display", "title"),
    "updateDisplayNote": ("display", "note"),
    "updateDisplayPosition": ("display", "position"),
    "updateDisplayDepartments": ("display", "departments"),
    "updateDisplayUsers": ("display", "users"),
    "updateClientMetadata": ("metadata", "client"),
}


@routes.patch("/quick-replies/{quickReplyId}")
async def update_quick_reply(request: web.Request) -> web.Response:
    reply = _quick_reply_or_404(request)
    ops = await body_json(request)
    if not isinstance(ops, list) or not 1 <= len(ops) <= 1000:
        fail(400, "body must be an array of 1-1000 operations")
    for op in ops:
        if not isinstance(op, dict) or len(op) != 1 or next(iter(op)) not in QUICK_REPLY_OPS:
            fail(400, "each operation must have exactly one known key")
    for op in ops:
        ((key, value),) = op.items()
        section, field = QUICK_REPLY_OPS[key]
        reply.setdefault(section, {})[field] = value
    reply["metadata"]["updated"] = state(request).clock()
    return answer(reply)


def _quick_reply_or_404(request: web.Request) -> Json:
    reply = state(request).quick_replies.get(request.match_info["quickReplyId"])
    if reply is None:
        fail(404, "quick reply not found")
    return reply


@routes.delete("/quick-replies/{quickReplyId}")
async def delete_quick_reply(request: web.Request) -> web.Response:
    reply = _quick_reply_or_404(request)
    del state(request).quick_replies[reply["_id"]]
    return ok_text()


@routes.get("/scenarios/manage")
async def list_scenarios(request: web.Request) -> web.Response:
    scenarios = list(state(request).scenarios.values())
    return answer({"total": len(scenarios), "scenarios": scenarios})


@routes.post("/scenarios/manage/import")
async def import_scenario(request: web.Request) -> web.Response:
    body = await body_object(request)
    if (problem := v.check_import(body)) is not None:
        fail(400, problem)
    s = state(request)
    scenario = new_scenario(s.new_id(), s.new_id(), body["data"], body.get("asStatus", "active"))
    s.scenarios[scenario["_id"]] = scenario
    return answer(scenario, status=201)


def new_scenario(scenario_id: str, revision_id: str, data: Json, status: str) -> Json:
    revision = {
        **{k: copy.deepcopy(val) for k, val in data.items() if k != "version"},
        "_id": revision_id,
        "scenarioId": scenario_id,
        "status": status,
    }
    scenario: Json = {"_id": scenario_id, "drafts": [], "inactiveRevisions": []}
    if status == "draft":
        scenario["drafts"].append(revision)
    else:
        revision["version"] = 1
        if status == "active":
            scenario["activeRevision"] = revision
        else:
            scenario["inactiveRevisions"].append(revision)
    return scenario


@routes.post("/scenarios/manage/{scenarioId}/copy")
async def copy_scenario(request: web.Request) -> web.Response:
    s = state(request)
    source = s.scenarios.get(request.match_info["scenarioId"])
    if source is None:
        fail(404, "scenario not found")
    body = await body_object(request)
    revisions = [source.get("activeRevision"), *source["inactiveRevisions"]]
    wanted = body.get("fromVersion")
    match = [r for r in revisions if r and (wanted is None or r.get("version") == wanted)]
    if not match:
        fail(404, "no revision with that version")
    data = {**match[0], "name": body.get("newName", match[0].get("name"))}
    scenario = new_scenario(s.new_id(), s.new_id(), data, "draft")
    s.scenarios[scenario["_id"]] = scenario
    return answer(scenario)
