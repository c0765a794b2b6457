"""Check a webhook body and derive what the bus needs: event name, dedup key, ordering key.

Pure functions. The fast path decodes only the identity fields with small msgspec Structs;
when that fails, a generic decode tells a bad request (400) from a well-formed event whose
identity fields have unexpected types (accepted, keyed by a hash of the body).

Dedup keys (set as AMQP message_id; a redelivery of the same event gets the same key):
    message events            <event>:<message._id>
    messageStatusChanged      <event>:<externalId…>:<messageStatus>
    messageFailed             <event>:<externalId…>:<timestamp>
    chat events               <event>:<chat._id>:<chat.updatedAt>
    channel health problems   <event>:<problem._id>:open|resolved
    anything else             sha256:<hash of the body>
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import msgspec
from msgspec import Struct, field

from worker.events import EVENT_NAMES

MESSAGE_EVENTS = frozenset(
    {"newMessage", "newIncomingMessage", "newMatchedMessage", "newMediaMessage"}
)
MAX_KEY_BYTES = 200  # AMQP message_id is a short string (255 bytes)


class _Id(Struct):
    id: str | None = field(name="_id", default=None)
    parent_chat: str | None = None
    updated_at: str | None = field(name="updatedAt", default=None)
    resolved_at: Any = field(name="resolvedAt", default=None)


class _Data(Struct):
    message: _Id | None = None
    chat: _Id | None = None
    problem: _Id | None = None
    external_id: list[str] | str | None = field(name="externalId", default=None)
    message_status: int | str | None = field(name="messageStatus", default=None)
    timestamp: int | float | str | None = None


class _Envelope(Struct):
    event_name: str = field(name="eventName")
    event_data: _Data = field(name="eventData")


_fast = msgspec.json.Decoder(_Envelope)
_generic = msgspec.json.Decoder()


@dataclass(frozen=True, slots=True)
class Accepted:
    event_name: str
    dedup_key: str
    ordering_key: str  # what the shard is chosen from: the chat id when there is one
    chat_id: str | None
    known: bool  # one of the 19 documented events
    identity_fallback: bool  # known event, but keyed by body hash (identity unreadable)


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str  # short, safe to return to the sender


def parse_webhook(body: bytes) -> Accepted | Rejected:
    try:
        envelope = _fast.decode(body)
    # msgspec raises UnicodeDecodeError (invalid UTF-8 in a string it reads) and RecursionError
    # (nesting past its limit) besides its own errors: the slow path says which bad request.
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError):
        return _slow_path(body)
    return _accept(body, envelope.event_name, envelope.event_data)


def _slow_path(body: bytes) -> Accepted | Rejected:
    """The identity fields did not fit: find out whether the envelope itself is bad."""
    try:
        doc = _generic.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError):  # JSON is UTF-8 (RFC 8259)
        return Rejected("body is not valid JSON")
    except RecursionError:
        return Rejected("body is nested too deeply")
    if not isinstance(doc, dict):
        return Rejected("body must be a JSON object")
    name = doc.get("eventName")
    if not isinstance(name, str) or not name:
        return Rejected("eventName must be a non-empty string")
    if not isinstance(doc.get("eventData"), dict):
        return Rejected("eventData must be an object")
    return _accept(body, name, None)


def _accept(body: bytes, name: str, data: _Data | None) -> Accepted | Rejected:
    if not name:
        return Rejected("eventName must be a non-empty string")
    known = name in EVENT_NAMES
    identity = _identity(name, data) if known and data is not None else None
    key = _bounded(f"{name}:{identity}") if identity else "sha256:" + _sha256(body)
    chat_id = _chat_id(data)
    problem_id = data.problem.id if data is not None and data.problem is not None else None
    return Accepted(
        event_name=name,
        dedup_key=key,
        ordering_key=chat_id or problem_id or key,
        chat_id=chat_id,
        known=known,
        identity_fallback=known and identity is None,
    )


def _identity(name: str, d: _Data) -> str | None:
    if name in MESSAGE_EVENTS:
        return d.message.id if d.message else None
    if name in {"messageStatusChanged", "messageFailed"}:
        return _status_identity(name, d)
    if d.problem is not None:
        return _problem_identity(d.problem)
    if d.chat is not None and d.chat.id and d.chat.updated_at:
        return f"{d.chat.id}:{d.chat.updated_at}"
    return None


def _status_identity(name: str, d: _Data) -> str | None:
    ids = [d.external_id] if isinstance(d.external_id, str) else d.external_id
    second = d.message_status if name == "messageStatusChanged" else d.timestamp
    if not ids or second is None:
        return None
    return f"{','.join(ids)}:{second}"


def _problem_identity(problem: _Id) -> str | None:
    if problem.id is None:
        return None
    return f"{problem.id}:{'open' if problem.resolved_at is None else 'resolved'}"


def _chat_id(d: _Data | None) -> str | None:
    if d is None:
        return None
    if d.chat is not None and d.chat.id:
        return d.chat.id
    if d.message is not None and d.message.parent_chat:
        return d.message.parent_chat
    return None


def _bounded(key: str) -> str:
    """Keys longer than an AMQP short string allows are replaced by their hash."""
    if len(key.encode("utf-8", "surrogatepass")) <= MAX_KEY_BYTES and key.isascii():
        return key
    return "sha256:" + _sha256(key.encode("utf-8", "surrogatepass"))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
