"""Request checks the fake applies, as the reference states them. Pure functions, table-tested.

Each returns None when the body is valid, else the reason (the fake answers 400 with it).
Texter's real error body format is undocumented; the fake's `{"error": ...}` is our choice.
"""

from __future__ import annotations

import re
from typing import Any

AGENT_KEYS = ("agentUid", "agentEmail", "agentCrmId")
SEND_TYPES = {"text", "media", "buttons", "list", "contacts", "location"}
_HEX_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")
_TEMPLATE_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")


def normalize_phone(phone: str) -> str:
    """Digits only, a local 05x number turned international (Israel, like the docs' examples)."""
    digits = re.sub(r"\D", "", phone)
    if digits.startswith("0"):
        digits = "972" + digits[1:]
    return digits


def check_labels(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "body must be a JSON object"
    given = [k for k in ("add", "remove", "set") if k in body]
    if len(given) != 1:
        return "exactly one of add, remove, set is required"
    key = given[0]
    value = body[key]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return f"{key} must be a list of label ids"
    if key != "set" and not value:
        return f"{key} must not be empty"
    return None


def check_assign(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "body must be a JSON object"
    if ("phone" in body) == ("chatId" in body):
        return "exactly one of phone, chatId is required"
    agents = [k for k in AGENT_KEYS if body.get(k) is not None]
    if len(agents) > 1:
        return "at most one of agentUid, agentEmail, agentCrmId"
    if not agents and body.get("departmentId") is None:
        return "an agent identifier and/or departmentId is required"
    return None


def check_send_message(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "body must be a JSON object"
    kind = body.get("type")
    if kind not in SEND_TYPES:
        return f"type must be one of {', '.join(sorted(SEND_TYPES))}"
    needs = {"text": "text", "media": "media", "buttons": "buttons", "list": "list"}
    needs |= {"contacts": "contacts", "location": "location"}
    if not body.get(needs[kind]):
        return f"{needs[kind]} is required for type {kind}"
    if kind == "text" and len(body["text"]) > 4096:
        return "text longer than 4096 characters"
    return None


def check_send_template(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "body must be a JSON object"
    name = body.get("templateName")
    if not isinstance(name, str) or not _TEMPLATE_NAME.match(name):
        return "templateName is required (letters, digits, _ and -)"
    if not isinstance(body.get("to"), str) or not body["to"]:
        return "to is required"
    return None


def check_label(body: Any, *, creating: bool) -> str | None:
    if not isinstance(body, dict):
        return "body must be a JSON object"
    required = ("id", "name") if creating else ()
    for key in required:
        if not isinstance(body.get(key), str) or not 1 <= len(body[key]) <= 100:
            return f"{key} must be 1-100 characters"
    if "color" in body and not (isinstance(body["color"], str) and _HEX_COLOR.match(body["color"])):
        return "color must be full hex, e.g. #a83236"
    return None


def check_opt_out(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "body must be a JSON object"
    phone = body.get("phone")
    if not isinstance(phone, str) or not 5 <= len(phone) <= 30:
        return "phone must be 5-30 characters"
    account = body.get("accountId")
    if account is not None and not (isinstance(account, str) and account):
        return "accountId must be a non-empty string (omit it for every account)"
    return None


def check_import(body: Any) -> str | None:
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        return "data (the scenario definition) is required"
    if body.get("asStatus", "active") not in ("active", "inactive", "draft"):
        return "asStatus must be active, inactive or draft"
    if not isinstance(body["data"].get("name"), str):
        return "data.name is required"
    return None
