"""Each Plan step as one call: Texter client methods, or the external `http` step."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from msgspec import UNSET

from consumers.writer.http_step import run_http
from consumers.writer.outcome import Kind, StepFailure
from worker import plans as p
from worker.errors import TexterBadResponse
from worker.texter import requests as rq
from worker.texter.client import TexterClient


def needs_ledger(step: p.Step) -> bool:
    """Steps that must not happen twice: sends, external calls, a resolve that notifies."""
    if isinstance(step, p.Resolve):
        return step.notify_client
    return not p.is_idempotent(step)


def _unset(value: Any) -> Any:
    return UNSET if value is None else value


class StepRunner:
    def __init__(self, client: TexterClient, http: aiohttp.ClientSession) -> None:
        self._client, self._http = client, http
        self._table: dict[type[Any], Callable[[Any, str | None], Awaitable[None]]] = {
            p.Assign: self._assign,
            p.Resolve: self._resolve,
            p.UpdateCrm: self._update_crm,
            p.UpdateChat: self._update_chat,
            p.Labels: self._labels,
            p.SendMessage: self._send_message,
            p.SendTemplate: self._send_template,
            p.Unsubscribe: self._unsubscribe,
            p.Resubscribe: self._resubscribe,
            p.Http: self._external,
        }

    async def run(self, step: p.Step, plan_chat: str | None) -> None:
        try:
            await self._table[type(step)](step, plan_chat)
        except TexterBadResponse as exc:
            if not needs_ledger(step):
                raise  # permanent: repeating an idempotent step is harmless
            # A 2xx whose body is not what the reference documents (a proxy's page, a changed
            # API): the send most likely happened. Never release it for a resend; ask a person.
            raise StepFailure(
                Kind.IN_DOUBT, f"{exc} (Texter answered {exc.status}: it may have been sent)"
            ) from exc

    @staticmethod
    def _chat(step: p.Step, plan_chat: str | None) -> str:
        chat = getattr(step, "chat_id", None) or plan_chat
        if chat is None:  # the Plan contract makes this impossible for valid Plans
            raise StepFailure(Kind.PERMANENT, f"{p.action_of(step)} step without a chat id")
        return str(chat)

    async def _assign(self, s: p.Assign, chat: str | None) -> None:
        target = {"phone": s.phone} if s.phone else {"chat_id": self._chat(s, chat)}
        request = rq.AssignChat(
            **target,
            agent_uid=_unset(s.agent_uid),
            agent_email=_unset(s.agent_email),
            agent_crm_id=_unset(s.agent_crm_id),
            department_id=_unset(s.department_id),
            channel=_unset(s.channel),
        )
        await self._client.assign_chat(request)

    async def _resolve(self, s: p.Resolve, chat: str | None) -> None:
        await self._client.resolve_chat(self._chat(s, chat), notify_client=s.notify_client)

    async def _update_crm(self, s: p.UpdateCrm, chat: str | None) -> None:
        await self._client.update_crm_data(self._chat(s, chat), s.data)

    async def _update_chat(self, s: p.UpdateChat, chat: str | None) -> None:
        request = rq.UpdateChat(
            display_name=_unset(s.display_name),
            external_bot=_unset(s.external_bot),
            crm_deep_link=_unset(s.crm_deep_link),
        )
        await self._client.update_chat(self._chat(s, chat), request)

    async def _labels(self, s: p.Labels, chat: str | None) -> None:
        await self._client.manage_chat_labels(
            self._chat(s, chat), add=s.add, remove=s.remove, replace=s.set_
        )

    async def _send_message(self, s: p.SendMessage, chat: str | None) -> None:
        request = rq.SendMessage(
            type=s.type,
            text=_unset(s.text),
            context=_unset(s.context),
            tmp_send_id=s.idempotency_key,  # lets Texter (and the fake) tie it to the step
            media=_unset(s.media),
            buttons=_unset(s.buttons),
            list_=_unset(s.list_),
            contacts=_unset(s.contacts),
            location=_unset(s.location),
        )
        await self._client.send_message(self._chat(s, chat), request)

    async def _send_template(self, s: p.SendTemplate, chat: str | None) -> None:
        request = rq.SendTemplate(
            template_name=s.template,
            to=s.to,
            from_=_unset(s.from_),
            language=_unset(s.language),
            body=_unset(s.body),
            header=_unset(s.header),
        )
        await self._client.send_template(request)

    async def _unsubscribe(self, s: p.Unsubscribe, chat: str | None) -> None:
        await self._client.unsubscribe_from_templates(s.phone, s.account_id)

    async def _resubscribe(self, s: p.Resubscribe, chat: str | None) -> None:
        await self._client.resubscribe_to_templates(s.phone, s.account_id)

    async def _external(self, s: p.Http, chat: str | None) -> None:
        await run_http(self._http, s)
