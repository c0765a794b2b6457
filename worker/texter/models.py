"""Response bodies of the Texter API as msgspec Structs.

The reference is incomplete (GAPS.md), so every field has a default and unknown fields are
ignored: a new or missing field never breaks decoding. Deeply nested, loosely documented parts
(bot state, template components, scenario revisions) stay plain dicts. Field names are
snake_case; `rename="camel"` maps them to Texter's camelCase, and the few snake_case or
underscore names Texter uses (`_id`, `parent_chat`, `last_message_timestamp`) are named
explicitly.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import field

Json = dict[str, Any]


class _Model(msgspec.Struct, rename="camel", kw_only=True):
    """Base: camelCase on the wire, unknown fields ignored (msgspec's default)."""


class ChannelInfo(_Model):
    name: str | None = None
    id: str | None = None  # the contact's phone on WhatsApp
    account_id: str | None = None  # the business phone on WhatsApp


class Agent(_Model):
    uid: str | None = None
    display_name: str = ""


class LastMessage(_Model):
    type: str | None = None
    text: str | None = None
    media: list[Json] = field(default_factory=list)


class Chat(_Model):
    """The full chat (Search Chats, Update Chat Properties, Update CRM Data, webhooks)."""

    id: str = field(default="", name="_id")
    title: str | None = None
    display_name: str | None = None
    person_id: str | None = None
    channel_info: ChannelInfo = field(default_factory=ChannelInfo)
    agent: Agent = field(default_factory=Agent)
    department_id: str | None = None
    status: int | None = None  # 0 BOT, 1 PENDING, 2 ASSIGNED, 3 RESOLVED, 4 BULK
    unread_count: int | None = None
    labels: list[str] = field(default_factory=list)
    last_message: LastMessage | None = None
    last_message_timestamp: int | None = field(default=None, name="last_message_timestamp")
    last_incoming_message_timestamp: int | None = None
    created: str | None = None
    updated_at: str | None = None
    bot_state: Json | None = None
    crm_data: Json = field(default_factory=dict)
    crm_deep_link: str | None = None
    external_bot: bool | None = None
    # Search Chats only
    channel: str | None = None
    client_phone: str | None = None


class ChatView(_Model):
    """Get Chat by Chat ID: the trimmed public view (no _id, labels, crmData, displayName)."""

    success: bool = True
    title: str | None = None
    channel_info: ChannelInfo = field(default_factory=ChannelInfo)
    department_id: str | None = None
    agent: Agent = field(default_factory=Agent)
    status: int | None = None
    created: str | None = None
    updated_at: str | None = None
    last_incoming_message_timestamp: int | None = None
    last_message_timestamp: int | None = None
    last_message: LastMessage | None = None
    unread_count: int | None = None
    bot_state: Json | None = None
    external_bot: bool | None = None  # not in the docs' list, but present in practice


class UpdatedChat(Chat):
    """Update CRM Data: `success` merged into the full chat."""

    success: bool = True


class ChatPage(_Model):
    data: list[Chat] = field(default_factory=list)
    total: int = 0


class Message(_Model):
    id: str = field(default="", name="_id")
    chat_channel_info: ChannelInfo = field(default_factory=ChannelInfo)
    channel_info: Json = field(default_factory=dict)  # {"id": "wamid..."}
    direction: str | None = None  # incoming / outgoing; absent on system messages
    parent_chat: str | None = field(default=None, name="parent_chat")
    status: int | None = None
    status_history: list[Json] = field(default_factory=list)
    type: str | None = None
    text: str | None = None
    media: list[Json] = field(default_factory=list)
    timestamp: int | None = None
    updated_at: str | None = None
    bot_session_id: str | None = None
    system_message: bool = False


class MessagePage(_Model):
    messages: list[Message] = field(default_factory=list)
    min_time: int | None = None
    max_time: int | None = None


class SentMessage(_Model):
    success: bool = True
    messages: list[Message] = field(default_factory=list)


class SentTemplate(_Model):
    success: bool = True
    text: str | None = None
    sent_as_session_message: bool = False
    message_id: str | None = None


class Label(_Model):
    id: str
    name: str = ""
    color: str | None = None
    system: bool = False


class LabelPage(_Model):
    total: int = 0
    labels: list[Label] = field(default_factory=list)


class Template(_Model):
    id: str = field(default="", name="_id")
    name: str = ""
    title: str | None = None
    usage: str | None = None
    chat_status: int | None = None
    created: int | None = None
    updated_at: str | None = None
    departments: list[str] = field(default_factory=list)
    is_default: bool = False
    channel_info: ChannelInfo = field(default_factory=ChannelInfo)
    provider_template: Json = field(default_factory=dict, name="provider_template")
    localization_drafts: Json = field(default_factory=dict)
    defaults: Json = field(default_factory=dict)


class QuickReply(_Model):
    id: str = field(default="", name="_id")
    send: Json = field(default_factory=dict)
    display: Json = field(default_factory=dict)
    metadata: Json = field(default_factory=dict)


class QuickReplyPage(_Model):
    total: int = 0
    quick_replies: list[QuickReply] = field(default_factory=list)


class Scenario(_Model):
    """A subscription / scenario. Revisions stay dicts: their shape is only partly documented."""

    id: str = field(default="", name="_id")
    active_revision: Json | None = None
    inactive_revisions: list[Json] = field(default_factory=list)
    drafts: list[Json] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The name of the active revision, else of the newest inactive one or draft."""
        for rev in (self.active_revision, *self.inactive_revisions[::-1], *self.drafts[::-1]):
            if rev and isinstance(rev.get("name"), str):
                return str(rev["name"])
        return ""

    @property
    def status(self) -> str:
        if self.active_revision:
            return "active"
        return "inactive" if self.inactive_revisions else "draft"


class ScenarioPage(_Model):
    total: int = 0
    scenarios: list[Scenario] = field(default_factory=list)


class Unsubscribed(_Model):
    phone: str
    title: str | None = None


class SharedFile(_Model):
    token: str = ""
    url: str = ""
