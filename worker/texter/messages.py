"""Message and file endpoints: read a chat's messages, send a session message, share a file."""

from __future__ import annotations

from worker.texter import endpoints as ep
from worker.texter.base import ClientBase
from worker.texter.models import MessagePage, SentMessage, SharedFile
from worker.texter.requests import SendMessage, ShareFile


class MessagesAPI(ClientBase):
    async def get_messages(
        self,
        chat_id: str,
        *,
        bot_session_id: str | None = None,
        before_time: int | None = None,
        before_id: str | None = None,
        limit: int | None = None,
    ) -> MessagePage:
        """GET /messages/chat/{chatId}, oldest first. Texter requires a filter: either
        bot_session_id, or before_time (epoch ms) together with before_id."""
        query: list[tuple[str, str]] = []
        if bot_session_id is not None:
            query.append(("botSessionId", bot_session_id))
        if before_time is not None:
            query.append(("beforeTime", str(before_time)))
        if before_id is not None:
            query.append(("beforeId", before_id))
        if limit is not None:
            query.append(("limit", str(limit)))
        return await self._json(ep.GET_MESSAGES, MessagePage, {"chat_id": chat_id}, query=query)

    async def send_message(self, chat_id: str, request: SendMessage) -> SentMessage:
        """POST /messages/send/{chatId}: a session message into an existing chat. Texter
        refuses it outside the WhatsApp 24-hour window. Raises AmbiguousSendError when it may
        or may not have gone out (timeout, connection lost, 5xx): never repeat it blindly."""
        return await self._json(ep.SEND_MESSAGE, SentMessage, {"chat_id": chat_id}, body=request)

    async def send_text(self, chat_id: str, text: str) -> SentMessage:
        """Shorthand for send_message with a text body."""
        return await self.send_message(chat_id, SendMessage(type="text", text=text))

    async def share_file(self, file_id: str, *, ttl: int | None = None) -> SharedFile:
        """POST /files/share/{fileId}: a public read-only link (ttl seconds; None = forever)."""
        body = ShareFile() if ttl is None else ShareFile(ttl=ttl)
        return await self._json(ep.SHARE_FILE, SharedFile, {"file_id": file_id}, body=body)
