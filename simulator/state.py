"""The fake Texter's in-memory state and the JSON views the API returns of it.

Plain data, no I/O. Time comes from an injected clock (epoch milliseconds) so tests can put a
chat outside the 24-hour window without waiting a day.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Json = dict[str, Any]
DAY_MS = 24 * 3600 * 1000
STATUS_NAMES = ("BOT", "PENDING", "ASSIGNED", "RESOLVED", "BULK")
BOT, PENDING, ASSIGNED, RESOLVED, BULK = range(5)


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


@dataclass
class Agent:
    uid: str
    email: str
    display_name: str
    crm_id: str | None = None


@dataclass
class Chat:
    id: str
    phone: str  # the contact, international digits without +
    account_id: str  # the business number
    title: str
    created_ms: int
    status: int = BOT
    agent: Agent | None = None
    department_id: str | None = None
    labels: list[str] = field(default_factory=list)
    crm_data: Json = field(default_factory=dict)
    crm_deep_link: str | None = None
    display_name: str | None = None
    external_bot: bool = False
    unread_count: int = 0
    last_incoming_ms: int | None = None
    last_message_ms: int | None = None
    last_message: Json | None = None
    updated_ms: int = 0
    bot_session: str = "0" * 64

    def channel_info(self) -> Json:
        return {"name": "whatsapp", "id": self.phone, "accountId": self.account_id}

    def agent_json(self) -> Json:
        if self.agent is None:
            return {"uid": None, "displayName": ""}
        return {"uid": self.agent.uid, "displayName": self.agent.display_name}

    def full(self) -> Json:
        """The full chat, as in Update Chat Properties and webhooks."""
        out: Json = {
            "_id": self.id,
            "title": self.title,
            "channelInfo": self.channel_info(),
            "personChats": [self.channel_info()],
            "agent": self.agent_json(),
            "departmentId": self.department_id,
            "status": self.status,
            "unreadCount": self.unread_count,
            "labels": list(self.labels),
            "lastMessage": self.last_message,
            "last_message_timestamp": self.last_message_ms,
            "lastIncomingMessageTimestamp": self.last_incoming_ms,
            "created": iso(self.created_ms),
            "updatedAt": iso(self.updated_ms or self.created_ms),
            "botState": {"id": self.bot_session},
            "crmData": dict(self.crm_data),
            "externalBot": self.external_bot,
        }
        if self.display_name is not None:
            out["displayName"] = self.display_name
        if self.crm_deep_link is not None:
            out["crmDeepLink"] = self.crm_deep_link
        return out

    def search_view(self) -> Json:
        """Search Chats: full minus lastMessage/personChats, plus the phone fields."""
        out = self.full()
        del out["lastMessage"], out["personChats"]
        out.update(
            channel="whatsapp",
            entityPhone=f"+{self.account_id}",
            clientPhone=f"+{self.phone}",
            clientPhoneE164=f"+{self.phone}",
        )
        return out

    def public_view(self) -> Json:
        """Get Chat by Chat ID: no _id, labels, crmData, displayName; botState only {id}."""
        return {
            "success": True,
            "title": self.title,
            "channelInfo": self.channel_info(),
            "departmentId": self.department_id,
            "agent": self.agent_json(),
            "status": self.status,
            "created": iso(self.created_ms),
            "updatedAt": iso(self.updated_ms or self.created_ms),
            "lastIncomingMessageTimestamp": self.last_incoming_ms,
            "lastMessage": self.last_message,
            "unreadCount": self.unread_count,
            "botState": {"id": self.bot_session},
            "lastMessageTimestamp": self.last_message_ms,
            "externalBot": self.external_bot,
        }


class State:
    """Everything the fake knows. Handlers mutate it; tests read it."""

    def __init__(self, clock: Callable[[], int] = wall_clock_ms) -> None:
        self.clock = clock
        self._ids = itertools.count(1)
        self.reset()

    def reset(self) -> None:
        """Forget everything (ids keep counting up, so old ids never come back)."""
        self.chats: dict[str, Chat] = {}
        self.messages: dict[str, list[Json]] = {}
        self.labels: dict[str, Json] = {}
        self.templates: dict[tuple[str, str], Json] = {}
        # (phone, accountId or None for every account) -> {phone, title?, date, accountId?}
        self.unsubscribed: dict[tuple[str, str | None], Json] = {}
        self.scenarios: dict[str, Json] = {}
        self.quick_replies: dict[str, Json] = {}
        self.agents: list[Agent] = []
        self.accounts: list[str] = ["972509876543"]

    def new_id(self) -> str:
        """A fresh 24-hex id, like Texter's ObjectIds (sequential, so tests read well)."""
        return f"{0x6650F1A2 + next(self._ids):024x}"

    def add_chat(self, phone: str, title: str, *, account_id: str | None = None) -> Chat:
        now = self.clock()
        chat = Chat(
            self.new_id(), phone, account_id or self.accounts[0], title, now, updated_ms=now
        )
        chat.bot_session = f"{next(self._ids):064x}"
        self.chats[chat.id] = chat
        self.messages[chat.id] = []
        return chat

    def chat_by_phone(self, phone: str, account_id: str | None = None) -> Chat | None:
        """The contact's chat (with that business account, when one is given)."""
        chats = self.chats_by_phone(phone, account_id)
        return chats[0] if chats else None

    def chats_by_phone(self, phone: str, account_id: str | None = None) -> list[Chat]:
        return [
            c
            for c in self.chats.values()
            if c.phone == phone and account_id in (None, c.account_id)
        ]

    # Template opt-outs. The reference: `accountId` omitted means "all WhatsApp channels". An
    # opt-out is kept per (phone, account), None standing for every account, so an opt-out from
    # one account blocks only that account's template sends, and an account-scoped opt-in
    # lifts only that account's opt-out (a phone that opted out everywhere stays out).

    def opt_out(self, phone: str, account_id: str | None) -> bool:
        """Record an opt-out; False if this exact one existed already."""
        key = (phone, account_id)
        if key in self.unsubscribed:
            return False
        entry: Json = {"phone": f"+{phone}", "date": self.clock()}
        if (chat := self.chat_by_phone(phone, account_id)) is not None:
            entry["title"] = chat.title
        if account_id is not None:
            entry["accountId"] = account_id
        self.unsubscribed[key] = entry
        return True

    def opt_in(self, phone: str, account_id: str | None) -> bool:
        """Lift opt-outs: every one of the phone without an account, else that account's."""
        keys = [k for k in self.unsubscribed if k[0] == phone and account_id in (None, k[1])]
        for key in keys:
            del self.unsubscribed[key]
        return bool(keys)

    def blocks_templates(self, phone: str, account_id: str) -> bool:
        """Does an opt-out stop a template from `account_id` to `phone`?"""
        return (phone, None) in self.unsubscribed or (phone, account_id) in self.unsubscribed

    def opt_outs(self, account_id: str | None = None) -> list[Json]:
        """One entry per opted-out phone, oldest opt-out first: all of them, or (with an
        account) those whose template sends from that account are skipped."""
        entries = sorted(self.unsubscribed.values(), key=lambda e: int(e["date"]))
        if account_id is not None:
            entries = [e for e in entries if e.get("accountId") in (None, account_id)]
        first: dict[str, Json] = {}
        for entry in entries:
            first.setdefault(entry["phone"], entry)
        return list(first.values())

    def find_agent(self, uid: str | None, email: str | None, crm_id: str | None) -> Agent | None:
        for agent in self.agents:
            if (uid, email, crm_id) != (None, None, None) and (
                agent.uid == uid or agent.email == email or (crm_id and agent.crm_id == crm_id)
            ):
                return agent
        return None

    def add_message(self, chat: Chat, direction: str, body: Json) -> Json:
        """Store a message in a chat and update the chat's activity fields."""
        now = self.clock()
        message = {
            "_id": self.new_id(),
            "chatChannelInfo": chat.channel_info(),
            "channelInfo": {"id": f"wamid.{self.new_id()}"},
            "direction": direction,
            "parent_chat": chat.id,
            "status": 0 if direction == "outgoing" else 2,
            "statusHistory": [{"status": 0, "timestamp": now}],
            "timestamp": now,
            "updatedAt": iso(now),
            "botSessionId": chat.bot_session,
            **body,
        }
        self.messages[chat.id].append(message)
        chat.last_message_ms = now
        chat.last_message = {"type": body.get("type"), "text": body.get("text")}
        if direction == "incoming":
            chat.last_incoming_ms = now
            chat.unread_count += 1
        self.touch(chat)
        return message

    def touch(self, chat: Chat) -> None:
        chat.updated_ms = self.clock()

    def in_window(self, chat: Chat) -> bool:
        """Inside the WhatsApp 24-hour customer-service window?"""
        last = chat.last_incoming_ms
        return last is not None and self.clock() - last < DAY_MS
