"""The admin HTTP API: the dead-letter box over HTTP, for `texter-worker dlq` against a service
whose dead letters live in its own memory (the embedded transport).

    GET  /admin/dlq?reason=R&limit=N      -> Listing
    GET  /admin/dlq/{id}                  -> Shown                       (404 unknown id)
    POST /admin/dlq/replay    Selection   -> ReplayReport                (400 empty selection)
    POST /admin/dlq/purge     Selection   -> PurgeReport                 (400 empty selection)
    POST /admin/dlq/{id}/resolve {"sent": bool} -> ResolveReport         (409 not in doubt)

JSON in and out (the Structs of `worker.dlq`). Every route needs `Authorization: Bearer <token>`,
compared in constant time; anything else is a 401. Without a token the routes are not added at
all: an admin API is never open. A bus or ledger failure is a 503 (nothing was changed that the
answer does not report).

`AdminClient` is the other end, used by the CLI: the same methods as `DeadLetterBox`, over HTTP.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import quote

import aiohttp
import msgspec
import structlog
from aiohttp import web

from worker.dlq import (
    DeadLetterBox,
    DeadLetterNotFound,
    Listing,
    NotResolvable,
    PurgeReport,
    ReplayReport,
    ResolveReport,
    Selection,
    Shown,
)
from worker.errors import BusError, StateError, WorkerError

log = structlog.get_logger(__name__)

PREFIX = "/admin/dlq"
BoxFactory = Callable[[], DeadLetterBox]
Handler = Callable[[web.Request], Awaitable[web.Response]]
_json = msgspec.json.Encoder()


class _Resolve(msgspec.Struct, forbid_unknown_fields=True):
    sent: bool


@dataclass(frozen=True, slots=True)
class _Admin:
    box: BoxFactory
    token: bytes


APP_ADMIN = web.AppKey("admin", _Admin)


def add_admin_routes(app: web.Application, box_factory: BoxFactory, token: str | None) -> bool:
    """Add the admin routes to `app` when a token is set; True if they were added."""
    if not token:
        log.info("admin.disabled", detail="ADMIN_TOKEN is not set: no admin API")
        return False
    app[APP_ADMIN] = _Admin(box_factory, token.encode())
    app.router.add_get(PREFIX, _guarded(list_dead))
    app.router.add_post(f"{PREFIX}/replay", _guarded(replay))
    app.router.add_post(f"{PREFIX}/purge", _guarded(purge))
    app.router.add_get(PREFIX + "/{id}", _guarded(show))
    app.router.add_post(PREFIX + "/{id}/resolve", _guarded(resolve_one))
    return True


def _reply(status: int, payload: object) -> web.Response:
    return web.Response(status=status, body=_json.encode(payload), content_type="application/json")


def _authorized(request: web.Request) -> bool:
    presented = request.headers.get("Authorization", "")
    scheme, _, token = presented.partition(" ")
    if scheme.lower() != "bearer":
        return False
    expected = request.app[APP_ADMIN].token
    return hmac.compare_digest(token.strip().encode("utf-8", "surrogateescape"), expected)


def _guarded(handler: Handler) -> Handler:
    """Authenticate, then translate the box's failures into HTTP answers."""

    async def guarded(request: web.Request) -> web.Response:
        if not _authorized(request):
            return _reply(401, {"error": "missing or wrong admin token"})
        try:
            return await handler(request)
        except NotResolvable as exc:
            return _reply(409, {"error": str(exc)})
        except (msgspec.DecodeError, ValueError) as exc:  # bad input (ValidationError included)
            return _reply(400, {"error": str(exc)})
        except DeadLetterNotFound as exc:
            return _reply(404, {"error": str(exc)})
        except (BusError, StateError) as exc:
            log.warning("admin.unavailable", path=request.path, error=str(exc))
            return _reply(503, {"error": str(exc)})

    return guarded


def _box(request: web.Request) -> DeadLetterBox:
    return request.app[APP_ADMIN].box()


async def list_dead(request: web.Request) -> web.Response:
    limit = int(request.query.get("limit", "50"))  # ValueError: 400
    if limit < 1:
        raise ValueError("limit must be at least 1")
    reason = request.query.get("reason") or None
    return _reply(200, await _box(request).list(reason, limit))


async def show(request: web.Request) -> web.Response:
    return _reply(200, await _box(request).show(request.match_info["id"]))


async def replay(request: web.Request) -> web.Response:
    selection = msgspec.json.decode(await request.read(), type=Selection)
    return _reply(200, await _box(request).replay(selection))


async def purge(request: web.Request) -> web.Response:
    selection = msgspec.json.decode(await request.read(), type=Selection)
    return _reply(200, await _box(request).purge(selection))


async def resolve_one(request: web.Request) -> web.Response:
    answer = msgspec.json.decode(await request.read(), type=_Resolve)
    report = await _box(request).resolve(request.match_info["id"], sent=answer.sent)
    return _reply(200, report)


# --- the client ---------------------------------------------------------------------------------

T = TypeVar("T")
CLIENT_TIMEOUT = 600.0  # a replay of thousands of dead letters is one request


class AdminError(WorkerError):
    """The admin API answered with an error (`status`), or could not be reached (status 0)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


class AdminClient:
    """`DeadLetterBox`'s operations against a running service's admin API."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str) -> None:
        self._session, self._base = session, base_url.rstrip("/") + PREFIX
        self._headers = {"Authorization": f"Bearer {token}"}

    async def list(self, reason: str | None = None, limit: int = 50) -> Listing:
        query = {"limit": str(limit), **({"reason": reason} if reason else {})}
        return await self._call("GET", "", Listing, query=query)

    async def show(self, dead_id: str) -> Shown:
        return await self._call("GET", f"/{quote(dead_id, safe='')}", Shown)

    async def replay(self, selection: Selection) -> ReplayReport:
        return await self._call("POST", "/replay", ReplayReport, body=selection)

    async def purge(self, selection: Selection) -> PurgeReport:
        return await self._call("POST", "/purge", PurgeReport, body=selection)

    async def resolve(self, dead_id: str, *, sent: bool) -> ResolveReport:
        path = f"/{quote(dead_id, safe='')}/resolve"
        return await self._call("POST", path, ResolveReport, body=_Resolve(sent))

    async def _call(
        self,
        method: str,
        path: str,
        answer: type[T],
        *,
        body: object = None,
        query: Mapping[str, str] | None = None,
    ) -> T:
        url = self._base + path
        data = None if body is None else _json.encode(body)
        headers = {**self._headers, "Content-Type": "application/json"}
        try:
            async with self._session.request(
                method, url, data=data, params=query, headers=headers
            ) as response:
                status, payload = response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AdminError(0, f"cannot reach the admin API at {url}: {exc!r}") from exc
        if status != 200:
            raise AdminError(status, _error_text(status, payload))
        return msgspec.json.decode(payload, type=answer)


def client_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=CLIENT_TIMEOUT))


def _error_text(status: int, payload: bytes) -> str:
    try:
        error = msgspec.json.decode(payload, type=dict[str, str]).get("error")
    except msgspec.DecodeError:
        error = None
    if status == 401:
        return "the admin API refused the token: ADMIN_TOKEN must match the service's"
    if status == 404 and error is None:
        return "no admin API there (is ADMIN_TOKEN set for the service, and --url right?)"
    return f"HTTP {status}: {error or payload[:200].decode('utf-8', 'replace')}"
