"""Request bodies of the Texter API as msgspec Structs.

Optional fields default to UNSET and are left out of the JSON, so a body carries exactly what
the caller set (Texter treats "absent" and "null" differently, e.g. `departmentId: null`).
Sub-objects the reference does not describe (send-template `header`, `setChat`, `replyAction`,
message `location`, ...) are plain dicts passed through as given.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, UnsetType, field

Json = dict[str, Any]


class _Body(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    pass


class AssignChat(_Body):
    """Exactly one of phone / chat_id; one agent identifier and/or department_id."""

    phone: str | UnsetType = UNSET
    chat_id: str | UnsetType = UNSET
    agent_uid: str | UnsetType = UNSET
    agent_email: str | UnsetType = UNSET
    agent_crm_id: str | UnsetType = UNSET
    department_id: str | UnsetType | None = UNSET
    channel: Json | UnsetType = UNSET  # sub-fields undocumented (likely {name, accountId})


class ResolveChat(_Body):
    notify_client: bool | UnsetType = UNSET


class UpdateChat(_Body):
    """Values overwrite: `crm_data` here replaces the whole CRM object."""

    display_name: str | UnsetType = UNSET
    external_bot: bool | UnsetType = UNSET
    crm_data: Json | UnsetType = UNSET
    crm_deep_link: str | UnsetType = UNSET


class UpdateCrmData(_Body):
    data: Json


class ChatLabels(_Body):
    """Exactly one of add / remove / set (Texter answers 400 otherwise)."""

    add: list[str] | UnsetType = UNSET
    remove: list[str] | UnsetType = UNSET
    set_: list[str] | UnsetType = field(default=UNSET, name="set")


class ShareFile(_Body):
    ttl: int | UnsetType = UNSET


class CreateLabel(_Body):
    id: str
    name: str
    color: str | UnsetType = UNSET


class UpdateLabel(_Body):
    name: str | UnsetType = UNSET
    color: str | UnsetType = UNSET


class CreateTemplate(_Body):
    title: str
    category: str  # MARKETING or UTILITY
    chat_status: int  # 0-3: the chat's status after the recipient replies
    usage: str  # inbox or bulk
    name: str | UnsetType = UNSET
    is_default: bool | UnsetType = UNSET
    departments: list[str] | UnsetType = UNSET
    set_bot_node: str | UnsetType = UNSET
    responsible_agent: str | UnsetType = UNSET
    responsible_department: str | UnsetType = UNSET
    reply_text: str | UnsetType = UNSET


class Localization(_Body):
    language: str
    components: list[Json]
    defaults: Json | UnsetType = UNSET


class UpdateTemplate(_Body):
    title: str | UnsetType = UNSET
    chat_status: int | UnsetType = UNSET
    usage: str | UnsetType = UNSET
    is_default: bool | UnsetType = UNSET
    departments: list[str] | UnsetType = UNSET
    set_bot_node: str | UnsetType = UNSET
    responsible_agent: str | UnsetType = UNSET
    responsible_department: str | UnsetType = UNSET
    reply_text: str | UnsetType = UNSET


class SendTemplate(_Body):
    template_name: str
    to: str
    from_: str | UnsetType = field(default=UNSET, name="from")
    language: str | UnsetType = UNSET
    body: list[str] | UnsetType = UNSET
    header: Json | UnsetType = UNSET
    set_chat: Json | UnsetType = UNSET
    buttons: list[Json] | UnsetType = UNSET
    reply_action: Json | UnsetType = UNSET
    session_message: Json | UnsetType = UNSET


class SendMessage(_Body):
    """type: text, media, buttons, list, contacts or location."""

    type: str
    text: str | UnsetType = UNSET
    context: str | UnsetType = UNSET  # reply to this provider message id (wamid...)
    tmp_send_id: str | UnsetType = UNSET
    media: list[Json] | UnsetType = UNSET
    buttons: list[Json] | UnsetType = UNSET
    list_: Json | UnsetType = field(default=UNSET, name="list")
    contacts: list[Json] | UnsetType = UNSET
    location: Json | UnsetType = UNSET


class CreateQuickReply(_Body):
    send: Json
    display: Json | UnsetType = UNSET


class TemplateOptOut(_Body):
    phone: str
    account_id: str | UnsetType = UNSET


class ImportSubscription(_Body):
    data: Json
    as_status: str | UnsetType = UNSET  # active, inactive or draft
    author_uid: str | UnsetType = UNSET


class CopyScenario(_Body):
    from_version: int | UnsetType = UNSET
    new_name: str | UnsetType = UNSET
    author_uid: str | UnsetType = UNSET
