"""SharedMemory on Redis (STATE_URL), so several replicas agree on echoes, once-per-chat and
budgets. Also home of what both Redis backends share: the client settings and the translation
of redis errors into `StateUnavailable` (nothing above worker/state/ sees a redis exception).

Keys are `<prefix><caller's key>`; the prefix (e.g. `texter:mem:`) lets installs share a Redis.
Multi-step operations run as Lua scripts: Redis runs a script atomically, so two replicas
claiming one key at once cannot both win.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import RedisError

from worker.errors import StateUnavailable
from worker.metrics import StateMetrics

# A state call sits on the message path: fail within seconds (the message is redelivered later)
# rather than hang. redis-py's retry covers connection errors and timeouts only: two more tries,
# 50-500 ms apart with jitter, so a Redis failover blip does not dead-letter anything.
SOCKET_TIMEOUT: Final = 5.0
RETRIES: Final = 2


def redis_client(url: str, *, name: str | None = None) -> Redis:
    """A client for STATE_URL; connects lazily, so this does no I/O. Answers are str.
    `name` is what `CLIENT LIST` shows, so an operator sees which install holds connections."""
    return Redis.from_url(
        url,
        client_name=name,
        decode_responses=True,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=SOCKET_TIMEOUT,
        retry=Retry(ExponentialWithJitterBackoff(cap=0.5, base=0.05), retries=RETRIES),
        health_check_interval=30,  # PING an idle pooled connection before reusing it
    )


@contextmanager
def translated(operation: str, metrics: StateMetrics | None) -> Iterator[None]:
    """Turn a redis error raised inside into StateUnavailable, and count it."""
    try:
        yield
    except RedisError as exc:
        if metrics is not None:
            metrics.errors.labels("redis", operation).inc()
        raise StateUnavailable(backend="redis", operation=operation, reason=repr(exc)) from exc


def require_str_answers(client: Redis) -> None:
    """The backends compare answers with str values: a bytes client would never match."""
    if not client.connection_pool.connection_kwargs.get("decode_responses"):
        raise ValueError("the state backends need a client with decode_responses=True")


def ttl_ms(seconds: float) -> int:
    """Redis wants whole milliseconds, at least 1 (PX 0 is an error)."""
    return max(1, round(seconds * 1000))


# Return the value held, or store ARGV[1] with PX ARGV[2] and return it. Shared with the ledger.
CLAIM_SCRIPT = """
local held = redis.call('GET', KEYS[1])
if held then return held end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]
"""

# INCRBY creates a missing key without expiry (PTTL -1): only then start its window, so later
# increments never push the expiry back.
_INCR = """
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return total
"""


class RedisMemory:
    """SharedMemory on Redis. `close` closes the client only when `owns_client` (the factory
    shares one client between this and the ledger and closes it itself)."""

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str,
        metrics: StateMetrics | None = None,
        owns_client: bool = False,
    ) -> None:
        require_str_answers(client)
        self._redis = client
        self._prefix = prefix
        self._metrics = metrics
        self._owns_client = owns_client
        self._claim = client.register_script(CLAIM_SCRIPT)
        self._incr = client.register_script(_INCR)

    async def claim(self, key: str, value: str, ttl: float) -> str:
        with translated("claim", self._metrics):
            held = await self._claim(keys=[self._prefix + key], args=[value, ttl_ms(ttl)])
        return str(held)

    async def put(self, key: str, value: str, ttl: float) -> None:
        with translated("put", self._metrics):
            await self._redis.set(self._prefix + key, value, px=ttl_ms(ttl))

    async def get(self, key: str) -> str | None:
        with translated("get", self._metrics):
            held = await self._redis.get(self._prefix + key)
        return None if held is None else str(held)

    async def incr(self, key: str, amount: int, ttl: float) -> int:
        with translated("incr", self._metrics):
            total = await self._incr(keys=[self._prefix + key], args=[amount, ttl_ms(ttl)])
        return int(total)

    async def close(self) -> None:
        if self._owns_client:
            await self._redis.aclose()
