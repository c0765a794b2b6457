"""Chat endpoints: assign, get, resolve, search, update, CRM data, labels."""

from __future__ import annotations

from collections.abc import Iterable

from worker.texter import endpoints as ep
from worker.texter.base import ClientBase, page
from worker.texter.models import Chat, ChatPage, ChatView, Json, UpdatedChat
from worker.texter.requests import (
    AssignChat,
    ChatLabels,
    ResolveChat,
    UpdateChat,
    UpdateCrmData,
)


class ChatsAPI(ClientBase):
    async def assign_chat(self, request: AssignChat) -> None:
        """POST /chats/assign. Sets the chat to PENDING for the agent and/or department.

        Texter requires exactly one of phone/chat_id and one agent identifier and/or a
        department; it answers 400 (TexterBadRequest) otherwise. Answer: plain text OK.
        """
        await self._ok(ep.ASSIGN_CHAT, body=request)

    async def get_chat(self, chat_id: str) -> ChatView:
        """GET /chats/{chatId}: the trimmed public view (no labels, crmData, displayName)."""
        return await self._json(ep.GET_CHAT, ChatView, {"chat_id": chat_id})

    async def resolve_chat(self, chat_id: str, *, notify_client: bool = False) -> None:
        """POST /chats/{chatId}/resolve. With notify_client the contact gets the resolution
        message, which makes the call a send: it is then never retried after an ambiguous
        failure (AmbiguousSendError)."""
        endpoint = ep.RESOLVE_CHAT_NOTIFY if notify_client else ep.RESOLVE_CHAT
        body = ResolveChat(notify_client=True) if notify_client else ResolveChat()
        await self._ok(endpoint, {"chat_id": chat_id}, body=body)

    async def search_chats(
        self,
        search: str | None = None,
        *,
        labels: Iterable[str] = (),
        statuses: Iterable[str] = (),
        channel_name: str | None = None,
        channel_account_id: str | None = None,
        limit: int | None = None,
        skip: int | None = None,
    ) -> ChatPage:
        """GET /chats/search, newest first. `statuses` are names: BOT, PENDING, ASSIGNED,
        RESOLVED, BULK. `limit`/`skip` names are inferred from the other list endpoints."""
        query: list[tuple[str, str]] = []
        if search is not None:
            query.append(("search", search))
        query += [("labels[]", label) for label in labels]
        query += [("statuses[]", status) for status in statuses]
        if channel_name is not None:
            query.append(("channel[name]", channel_name))
        if channel_account_id is not None:
            query.append(("channel[accountId]", channel_account_id))
        return await self._json(ep.SEARCH_CHATS, ChatPage, query=query + page(limit, skip))

    async def update_chat(self, chat_id: str, request: UpdateChat) -> Chat:
        """PATCH /chats/{chatId}: overwrite display name, external bot, crmData (whole)."""
        return await self._json(ep.UPDATE_CHAT, Chat, {"chat_id": chat_id}, body=request)

    async def update_crm_data(self, chat_id: str, data: Json) -> UpdatedChat:
        """POST /chats/{chatId}/crm-data: merge `data` into the chat's crmData."""
        body = UpdateCrmData(data=data)
        return await self._json(ep.UPDATE_CRM_DATA, UpdatedChat, {"chat_id": chat_id}, body=body)

    async def manage_chat_labels(
        self,
        chat_id: str,
        *,
        add: list[str] | None = None,
        remove: list[str] | None = None,
        replace: list[str] | None = None,
    ) -> None:
        """POST /chats/{chatId}/labels with exactly one of add, remove or replace (`set` on
        the wire; `replace=[]` clears all labels). Answer: plain text OK."""
        body = ChatLabels()
        if add is not None:
            body.add = add
        if remove is not None:
            body.remove = remove
        if replace is not None:
            body.set_ = replace
        await self._ok(ep.CHAT_LABELS, {"chat_id": chat_id}, body=body)
