"""Label endpoints: the account's label catalogue (labels on a chat are in chats.py)."""

from __future__ import annotations

from worker.texter import endpoints as ep
from worker.texter.base import ClientBase, page
from worker.texter.models import Label, LabelPage
from worker.texter.requests import CreateLabel, UpdateLabel


class LabelsAPI(ClientBase):
    async def list_labels(self, *, limit: int | None = None, skip: int | None = None) -> LabelPage:
        """GET /labels (no scope needed)."""
        return await self._json(ep.LIST_LABELS, LabelPage, query=page(limit, skip))

    async def get_label(self, label_id: str) -> Label:
        """GET /labels/{labelId} (no scope needed)."""
        return await self._json(ep.GET_LABEL, Label, {"label_id": label_id})

    async def create_label(self, label_id: str, name: str, color: str | None = None) -> Label:
        """POST /labels. `color` is full hex #RRGGBB; Texter defaults it to #555555."""
        body = CreateLabel(id=label_id, name=name)
        if color is not None:
            body.color = color
        return await self._json(ep.CREATE_LABEL, Label, body=body)

    async def update_label(
        self, label_id: str, *, name: str | None = None, color: str | None = None
    ) -> None:
        """PATCH /labels/{labelId}: rename and/or recolour. Answer: plain text OK."""
        body = UpdateLabel()
        if name is not None:
            body.name = name
        if color is not None:
            body.color = color
        await self._ok(ep.UPDATE_LABEL, {"label_id": label_id}, body=body)

    async def delete_label(self, label_id: str) -> None:
        """DELETE /labels/{labelId} -- UNVERIFIED: the path is inferred from GET/PATCH
        /labels/{labelId}; the reference page is missing (GAPS.md §1)."""
        await self._ok(ep.DELETE_LABEL, {"label_id": label_id})
