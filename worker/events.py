"""Texter webhook events as typed msgspec Structs: a tagged union on `eventName`.

Every documented event (19, see docs/events.md) decodes into its Struct; unknown fields are
ignored, unknown eventNames decode into `UnknownEvent` with the raw `eventData`. Texter injects
some values as strings (GAPS: `"%messageStatusRequest:…%"`), so decoding is lax about numbers
written as strings. Field names follow Python; `rename="camel"` maps them to Texter's JSON,
with explicit names where Texter does not use camelCase (`_id`, `parent_chat`, ...).
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import Struct, field

Number = int | float


class _Obj(Struct, rename="camel", omit_defaults=True):
    """Base: camelCase JSON, unknown fields ignored (msgspec's default)."""


class ChannelInfo(_Obj):
    name: str | None = None
    id: str | None = None  # the contact (WhatsApp: phone) for chats
    account_id: str | None = None  # the business account (WhatsApp: business phone)


class ChatAgent(_Obj):
    uid: str | None = None
    display_name: str = ""


class BotState(_Obj):
    id: str | None = None
    node: str | None = None
    flow_version: dict[str, Any] | None = None
    user_state: dict[str, Any] | None = None


class MediaItem(_Obj):
    media_type: str | None = None
    file_id: str | None = None
    preview_id: str | None = None
    filename: str | None = None
    content_type: str | None = None
    caption: str | None = None
    url: str | None = None


class LastMessage(_Obj):
    type: str | None = None
    text: str | None = None
    media: list[MediaItem] = []


class Chat(_Obj):
    id: str = field(name="_id")
    title: str | None = None
    display_name: str | None = None
    person_id: str | None = None
    channel_info: ChannelInfo | None = None
    person_chats: list[ChannelInfo] = []
    agent: ChatAgent | None = None
    department_id: str | None = None
    status: int | None = None  # 0 BOT, 1 PENDING, 2 ASSIGNED, 3 RESOLVED, 4 BULK
    unread_count: int | None = None
    labels: list[str] = []
    last_message: LastMessage | None = None
    last_message_timestamp: Number | None = field(name="last_message_timestamp", default=None)
    last_incoming_message_timestamp: Number | None = None
    created: str | None = None
    updated_at: str | None = None
    pending_update_time: Number | None = None
    resolved_update_time: Number | None = None
    bot_state: BotState | None = None
    previous_bot_session: BotState | None = None
    reply_action: dict[str, Any] | None = None
    crm_data: dict[str, Any] = {}
    crm_deep_link: str | None = None
    external_bot: bool | None = None


class StatusChange(_Obj):
    status: int
    timestamp: Number | None = None


class Message(_Obj):
    id: str = field(name="_id")
    parent_chat: str | None = field(name="parent_chat", default=None)
    chat_channel_info: ChannelInfo | None = None
    channel_info: ChannelInfo | None = None  # channel_info.id: the provider (wamid) message id
    direction: str | None = None  # incoming | outgoing; absent on system messages
    status: int | None = None  # 0 sent … 3 seen, 4 failed, 5 channel failed, 6 deleted
    status_history: list[StatusChange] = []
    type: str | None = None  # text, media, contacts, location, buttons, list, postback, special
    text: str | None = None
    media: list[MediaItem] = []
    buttons: list[dict[str, Any]] = []
    list_picker: dict[str, Any] | None = field(name="list", default=None)
    postback: dict[str, Any] | None = None
    contacts: list[dict[str, Any]] = []
    location: dict[str, Any] | None = None
    special: dict[str, Any] | None = None
    timestamp: Number | None = None
    updated_at: str | None = None
    bot_session_id: str | None = None
    metadata: dict[str, Any] | None = None
    system_message: bool = False


class AssignedAgent(_Obj):
    """The narrowed agent object of `chatAssigned` (built by Texter's template)."""

    id: str | None = None
    crm_id: str | None = None
    email: str | None = None
    display_name: str | None = None
    roles: list[str] | None = None


class Problem(_Obj):
    id: str = field(name="_id")
    channel: str | None = None
    account_id: str | None = None
    name: str | None = None
    severity: str | None = None  # error | warning
    impaired_functionality: dict[str, bool] = {}
    message: str | None = None
    instruction: str | None = None
    created_at: Number | None = None
    started_at: Number | None = None
    resolved_at: Number | None = None


# --- eventData shapes ---------------------------------------------------------------------------


class MessageData(_Obj):
    message: Message
    chat: Chat | None = None


class StatusData(_Obj):
    chat: Chat | None = None
    message_status: int | None = None
    error: str | None = None
    timestamp: Number | None = None
    external_id: list[str] | str = []


class LabelsData(_Obj):
    chat: Chat
    old_labels: list[str] = []
    added_labels: list[str] = []
    removed_labels: list[str] = []


class ChatData(_Obj):
    chat: Chat


class AssignedData(_Obj):
    chat: Chat
    agent: AssignedAgent | None = None


class ProblemData(_Obj):
    problem: Problem


# --- the events ---------------------------------------------------------------------------------


class _Event(Struct, tag_field="eventName", omit_defaults=True):
    pass


class NewMessage(_Event, tag="newMessage"):
    event_data: MessageData = field(name="eventData")


class NewIncomingMessage(_Event, tag="newIncomingMessage"):
    event_data: MessageData = field(name="eventData")


class NewMatchedMessage(_Event, tag="newMatchedMessage"):
    event_data: MessageData = field(name="eventData")


class NewMediaMessage(_Event, tag="newMediaMessage"):
    event_data: MessageData = field(name="eventData")


class MessageFailed(_Event, tag="messageFailed"):
    event_data: StatusData = field(name="eventData")


class MessageStatusChanged(_Event, tag="messageStatusChanged"):
    event_data: StatusData = field(name="eventData")


class ChatLabelsUpdated(_Event, tag="chatLabelsUpdated"):
    event_data: LabelsData = field(name="eventData")


class ChatSpecificLabelAdded(_Event, tag="chatSpecificLabelAdded"):
    event_data: LabelsData = field(name="eventData")


class ChatPending(_Event, tag="chatPending"):
    event_data: ChatData = field(name="eventData")


class ChatResolved(_Event, tag="chatResolved"):
    event_data: ChatData = field(name="eventData")


class ChatResolvedByAgent(_Event, tag="chatResolvedByAgent"):
    event_data: ChatData = field(name="eventData")


class ChatResolvedByBot(_Event, tag="chatResolvedByBot"):
    event_data: ChatData = field(name="eventData")


class ChatSubscribed(_Event, tag="chatSubscribed"):
    event_data: ChatData = field(name="eventData")


class ChatUnsubscribed(_Event, tag="chatUnsubscribed"):
    event_data: ChatData = field(name="eventData")


class ChatAssigned(_Event, tag="chatAssigned"):
    event_data: AssignedData = field(name="eventData")


class ExternalBotEnabled(_Event, tag="externalBotEnabled"):
    event_data: ChatData = field(name="eventData")


class ExternalBotDisabled(_Event, tag="externalBotDisabled"):
    event_data: ChatData = field(name="eventData")


class ChannelHealthProblemCreated(_Event, tag="channelHealthProblemCreated"):
    event_data: ProblemData = field(name="eventData")


class ChannelHealthProblemResolved(_Event, tag="channelHealthProblemResolved"):
    event_data: ProblemData = field(name="eventData")


KnownEvent = (
    NewMessage
    | NewIncomingMessage
    | NewMatchedMessage
    | NewMediaMessage
    | MessageFailed
    | MessageStatusChanged
    | ChatLabelsUpdated
    | ChatSpecificLabelAdded
    | ChatPending
    | ChatResolved
    | ChatResolvedByAgent
    | ChatResolvedByBot
    | ChatSubscribed
    | ChatUnsubscribed
    | ChatAssigned
    | ExternalBotEnabled
    | ExternalBotDisabled
    | ChannelHealthProblemCreated
    | ChannelHealthProblemResolved
)

EVENT_TYPES: dict[str, type[_Event]] = {
    cls.__struct_config__.tag: cls for cls in KnownEvent.__args__
}
EVENT_NAMES: frozenset[str] = frozenset(EVENT_TYPES)


class UnknownEvent(Struct):
    """An event nobody documented (yet): kept whole so a later rule or replay can use it."""

    event_name: str = field(name="eventName")
    event_data: dict[str, Any] = field(name="eventData")


Event = KnownEvent | UnknownEvent


class _Envelope(Struct):
    event_name: str = field(name="eventName")


_known_decoder = msgspec.json.Decoder(KnownEvent, strict=False)
_unknown_decoder = msgspec.json.Decoder(UnknownEvent)
_envelope_decoder = msgspec.json.Decoder(_Envelope)


def decode_event(body: bytes) -> Event:
    """Decode a webhook body. Raises msgspec.DecodeError / ValidationError when it does not fit
    the documented shape of its event (the caller dead-letters it as poison)."""
    name = _envelope_decoder.decode(body).event_name
    if name in EVENT_NAMES:
        event: Event = _known_decoder.decode(body)
        return event
    return _unknown_decoder.decode(body)
