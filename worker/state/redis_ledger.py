"""The send-once ledger on Redis (STATE_URL), shared by every replica.

One string per key, `<prefix><idempotency key>`, expiring LEDGER_HORIZON after the claim (PX):
`claimed:<token>` while a send is under way, then `done` (the TTL kept). The token is fresh per
claim call: when redis-py retries a claim whose first reply was lost, it sends the same token
and finds it, so its own claim does not come back as in doubt; any other attempt, even in this
process, sees someone else's claim.

How durable `done` is depends on the Redis server's persistence (docs/state.md).
"""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

from worker.metrics import StateMetrics
from worker.state.ledger import ClaimResult, EntryState, claim_result, count_claim
from worker.state.redis_memory import CLAIM_SCRIPT, require_str_answers, translated, ttl_ms

_CLAIMED = "claimed"
_DONE = "done"

# Mark done keeping the claim's expiry; a claim that vanished (expired) is recorded anew.
_DONE_SCRIPT = """
if redis.call('SET', KEYS[1], 'done', 'XX', 'KEEPTTL') then return 1 end
redis.call('SET', KEYS[1], 'done', 'PX', ARGV[1])
return 0
"""

# Delete only a claim: a key marked done in the meantime must stay done.
_RELEASE_SCRIPT = """
local held = redis.call('GET', KEYS[1])
if held and string.sub(held, 1, 7) == 'claimed' then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""

SCAN_BATCH = 1000


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _entry(held: str | None) -> EntryState | None:
    if held is None:
        return None
    return EntryState.DONE if held == _DONE else EntryState.CLAIMED


class RedisLedger:
    """SendLedger on Redis. Expiry is Redis's own: `purge_expired` has nothing to do.

    `close` closes the client only when `owns_client` (see RedisMemory).
    """

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str,
        horizon: float,
        metrics: StateMetrics | None = None,
        owns_client: bool = False,
    ) -> None:
        require_str_answers(client)
        self._redis = client
        self._prefix = prefix
        self._horizon_ms = ttl_ms(horizon)
        self._metrics = metrics
        self._owns_client = owns_client
        self._claim = client.register_script(CLAIM_SCRIPT)
        self._done = client.register_script(_DONE_SCRIPT)
        self._release = client.register_script(_RELEASE_SCRIPT)

    async def claim(self, key: str) -> ClaimResult:
        mine = f"{_CLAIMED}:{uuid.uuid4().hex}"
        with translated("claim", self._metrics):
            held = await self._claim(keys=[self._prefix + key], args=[mine, self._horizon_ms])
        # The script answers our token when the key was free, else what holds it.
        result = ClaimResult.CLAIMED if held == mine else claim_result(_entry(str(held)))
        return count_claim(self._metrics, result)

    async def done(self, key: str) -> None:
        with translated("done", self._metrics):
            await self._done(keys=[self._prefix + key], args=[self._horizon_ms])

    async def release(self, key: str) -> bool:
        with translated("release", self._metrics):
            released = await self._release(keys=[self._prefix + key])
        return bool(released)

    async def state(self, key: str) -> EntryState | None:
        with translated("state", self._metrics):
            held = await self._redis.get(self._prefix + key)
        return _entry(None if held is None else str(held))

    async def size(self) -> int:
        """Counts this prefix's keys with SCAN: O(keys in the database), fine once a minute."""
        pattern = _glob_escape(self._prefix) + "*"
        count = 0
        with translated("size", self._metrics):
            async for _ in self._redis.scan_iter(match=pattern, count=SCAN_BATCH):
                count += 1
        return count

    async def purge_expired(self) -> int:
        return 0  # Redis drops expired keys itself

    async def close(self) -> None:
        if self._owns_client:
            await self._redis.aclose()
