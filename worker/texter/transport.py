"""One Texter call on the wire: breaker ▸ rate limiter ▸ aiohttp, inside tenacity retries.

Each *attempt* asks the breaker (fail fast when open), takes a rate-limiter slot (so retries
count against the limit too), sends the request and classifies the result with
`policy.decide`. aiohttp errors stop here: they become `worker.errors` exceptions, chained
with `raise ... from`. The token lives only in the request headers; it is never logged or put
in a repr or an exception.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import aiohttp
from aiolimiter import AsyncLimiter
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)
from tenacity.stop import stop_base

from worker.errors import (
    AmbiguousRequestError,
    AmbiguousSendError,
    CircuitOpen,
    TexterBadRequest,
    TexterConnectionError,
    TexterError,
    TexterHTTPError,
    TexterNotFound,
    TexterRateLimited,
    TexterServerError,
    TexterUnauthorized,
)
from worker.metrics import BREAKER_STATES, TexterMetrics
from worker.texter.breaker import CircuitBreaker, State
from worker.texter.endpoints import ALL, Endpoint
from worker.texter.policy import (
    Decision,
    NoAnswer,
    Verdict,
    decide,
    parse_retry_after,
    status_class,
)

Sleep = Callable[[float], Awaitable[None]]
Query = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class RetryConfig:
    attempts: int = 4
    deadline: float = 30.0  # seconds for the whole call, waits included
    retry_after_max: float = 60.0
    backoff_initial: float = 0.2
    backoff_max: float = 5.0


@dataclass(frozen=True)
class Answer:
    """A 2xx answer: status, body text and content type."""

    status: int
    text: str
    content_type: str


@dataclass(frozen=True)
class _Result:
    outcome: int | NoAnswer
    answer: Answer = Answer(0, "", "")
    retry_after: float | None = None
    cause: BaseException | None = None


class _StopAtDeadline(stop_base):
    """Stop when the next wait would end past the deadline.

    Like tenacity's stop_before_delay, but time is the larger of the real time elapsed and the
    sum of the waits, so the deadline also holds when tests inject a sleep that returns at once.
    """

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def __call__(self, state: RetryCallState) -> bool:
        spent = max(state.seconds_since_start or 0.0, state.idle_for)
        return spent + (state.upcoming_sleep or 0.0) >= self.deadline


class _Retry(Exception):
    """Internal: this attempt failed in a way that is safe to repeat. Never escapes."""

    def __init__(self, error: TexterError, wait: float | None) -> None:
        self.error = error
        self.wait = wait


class Transport:
    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        session: aiohttp.ClientSession,
        limiter: AsyncLimiter,
        breaker: CircuitBreaker,
        retry: RetryConfig,
        metrics: TexterMetrics | None = None,
        sleep: Sleep = asyncio.sleep,
        now: Callable[[], datetime],
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._session = session
        self._limiter = limiter
        self.breaker = breaker
        self._retry = retry
        self._metrics = metrics
        if metrics is not None:  # zeros from the start: the 401 alert must see the first one
            for endpoint in ALL:
                metrics.unauthorized.labels(endpoint.name)
        self._sleep = sleep
        self._now = now
        # "Full jitter": uniform(0, min(max, initial * 2**n)) spreads replicas' retries apart.
        self._backoff = wait_random_exponential(
            multiplier=retry.backoff_initial, max=retry.backoff_max
        )

    def __repr__(self) -> str:
        return f"Transport(base_url={self.base_url!r})"

    async def call(
        self, ep: Endpoint, path: str, *, query: Query = (), body: bytes | None = None
    ) -> Answer:
        """Send the request, retrying what is safe; return a 2xx answer or raise TexterError."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._retry.attempts) | _StopAtDeadline(self._retry.deadline),
            wait=self._wait,
            retry=retry_if_exception_type(_Retry),
            sleep=self._sleep,
            before_sleep=self._count_retry(ep),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._attempt(ep, path, query, body)
        except _Retry as last:  # attempts or deadline exhausted: surface the real error
            raise last.error from last.__cause__
        raise AssertionError("tenacity ended without a result")  # pragma: no cover

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retry) and exc.wait is not None:
            return exc.wait  # Texter said how long: wait exactly that
        return float(self._backoff(state))

    def _count_retry(self, ep: Endpoint) -> Callable[[RetryCallState], None]:
        def count(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            reason = exc.error.__class__.__name__ if isinstance(exc, _Retry) else "unknown"
            if self._metrics is not None:
                self._metrics.retries.labels(ep.name, reason).inc()

        return count

    async def _attempt(self, ep: Endpoint, path: str, query: Query, body: bytes | None) -> Answer:
        if not self.breaker.allow():
            if self._metrics is not None:
                self._metrics.short_circuited.labels(ep.name).inc()
            raise CircuitOpen(endpoint=ep.name, retry_after=self.breaker.retry_in())
        settled = False
        try:
            await self._acquire()
            result = await self._send(ep, path, query, body)
            settled = True
        finally:
            if not settled:  # cancelled: no verdict for the breaker
                self.breaker.record_abandoned()
        outcome = result.outcome
        if isinstance(outcome, NoAnswer) or outcome >= 500:
            self.breaker.record_failure()
        else:
            self.breaker.record_success()
        if isinstance(outcome, NoAnswer):
            raise _no_answer(ep, outcome) from result.cause
        decision = decide(
            outcome,
            idempotent=ep.idempotent,
            retry_after=result.retry_after,
            retry_after_max=self._retry.retry_after_max,
        )
        if decision.verdict is Verdict.SUCCESS:
            return result.answer
        raise _to_error(ep, decision, outcome, result.answer.text, result.retry_after)

    async def _acquire(self) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await self._limiter.acquire()
        if self._metrics is not None:
            self._metrics.rate_limit_wait_seconds.observe(loop.time() - started)

    async def _send(self, ep: Endpoint, path: str, query: Query, body: bytes | None) -> _Result:
        headers = dict(self._headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            async with self._session.request(
                ep.method, self.base_url + path, params=list(query), data=body, headers=headers
            ) as resp:
                raw = await resp.read()
                answer = Answer(resp.status, raw.decode("utf-8", "replace"), resp.content_type)
                retry_after = parse_retry_after(resp.headers.get("Retry-After"), self._now())
            result = _Result(resp.status, answer, retry_after)
        # Order matters: connector errors are OSErrors, aiohttp timeouts are TimeoutErrors.
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            result = _Result(NoAnswer.CONNECT_FAILED, cause=exc)
        except TimeoutError as exc:  # total or read timeout: the request may have been sent
            result = _Result(NoAnswer.TIMEOUT, cause=exc)
        except aiohttp.ClientError as exc:  # disconnected, reset, broken payload
            result = _Result(NoAnswer.DISCONNECTED, cause=exc)
        self._observe(ep, result.outcome, loop.time() - started)
        return result

    def _observe(self, ep: Endpoint, outcome: int | NoAnswer, seconds: float) -> None:
        if self._metrics is None:
            return
        self._metrics.requests.labels(ep.name, status_class(outcome)).inc()
        if outcome in (401, 403):  # the class (4xx) alone would hide a revoked token
            self._metrics.unauthorized.labels(ep.name).inc()
        self._metrics.request_seconds.labels(ep.name).observe(seconds)


def _no_answer(ep: Endpoint, outcome: NoAnswer) -> TexterError | _Retry:
    """The error for an attempt without an HTTP answer, wrapped in _Retry when safe to repeat."""
    decision = decide(outcome, idempotent=ep.idempotent)
    if decision.verdict is Verdict.AMBIGUOUS:
        return _ambiguous(ep, outcome.value, None)
    error = TexterConnectionError(outcome.value.replace("_", " "), endpoint=ep.name)
    return _Retry(error, None)


def _to_error(
    ep: Endpoint, decision: Decision, status: int | NoAnswer, body: str, retry_after: float | None
) -> TexterError | _Retry:
    assert isinstance(status, int)
    if decision.verdict is Verdict.AMBIGUOUS:
        return _ambiguous(ep, f"HTTP {status}", status)
    if decision.verdict is Verdict.PERMANENT:
        return _http_error(ep.name, status, body)
    error: TexterError
    if status == 429:
        error = TexterRateLimited(endpoint=ep.name, status=status, retry_after=retry_after)
    else:
        error = TexterServerError(
            endpoint=ep.name, status=status, body=body, retry_after=retry_after
        )
    return _Retry(error, decision.wait) if decision.verdict is Verdict.RETRY else error


def _ambiguous(ep: Endpoint, reason: str, status: int | None) -> AmbiguousRequestError:
    cls = AmbiguousSendError if ep.send else AmbiguousRequestError
    return cls(endpoint=ep.name, reason=reason, status=status)


def _http_error(endpoint: str, status: int, body: str) -> TexterHTTPError:
    cls: type[TexterHTTPError] = TexterHTTPError
    if status in (400, 422):
        cls = TexterBadRequest
    elif status in (401, 403):
        cls = TexterUnauthorized
    elif status == 404:
        cls = TexterNotFound
    return cls(endpoint=endpoint, status=status, body=body)


def breaker_gauge(metrics: TexterMetrics | None) -> Callable[[State], None] | None:
    """A breaker `on_change` hook that mirrors the state into the breaker gauge."""
    if metrics is None:
        return None
    gauge = metrics.breaker_state
    opened = metrics.breaker_opened

    def on_change(state: State) -> None:
        gauge.set(BREAKER_STATES[state.value])
        if state is State.OPEN:
            opened.inc()

    return on_change
