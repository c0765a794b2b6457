"""The Texter API client: one object per process, shared by every caller.

    async with open_client(settings, metrics=metrics.texter) as texter:
        await texter.assign_chat(AssignChat(chat_id=chat_id, department_id="sales"))

One aiohttp session (connect and total timeouts from settings), one rate limiter and one circuit
breaker per client, so the limits hold across all concurrent callers of the process. Tests
inject `sleep` (zero-wait retries that record what they would have waited) and `clock`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp
from aiolimiter import AsyncLimiter

from worker.errors import ConfigError
from worker.metrics import TexterMetrics
from worker.settings import Settings
from worker.texter.breaker import CircuitBreaker
from worker.texter.chats import ChatsAPI
from worker.texter.labels import LabelsAPI
from worker.texter.messages import MessagesAPI
from worker.texter.scenarios import QuickRepliesAPI, SubscriptionsAPI
from worker.texter.templates import TemplatesAPI
from worker.texter.transport import RetryConfig, Sleep, Transport, breaker_gauge


class TexterClient(
    ChatsAPI, LabelsAPI, TemplatesAPI, MessagesAPI, QuickRepliesAPI, SubscriptionsAPI
):
    """One async method per Texter endpoint with a documented path (see docs/texter-client.md).

    Build it with `open_client(...)`; `TexterClient(transport)` is for custom wiring.
    """

    @property
    def breaker(self) -> CircuitBreaker:
        return self._transport.breaker


@dataclass(frozen=True)
class ClientOptions:
    """Everything tunable about the client; `from_settings` maps the TEXTER_* variables."""

    rate_limit: float = 10.0  # requests per second
    rate_burst: int = 10  # requests that may go at once after an idle spell
    connect_timeout: float = 5.0
    timeout: float = 30.0
    retry: RetryConfig = field(default_factory=RetryConfig)
    breaker_threshold: int = 5
    breaker_cooldown: float = 30.0

    @classmethod
    def from_settings(cls, s: Settings) -> ClientOptions:
        return cls(
            rate_limit=s.texter_rate_limit,
            rate_burst=s.texter_rate_burst,
            connect_timeout=s.texter_connect_timeout,
            timeout=s.texter_timeout,
            retry=RetryConfig(
                attempts=s.texter_retry_attempts,
                deadline=s.texter_retry_deadline,
                retry_after_max=s.texter_retry_after_max,
            ),
            breaker_threshold=s.texter_breaker_threshold,
            breaker_cooldown=s.texter_breaker_cooldown,
        )


def _utcnow() -> datetime:
    return datetime.now(UTC)


def build_limiter(rate: float, burst: int) -> AsyncLimiter:
    """A leaky bucket of `burst` slots draining at `rate` per second."""
    return AsyncLimiter(max_rate=burst, time_period=burst / rate)


def credentials(settings: Settings) -> tuple[str, str]:
    """(base URL, token) from settings, or ConfigError naming what is missing."""
    base_url, token = settings.texter_base_url, settings.texter_api_token
    problems = []
    if base_url is None:
        problems.append("TEXTER_BASE_URL: not set (or set TEXTER_PROJECT)")
    if token is None:
        problems.append("TEXTER_API_TOKEN: not set")
    if base_url is None or token is None:
        raise ConfigError(problems)
    return base_url, token


@asynccontextmanager
async def open_client(
    base_url: str,
    token: str,
    options: ClientOptions | None = None,
    *,
    metrics: TexterMetrics | None = None,
    sleep: Sleep = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], datetime] = _utcnow,
) -> AsyncIterator[TexterClient]:
    """A client with its own session; the session closes when the block exits."""
    opts = options or ClientOptions()
    timeout = aiohttp.ClientTimeout(total=opts.timeout, sock_connect=opts.connect_timeout)
    breaker = CircuitBreaker(
        threshold=opts.breaker_threshold,
        cooldown=opts.breaker_cooldown,
        clock=clock,
        on_change=breaker_gauge(metrics),
    )
    if metrics is not None:
        metrics.rate_limit.set(opts.rate_limit)  # lets dashboards show utilisation
    async with aiohttp.ClientSession(timeout=timeout, raise_for_status=False) as session:
        transport = Transport(
            base_url=base_url,
            token=token,
            session=session,
            limiter=build_limiter(opts.rate_limit, opts.rate_burst),
            breaker=breaker,
            retry=opts.retry,
            metrics=metrics,
            sleep=sleep,
            now=now,
        )
        yield TexterClient(transport)


def open_client_from_settings(
    settings: Settings, *, metrics: TexterMetrics | None = None
) -> AbstractAsyncContextManager[TexterClient]:
    """`open_client` configured from the TEXTER_* settings (ConfigError if URL/token unset)."""
    base_url, token = credentials(settings)
    return open_client(base_url, token, ClientOptions.from_settings(settings), metrics=metrics)
