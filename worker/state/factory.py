"""Pick the state backends from the settings: Redis for both when STATE_URL is set (one client),
else the rules memory in the process and the send-once ledger in `STATE_DIR/ledger.sqlite3`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import structlog

from worker.metrics import StateMetrics
from worker.settings import Settings, mask_url
from worker.state.ledger import SendLedger
from worker.state.memory import LocalMemory, SharedMemory
from worker.state.redis_ledger import RedisLedger
from worker.state.redis_memory import RedisMemory, redis_client
from worker.state.sqlite_ledger import FILE_NAME, SQLiteLedger

log = structlog.get_logger(__name__)


@asynccontextmanager
async def open_state(
    settings: Settings, *, namespace: str, metrics: StateMetrics | None = None
) -> AsyncIterator[tuple[SharedMemory, SendLedger]]:
    """(rules memory, send-once ledger) for these settings, closed on exit.

    `namespace` (normally BUS_NAMESPACE) prefixes every Redis key, so installs can share a
    Redis. Nothing connects here: Redis is reached on first use, and fails then with
    StateUnavailable, like any later outage.
    """
    async with AsyncExitStack() as stack:
        if settings.state_url is None:
            memory, ledger = await _embedded(settings, metrics)
        else:
            memory, ledger = _redis(stack, settings.state_url, settings, namespace, metrics)
        stack.push_async_callback(memory.close)
        stack.push_async_callback(ledger.close)
        yield memory, ledger


async def _embedded(
    settings: Settings, metrics: StateMetrics | None
) -> tuple[SharedMemory, SendLedger]:
    path = settings.state_dir / FILE_NAME
    log.info(
        "state.embedded",
        ledger=str(path),
        detail="STATE_URL is not set: rules memory in this process, send-once ledger in a "
        "SQLite file. Run one replica only; set STATE_URL to run several.",
    )
    ledger = await SQLiteLedger.open(
        settings.state_dir, horizon=settings.ledger_horizon, metrics=metrics
    )
    return LocalMemory(), ledger


def _redis(
    stack: AsyncExitStack,
    url: str,
    settings: Settings,
    namespace: str,
    metrics: StateMetrics | None,
) -> tuple[SharedMemory, SendLedger]:
    log.info("state.redis", url=mask_url(url), namespace=namespace)
    client = redis_client(url, name=f"texter-worker:{namespace}")
    stack.push_async_callback(client.aclose)  # the backends borrow it; it closes last
    memory = RedisMemory(client, prefix=f"{namespace}:mem:", metrics=metrics)
    ledger = RedisLedger(
        client, prefix=f"{namespace}:ledger:", horizon=settings.ledger_horizon, metrics=metrics
    )
    return memory, ledger


@asynccontextmanager
async def open_memory(
    settings: Settings, *, namespace: str, metrics: StateMetrics | None = None
) -> AsyncIterator[SharedMemory]:
    """Only the rules memory (a rules-only process needs no ledger, and no SQLite file)."""
    if settings.state_url is None:
        memory: SharedMemory = LocalMemory()
        yield memory
        return
    log.info("state.redis", url=mask_url(settings.state_url), namespace=namespace)
    client = redis_client(settings.state_url, name=f"texter-worker:{namespace}")
    try:
        yield RedisMemory(client, prefix=f"{namespace}:mem:", metrics=metrics)
    finally:
        await client.aclose()
