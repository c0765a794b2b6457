"""WhatsApp template endpoints: list, create, localize, submit, update, delete, send, opt-outs."""

from __future__ import annotations

import msgspec

from worker.texter import endpoints as ep
from worker.texter.base import ClientBase, flag, page
from worker.texter.models import SentTemplate, Template, Unsubscribed
from worker.texter.requests import (
    CreateTemplate,
    Localization,
    SendTemplate,
    TemplateOptOut,
    UpdateTemplate,
)


def _names(account_id: str, template_name: str) -> dict[str, str]:
    return {"account_id": account_id, "template_name": template_name}


class TemplatesAPI(ClientBase):
    async def list_templates(
        self, *, account_id: str | None = None, include_all: bool | None = None
    ) -> list[Template]:
        """GET /whatsapp/templates: approved templates, or all with include_all=True."""
        query = [] if account_id is None else [("accountId", account_id)]
        if include_all is not None:
            query.append(("includeAll", flag(include_all)))
        return await self._json(ep.LIST_TEMPLATES, list[Template], query=query)

    async def create_template(self, account_id: str, request: CreateTemplate) -> Template:
        """POST /whatsapp/templates/{accountId}. Read the (maybe generated) name from the answer."""
        return await self._json(
            ep.CREATE_TEMPLATE, Template, {"account_id": account_id}, body=request
        )

    async def put_template_localization(
        self, account_id: str, template_name: str, request: Localization
    ) -> Template:
        """POST .../{templateName}/localizations: create or update a draft localization."""
        path = _names(account_id, template_name)
        return await self._json(ep.PUT_LOCALIZATION, Template, path, body=request)

    async def submit_template(self, account_id: str, template_name: str, language: str) -> Template:
        """POST .../localizations/{language}/submit: send a localization to WhatsApp review."""
        path = {**_names(account_id, template_name), "language": language}
        return await self._json(ep.SUBMIT_TEMPLATE, Template, path)

    async def update_template(
        self, account_id: str, template_name: str, request: UpdateTemplate
    ) -> Template:
        """PATCH /whatsapp/templates/{accountId}/{templateName} (not name or category)."""
        path = _names(account_id, template_name)
        return await self._json(ep.UPDATE_TEMPLATE, Template, path, body=request)

    async def delete_template(self, account_id: str, template_name: str) -> None:
        """DELETE /whatsapp/templates/{accountId}/{templateName}. Answer: plain text OK."""
        await self._ok(ep.DELETE_TEMPLATE, _names(account_id, template_name))

    async def send_template(self, request: SendTemplate) -> SentTemplate:
        """POST /whatsapp/templates/send. Raises TexterRejected when Texter skips the send
        (`success: false`, e.g. the phone unsubscribed from templates), and
        AmbiguousSendError when it may or may not have gone out: never repeat it blindly."""
        return await self._json(ep.SEND_TEMPLATE, SentTemplate, body=request)

    async def unsubscribe_from_templates(self, phone: str, account_id: str | None = None) -> None:
        """POST /whatsapp/templates/unsubscribe (all WhatsApp accounts when no account_id)."""
        await self._ok(ep.UNSUBSCRIBE, body=_opt_out(phone, account_id))

    async def resubscribe_to_templates(self, phone: str, account_id: str | None = None) -> None:
        """POST /whatsapp/templates/subscribe."""
        await self._ok(ep.RESUBSCRIBE, body=_opt_out(phone, account_id))

    async def list_unsubscribed(
        self,
        account_id: str | None = None,
        *,
        limit: int | None = None,
        skip: int | None = None,
    ) -> list[Unsubscribed]:
        """GET /whatsapp/templates/unsubscribed[/{accountId}], oldest opt-out first."""
        query = page(limit, skip)
        if account_id is None:
            return await self._json(ep.LIST_UNSUBSCRIBED, list[Unsubscribed], query=query)
        path = {"account_id": account_id}
        return await self._json(ep.LIST_UNSUBSCRIBED_ACCOUNT, list[Unsubscribed], path, query=query)


def _opt_out(phone: str, account_id: str | None) -> TemplateOptOut:
    body = TemplateOptOut(phone=phone)
    return body if account_id is None else msgspec.structs.replace(body, account_id=account_id)
