"""What every endpoint group shares: encode the body, call, decode the answer.

Texter answers success in three shapes (README "Responses"): JSON (often with `success: true`
merged in), `{"success": false}` for a request it skipped, and the plain text `OK`. `_json`
decodes the first into a Struct and turns `success: false` into `TexterRejected`; `_ok` is for
the endpoints documented to answer `OK` and accepts `OK`, an empty body or any JSON that does
not say `success: false`, because Texter may change the shape and the action did happen.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec

from worker.errors import TexterBadResponse, TexterRejected
from worker.texter.endpoints import Endpoint
from worker.texter.transport import Answer, Query, Transport

T = TypeVar("T")


class _Flag(msgspec.Struct):
    success: Any = None


_flag_decoder = msgspec.json.Decoder(_Flag)


class ClientBase:
    """Holds the transport; endpoint groups (ChatsAPI, ...) are mixins on top of it."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def __repr__(self) -> str:  # the token is in the transport's headers: never shown
        return f"{type(self).__name__}(base_url={self._transport.base_url!r})"

    async def _call(
        self,
        ep: Endpoint,
        path: Mapping[str, str] | None = None,
        *,
        query: Query = (),
        body: object = None,
    ) -> Answer:
        data = None if body is None else msgspec.json.encode(body)
        return await self._transport.call(ep, ep.url_path(**(path or {})), query=query, body=data)

    async def _json(
        self,
        ep: Endpoint,
        kind: type[T],
        path: Mapping[str, str] | None = None,
        *,
        query: Query = (),
        body: object = None,
    ) -> T:
        answer = await self._call(ep, path, query=query, body=body)
        _reject_if_unsuccessful(ep, answer)
        try:
            return msgspec.json.decode(answer.text, type=kind)
        except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
            raise TexterBadResponse(
                endpoint=ep.name, status=answer.status, body=answer.text, why=str(exc)
            ) from exc

    async def _ok(
        self,
        ep: Endpoint,
        path: Mapping[str, str] | None = None,
        *,
        query: Query = (),
        body: object = None,
    ) -> None:
        answer = await self._call(ep, path, query=query, body=body)
        _reject_if_unsuccessful(ep, answer)


def _reject_if_unsuccessful(ep: Endpoint, answer: Answer) -> None:
    text = answer.text.strip()
    if not text.startswith("{"):
        return  # "OK", empty, or an array: nothing says it failed
    try:
        flag = _flag_decoder.decode(text)
    except msgspec.DecodeError:
        return  # not JSON after all; `_json` reports it if it needed JSON
    if flag.success is False:
        raise TexterRejected(endpoint=ep.name, body=answer.text)


def page(limit: int | None, skip: int | None) -> list[tuple[str, str]]:
    """The offset-paging query parameters, leaving out the unset ones."""
    query = []
    if limit is not None:
        query.append(("limit", str(limit)))
    if skip is not None:
        query.append(("skip", str(skip)))
    return query


def flag(value: bool) -> str:
    return "true" if value else "false"
