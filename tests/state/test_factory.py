"""open_state: the backends chosen from the settings, the log line, and closing on exit."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from redis.asyncio import Redis
from structlog.testing import capture_logs

from worker.errors import StateUnavailable
from worker.settings import Settings
from worker.state.factory import open_state
from worker.state.ledger import ClaimResult
from worker.state.memory import LocalMemory
from worker.state.redis_ledger import RedisLedger
from worker.state.redis_memory import RedisMemory
from worker.state.sqlite_ledger import FILE_NAME, SQLiteLedger


async def test_without_state_url_memory_is_local_and_the_ledger_a_sqlite_file(
    tmp_path: Path,
) -> None:
    settings = replace(Settings(), state_dir=tmp_path / "state")
    with capture_logs() as logs:
        async with open_state(settings, namespace="texter") as (memory, ledger):
            assert isinstance(memory, LocalMemory)
            assert isinstance(ledger, SQLiteLedger)
            assert await ledger.claim("k") is ClaimResult.CLAIMED
    assert (tmp_path / "state" / FILE_NAME).exists()
    assert [line["event"] for line in logs] == ["state.embedded"]
    with pytest.raises(StateUnavailable):  # closed on exit
        await ledger.claim("k")


async def test_with_state_url_both_use_one_redis_under_the_namespace(
    redis: Redis, redis_url: str, redis_prefix: str
) -> None:
    namespace = redis_prefix.rstrip(":")  # keys land under the fixture's prefix: cleaned up
    settings = replace(Settings(), state_url=redis_url)
    async with open_state(settings, namespace=namespace) as (memory, ledger):
        assert isinstance(memory, RedisMemory)
        assert isinstance(ledger, RedisLedger)
        await memory.put("echo:c1:send", "1", 60)
        await ledger.claim("p1:0")
        assert await _connections(redis, f"texter-worker:{namespace}") > 0
    assert await redis.get(f"{namespace}:mem:echo:c1:send") == "1"
    assert str(await redis.get(f"{namespace}:ledger:p1:0")).startswith("claimed:")

    async with asyncio.timeout(2):  # the shared client was closed on exit
        while await _connections(redis, f"texter-worker:{namespace}") > 0:  # noqa: ASYNC110
            await asyncio.sleep(0.01)  # the Redis server notices closed sockets on its own time


async def _connections(redis: Redis, name: str) -> int:
    return sum(1 for client in await redis.client_list() if client["name"] == name)


async def test_the_redis_password_is_never_logged() -> None:
    settings = replace(Settings(), state_url="redis://:s3cret-pass@redis.internal:6379/2")
    with capture_logs() as logs:
        async with open_state(settings, namespace="texter"):
            pass  # nothing connects until first use
    assert logs == [
        {
            "event": "state.redis",
            "log_level": "info",
            "url": "redis://:***@redis.internal:6379/2",
            "namespace": "texter",
        }
    ]
    assert "s3cret-pass" not in repr(logs)
