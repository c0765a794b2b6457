"""RedisMemory beyond the contract: key prefixes, errors at the boundary, client ownership."""

from __future__ import annotations

import asyncio
import socket

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from tests.state.cases import LONG
from worker.errors import StateUnavailable
from worker.metrics import StateMetrics
from worker.state.redis_memory import RedisMemory, redis_client, ttl_ms


async def test_keys_live_under_the_prefix_and_prefixes_do_not_meet(
    redis: Redis, redis_prefix: str
) -> None:
    ours = RedisMemory(redis, prefix=redis_prefix + "a:")
    theirs = RedisMemory(redis, prefix=redis_prefix + "b:")
    await ours.put("echo:c1:send", "1", LONG)
    assert await theirs.get("echo:c1:send") is None
    assert await theirs.claim("echo:c1:send", "2", LONG) == "2"
    assert await redis.get(redis_prefix + "a:echo:c1:send") == "1"


async def test_incr_sets_the_expiry_only_when_it_creates_the_counter(
    redis: Redis, redis_prefix: str
) -> None:
    memory = RedisMemory(redis, prefix=redis_prefix)
    await memory.incr("n", 1, 10)
    await memory.incr("n", 1, 1000)
    assert 0 < await redis.pttl(redis_prefix + "n") <= 10_000


def test_ttl_ms_rounds_to_whole_milliseconds_of_at_least_one() -> None:
    assert ttl_ms(0.05) == 50
    assert ttl_ms(0.0001) == 1
    assert ttl_ms(72 * 3600) == 259_200_000


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # nothing listens on it once the socket is closed


async def test_an_unreachable_redis_raises_state_unavailable_and_counts_it() -> None:
    metrics = StateMetrics.create(CollectorRegistry())
    memory = RedisMemory(
        redis_client(f"redis://127.0.0.1:{_closed_port()}/0"),
        prefix="x:",
        metrics=metrics,
        owns_client=True,
    )
    with pytest.raises(StateUnavailable) as caught:
        await memory.get("k")
    assert (caught.value.backend, caught.value.operation) == ("redis", "get")
    assert metrics.errors.labels("redis", "get")._value.get() == 1
    await memory.close()


async def test_close_leaves_a_borrowed_client_open_and_closes_an_owned_one(
    redis: Redis, redis_url: str
) -> None:
    client = redis_client(redis_url)
    await RedisMemory(client, prefix="x:").close()
    client_id = await client.client_id()  # still usable: it was borrowed
    await RedisMemory(client, prefix="x:", owns_client=True).close()

    async def disconnected() -> bool:
        return all(int(c["id"]) != client_id for c in await redis.client_list())

    async with asyncio.timeout(2):  # the server notices the closed socket on its own time
        while not await disconnected():  # noqa: ASYNC110 - state held by the Redis server
            await asyncio.sleep(0.01)


def test_a_client_answering_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="decode_responses"):
        RedisMemory(Redis(), prefix="x:")  # no I/O: the client connects lazily
