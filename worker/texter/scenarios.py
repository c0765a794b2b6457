"""Quick replies and subscriptions (scenarios) with a documented path.

Activate, inactivate and delete subscription, drafts, revisions, components and scenario runs
are left out on purpose: their paths are not in the reference (GAPS.md §1).
"""

from __future__ import annotations

from worker.texter import endpoints as ep
from worker.texter.base import ClientBase, flag, page
from worker.texter.models import Json, QuickReply, QuickReplyPage, Scenario, ScenarioPage
from worker.texter.requests import CopyScenario, CreateQuickReply, ImportSubscription


class QuickRepliesAPI(ClientBase):
    async def list_quick_replies(
        self,
        *,
        limit: int | None = None,
        skip: int | None = None,
        for_chat: tuple[str, str, str] | None = None,
        position: str | None = None,
    ) -> QuickReplyPage:
        """GET /quick-replies. `for_chat` = (channel name, account id, chat id)."""
        query = page(limit, skip)
        if for_chat is not None:
            name, account_id, chat_id = for_chat
            query += [
                ("forChat[name]", name),
                ("forChat[accountId]", account_id),
                ("forChat[id]", chat_id),
            ]
        if position is not None:
            query.append(("position", position))
        return await self._json(ep.LIST_QUICK_REPLIES, QuickReplyPage, query=query)

    async def create_quick_reply(self, send: Json, display: Json | None = None) -> QuickReply:
        """POST /quick-replies. `send` = {contents: [...], target: [{name, accountId, id?}]}."""
        body = CreateQuickReply(send=send) if display is None else CreateQuickReply(send, display)
        return await self._json(ep.CREATE_QUICK_REPLY, QuickReply, body=body)

    async def update_quick_reply(self, quick_reply_id: str, operations: list[Json]) -> QuickReply:
        """PATCH /quick-replies/{id} with 1-1000 single-key operations, e.g.
        [{"updateClientMetadata": {"aiQuickReply": True}}]."""
        path = {"quick_reply_id": quick_reply_id}
        return await self._json(ep.UPDATE_QUICK_REPLY, QuickReply, path, body=operations)

    async def delete_quick_reply(self, quick_reply_id: str) -> None:
        """DELETE /quick-replies/{id} -- UNVERIFIED: the path is inferred from the PATCH
        sibling; the reference page is missing (GAPS.md §1)."""
        await self._ok(ep.DELETE_QUICK_REPLY, {"quick_reply_id": quick_reply_id})


class SubscriptionsAPI(ClientBase):
    async def list_subscriptions(self, *, include_system: bool | None = None) -> ScenarioPage:
        """GET /scenarios/manage: every scenario; subscriptions are named "(SUB) ...".
        `include_system` sends includeSystem=..., a parameter name the reference only implies
        (inferred); leave it None unless you need system scenarios."""
        query = [] if include_system is None else [("includeSystem", flag(include_system))]
        return await self._json(ep.LIST_SUBSCRIPTIONS, ScenarioPage, query=query)

    async def import_subscription(
        self, data: Json, *, as_status: str = "active", author_uid: str | None = None
    ) -> Scenario:
        """POST /scenarios/manage/import (201): create a subscription from a scenario
        definition; keep the returned `id`. as_status: active, inactive or draft."""
        body = ImportSubscription(data=data, as_status=as_status)
        if author_uid is not None:
            body.author_uid = author_uid
        return await self._json(ep.IMPORT_SUBSCRIPTION, Scenario, body=body)

    async def copy_scenario(
        self, scenario_id: str, *, from_version: int, new_name: str
    ) -> Scenario:
        """POST /scenarios/manage/{scenarioId}/copy."""
        body = CopyScenario(from_version=from_version, new_name=new_name)
        path = {"scenario_id": scenario_id}
        return await self._json(ep.COPY_SCENARIO, Scenario, path, body=body)
