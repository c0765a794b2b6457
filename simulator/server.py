"""The fake Texter as a real aiohttp server on loopback.

    async with FakeTexter(token=token, seed=True) as fake:
        fake.url            # http://127.0.0.1:<port>/server/api/v2  (TEXTER_BASE_URL)
        fake.faults.errors = 3                  # the next three requests answer 503
        fake.emitter.configure(url, token=...)  # send webhooks after state changes
        fake.calls          # every request received, in order

Every API request passes one middleware: record the call ▸ check the bearer token (401) ▸
apply the configured fault (latency, 429 over a rate, 5xx burst, hang, connection drop, a 2xx
with a body of the wrong shape) ▸ the handler. The arrival time is taken before anything is
awaited, so `Call.at` is when the request reached the fake, not when it got to run.
/_control/* is neither recorded nor authenticated nor faulted (control.py).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

from aiohttp import web

from simulator import api_catalog, api_chats, api_messages, api_templates, control
from simulator.emitter import WebhookEmitter
from simulator.faults import Action, Call, FaultPlan, Faults
from simulator.seed import seed as seed_state
from simulator.state import State, wall_clock_ms
from simulator.web import EMITTER, STATE, Fail, answer

API_PREFIX = "/server/api/v2"
JSON = "application/json"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FakeTexter:
    def __init__(
        self,
        *,
        token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: bool = False,
        clock_ms: Callable[[], int] = wall_clock_ms,
        webhook_url: str | None = None,
        webhook_token: str | None = None,
    ) -> None:
        self.token = token
        self.host = host
        self.port = port
        self.state = State(clock_ms)
        self.plan = FaultPlan(time.monotonic)
        self.calls: list[Call] = []
        self.emitter = WebhookEmitter(self.state)
        if webhook_url is not None:
            self.emitter.configure(webhook_url, token=webhook_token)
        if seed:
            seed_state(self.state)
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None

    @property
    def faults(self) -> Faults:
        return self.plan.faults

    def set_faults(self, **fields: Any) -> Faults:
        """Replace the faults, e.g. set_faults(rate_limit=20, retry_after="1")."""
        self.plan.set(Faults(**fields))
        return self.plan.faults

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The API root to use as TEXTER_BASE_URL."""
        return self.origin + API_PREFIX

    def calls_to(self, method: str, path_part: str = "") -> list[Call]:
        return [c for c in self.calls if c.method == method and path_part in c.path]

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app[STATE] = self.state
        app[EMITTER] = self.emitter
        app[control.CALLS] = self.calls
        app[control.PLAN] = self.plan
        app.add_routes(control.routes)
        api = web.Application()
        api[STATE] = self.state
        api[EMITTER] = self.emitter
        for module in (api_chats, api_messages, api_templates, api_catalog):
            api.add_routes(module.routes)
        app.add_subapp(API_PREFIX, api)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.build_app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        self._closing.set()  # release hanging requests
        await self.emitter.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTexter:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        arrived = time.monotonic()  # before any await: the arrival time, not the handling time
        if request.path.startswith("/_control/"):
            return await _guard(handler, request)
        call = Call(
            method=request.method,
            path=request.path.removeprefix(API_PREFIX),
            query={k: request.query.getall(k) for k in request.query},
            body=_parse(await request.read()),
            at=arrived,
        )
        self.calls.append(call)
        response = await self._answer(call, request, handler)
        call.answered_at = time.monotonic()
        call.status = None if response is None else response.status
        return response if response is not None else web.Response(status=204)

    async def _answer(
        self, call: Call, request: web.Request, handler: Handler
    ) -> web.StreamResponse | None:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            call.fault = "unauthorized"
            return answer({"error": "Unauthorized", "statusCode": 401}, 401)
        action = self.plan.decide(call.path)
        call.fault = action.value
        if self.faults.latency:
            await asyncio.sleep(self.faults.latency)
        return await self._apply(action, request, handler)

    async def _apply(
        self, action: Action, request: web.Request, handler: Handler
    ) -> web.StreamResponse | None:
        f = self.faults
        if action is Action.RATE_LIMITED:
            response = answer({"error": "Too Many Requests", "statusCode": 429}, 429)
            response.headers["Retry-After"] = f.retry_after
            return response
        if action is Action.ERROR:
            headers = {"Retry-After": f.error_retry_after} if f.error_retry_after else {}
            return web.Response(status=f.error_status, text="injected fault", headers=headers)
        if action is Action.DROP:
            if request.transport is not None:
                request.transport.close()
            return None
        if action is Action.TIMEOUT:
            try:  # hang past the client's timeout, then answer as if nothing happened
                await asyncio.wait_for(self._closing.wait(), f.hang)
                return web.Response(status=503, text="shutting down")
            except TimeoutError:
                pass
        handled = await _guard(handler, request)
        if action is Action.BAD_BODY and 200 <= handled.status < 300:
            # The request was processed; only the answer has a shape the reference does not give.
            return web.Response(status=handled.status, text=f.bad_body, content_type=JSON)
        return handled


async def _guard(handler: Handler, request: web.Request) -> web.StreamResponse:
    try:
        return await handler(request)
    except Fail as failure:
        return failure.response()
    except web.HTTPException as exc:  # unknown route, wrong method: answer JSON, record it
        return answer({"error": exc.reason, "statusCode": exc.status}, exc.status)


def _parse(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return raw.decode("utf-8", "replace")
