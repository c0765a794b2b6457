"""The ingress HTTP app: POST /webhooks/texter, GET /healthz, GET /readyz, GET /metrics.

A webhook is answered 202 only after the broker confirmed it; any doubt is a 503 with
Retry-After, so Texter (or whoever sends) can try again. Rejected requests publish nothing.
The request line is never logged as is: `?token=` may carry the secret.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec
import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest

from producers.ingress.auth import is_authorized
from producers.ingress.envelope import Accepted, Rejected, parse_webhook
from worker import __version__
from worker.bus import Bus, Message, shard_of
from worker.bus.topology import routing_key
from worker.errors import BusError
from worker.metrics import IngressMetrics, Metrics

log = structlog.get_logger(__name__)

WEBHOOK_PATH = "/webhooks/texter"
_json = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class IngressConfig:
    secret: bytes | None
    max_bytes: int
    publish_timeout: float
    retry_after: int
    exchange: str
    shards: int


@dataclass(frozen=True, slots=True)
class ReadyState:
    ready: bool
    checks: dict[str, bool]


Readiness = Callable[[], ReadyState]

APP_BUS = web.AppKey("bus", Bus)
APP_CONFIG = web.AppKey("config", IngressConfig)
APP_METRICS = web.AppKey("metrics", Metrics)
APP_READINESS: web.AppKey[Readiness] = web.AppKey("readiness")


class _Counters:
    """The labelled counters' children, looked up once per label value: `labels()` takes a lock
    and builds a key on every call, which showed up in the ingress profile (docs/performance.md).
    Label sets are closed (outcomes, documented event names + `other`), so the caches stay small."""

    __slots__ = ("_events", "_fallback", "_m", "_outcomes")

    def __init__(self, m: IngressMetrics) -> None:
        self._m = m
        self._outcomes: dict[str, Counter] = {}
        self._events: dict[str, Counter] = {}
        self._fallback: dict[str, Counter] = {}

    def outcome(self, label: str) -> Counter:
        child = self._outcomes.get(label)
        if child is None:
            child = self._outcomes[label] = self._m.requests.labels(label)
        return child

    def event(self, label: str) -> Counter:
        child = self._events.get(label)
        if child is None:
            child = self._events[label] = self._m.events.labels(label)
        return child

    def fallback(self, label: str) -> Counter:
        child = self._fallback.get(label)
        if child is None:
            child = self._fallback[label] = self._m.identity_fallback.labels(label)
        return child


APP_COUNTERS = web.AppKey("counters", _Counters)


def _reply(status: int, payload: dict[str, str], **headers: str) -> web.Response:
    return web.Response(
        status=status,
        body=_json.encode(payload),
        content_type="application/json",
        headers=headers or None,
    )


@dataclass(slots=True)
class _Outcome:
    status: int
    outcome: str  # the label of texter_worker_ingress_requests_total
    response: web.Response
    log: dict[str, str | None] = field(default_factory=dict)


async def webhook(request: web.Request) -> web.Response:
    app = request.app
    metrics, counters = app[APP_METRICS].ingress, app[APP_COUNTERS]
    metrics.in_flight.inc()
    try:
        result = await _handle(request, metrics)
    finally:
        metrics.in_flight.dec()
    counters.outcome(result.outcome).inc()
    log.info("webhook", outcome=result.outcome, status=result.status, **result.log)
    return result.response


async def _handle(request: web.Request, m: IngressMetrics) -> _Outcome:
    cfg = request.app[APP_CONFIG]
    if not is_authorized(request.headers, request.query, cfg.secret):
        reply = _reply(
            401, {"error": "missing or wrong webhook token"}, **{"WWW-Authenticate": "Bearer"}
        )
        return _Outcome(401, "unauthorized", reply)
    too_large = _Outcome(
        413, "too_large", _reply(413, {"error": f"body larger than {cfg.max_bytes} bytes"})
    )
    if request.content_length is not None and request.content_length > cfg.max_bytes:
        return too_large
    try:
        body = await request.read()  # aiohttp enforces client_max_size while reading
    except web.HTTPRequestEntityTooLarge:
        return too_large
    except web.RequestPayloadError:  # e.g. a Content-Encoding the body does not decode with
        return _Outcome(400, "bad_request", _reply(400, {"error": "body could not be read"}))
    m.body_bytes.observe(len(body))
    parsed = parse_webhook(body)
    if isinstance(parsed, Rejected):
        return _Outcome(400, "bad_request", _reply(400, {"error": parsed.reason}))
    result = await _publish(request.app, body, parsed)
    result.log.update(
        event_name=parsed.event_name, event_id=parsed.dedup_key, chat_id=parsed.chat_id
    )
    return result


def _message(cfg: IngressConfig, body: bytes, parsed: Accepted) -> Message:
    received = time.time()
    headers: dict[str, str | int | bool] = {
        "x-ingress-version": __version__,
        "x-received-at-ms": int(received * 1000),
    }
    if parsed.chat_id is not None:
        headers["x-chat-id"] = parsed.chat_id
    return Message(
        body=body,
        routing_key=routing_key(shard_of(parsed.ordering_key, cfg.shards)),
        message_id=parsed.dedup_key,
        type=parsed.event_name,
        headers=headers,
        timestamp=received,
    )


async def _publish(app: web.Application, body: bytes, parsed: Accepted) -> _Outcome:
    bus, cfg, m, counters = (
        app[APP_BUS],
        app[APP_CONFIG],
        app[APP_METRICS].ingress,
        app[APP_COUNTERS],
    )
    started = time.perf_counter()
    try:
        await bus.publish(cfg.exchange, _message(cfg, body, parsed), timeout=cfg.publish_timeout)
    except BusError as exc:
        m.publish_seconds.observe(time.perf_counter() - started)
        reply = _reply(
            503, {"error": "event not stored, try again"}, **{"Retry-After": str(cfg.retry_after)}
        )
        return _Outcome(503, "unavailable", reply, {"error": str(exc)})
    m.publish_seconds.observe(time.perf_counter() - started)
    counters.event(parsed.event_name if parsed.known else "other").inc()
    if parsed.identity_fallback:
        counters.fallback(parsed.event_name).inc()
    return _Outcome(202, "accepted", _reply(202, {"status": "accepted", "id": parsed.dedup_key}))


async def healthz(request: web.Request) -> web.Response:
    return _reply(200, {"status": "alive"})


async def readyz(request: web.Request) -> web.Response:
    state = request.app[APP_READINESS]()
    body = {"status": "ready" if state.ready else "not ready"}
    body.update({name: "ok" if ok else "failing" for name, ok in state.checks.items()})
    return _reply(200 if state.ready else 503, body)


async def metrics_page(request: web.Request) -> web.Response:
    payload = generate_latest(request.app[APP_METRICS].registry)
    return web.Response(body=payload, headers={"Content-Type": CONTENT_TYPE_LATEST})


def create_app(
    bus: Bus,
    config: IngressConfig,
    metrics: Metrics,
    readiness: Readiness,
    *,
    webhooks: bool = True,
) -> web.Application:
    # client_max_size makes aiohttp stop reading a body at the limit, chunked or not.
    app = web.Application(client_max_size=config.max_bytes)
    app[APP_BUS], app[APP_CONFIG], app[APP_METRICS] = bus, config, metrics
    app[APP_READINESS] = readiness
    app[APP_COUNTERS] = _Counters(metrics.ingress)
    if webhooks:  # processes without the ingress role serve only probes and metrics
        app.router.add_post(WEBHOOK_PATH, webhook)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_page)
    return app
