"""The actions a rule can take: for each, its Plan step type, Texter endpoint and keys by kind.

An action's keys in the rules file are its step's field names in the Plan JSON (worker/plans.py),
so what users write is what the Plan shows. `assign` also accepts `department` for
`department_id`, as the issue's examples write it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from worker import plans
from worker.plans import Step


class Kind(enum.Enum):
    TEXT = "text"
    TEXTS = "list of text"
    BOOL = "boolean"
    MAP = "mapping"
    LIST = "list"
    JSON = "JSON value"
    HEADERS = "mapping of text"
    DURATION = "duration"
    METHOD = "POST or PUT"


CONTACT = "{{ chat.channelInfo.id }}"  # default recipient: the event's contact


@dataclass(frozen=True)
class ActionSpec:
    step_type: type[Step]
    endpoint: str
    fields: Mapping[str, Kind]
    required: frozenset[str] = frozenset()
    defaults: Mapping[str, str] = field(default_factory=dict)  # template used when absent
    check: Callable[[Collection[str]], object] | None = None  # cross-field rule of the step
    aliases: Mapping[str, str] = field(default_factory=dict)


_CHAT = {"chat_id": Kind.TEXT}
ACTIONS: dict[str, ActionSpec] = {
    "assign": ActionSpec(
        plans.Assign,
        "POST /chats/assign",
        {
            **_CHAT,
            "phone": Kind.TEXT,
            "agent_email": Kind.TEXT,
            "agent_uid": Kind.TEXT,
            "agent_crm_id": Kind.TEXT,
            "department_id": Kind.TEXT,
            "channel": Kind.MAP,
        },
        check=plans.check_assign,
        aliases={"department": "department_id"},
    ),
    "resolve": ActionSpec(
        plans.Resolve, "POST /chats/{chatId}/resolve", {**_CHAT, "notify_client": Kind.BOOL}
    ),
    "update_crm": ActionSpec(
        plans.UpdateCrm,
        "POST /chats/{chatId}/crm-data",
        {**_CHAT, "data": Kind.MAP},
        required=frozenset({"data"}),
    ),
    "update_chat": ActionSpec(
        plans.UpdateChat,
        "PATCH /chats/{chatId}",
        {**_CHAT, "display_name": Kind.TEXT, "external_bot": Kind.BOOL, "crm_deep_link": Kind.TEXT},
        check=plans.check_update_chat,
    ),
    "labels": ActionSpec(
        plans.Labels,
        "POST /chats/{chatId}/labels",
        {**_CHAT, "add": Kind.TEXTS, "remove": Kind.TEXTS, "set": Kind.TEXTS},
        check=plans.check_labels,
    ),
    "send_message": ActionSpec(
        plans.SendMessage,
        "POST /messages/send/{chatId}",
        {
            **_CHAT,
            "text": Kind.TEXT,
            "media": Kind.LIST,
            "buttons": Kind.LIST,
            "list": Kind.MAP,
            "contacts": Kind.LIST,
            "location": Kind.MAP,
            "context": Kind.TEXT,
        },
        check=plans.message_type,
    ),
    "send_template": ActionSpec(
        plans.SendTemplate,
        "POST /whatsapp/templates/send",
        {
            "template": Kind.TEXT,
            "to": Kind.TEXT,
            "language": Kind.TEXT,
            "body": Kind.TEXTS,
            "header": Kind.MAP,
            "from": Kind.TEXT,
        },
        required=frozenset({"template"}),
        defaults={"to": CONTACT},
    ),
    "unsubscribe": ActionSpec(
        plans.Unsubscribe,
        "POST /whatsapp/templates/unsubscribe",
        {"phone": Kind.TEXT, "account_id": Kind.TEXT},
        defaults={"phone": CONTACT},
    ),
    "resubscribe": ActionSpec(
        plans.Resubscribe,
        "POST /whatsapp/templates/subscribe",
        {"phone": Kind.TEXT, "account_id": Kind.TEXT},
        defaults={"phone": CONTACT},
    ),
    "http": ActionSpec(
        plans.Http,
        "an external URL (POST or PUT, JSON)",
        {
            "url": Kind.TEXT,
            "method": Kind.METHOD,
            "json": Kind.JSON,
            "headers": Kind.HEADERS,
            "timeout": Kind.DURATION,
        },
        required=frozenset({"url"}),
    ),
}
