"""Burst absorption and memory: 50,000 webhooks queued faster than the writer can drain them.

    .venv/bin/python bench/burst.py [--webhooks 50000] [--slow-rate 20] [--quick]

Phase 1 (absorb): `texter-worker run --role all` with TEXTER_RATE_LIMIT=--slow-rate; this
process posts `--webhooks` distinct `newIncomingMessage` webhooks (200 chats) to its ingress,
32 at a time, as fast as it answers; the rule plans a send for each, which the writer can only
make at the slow rate, so nearly all of them wait as Plans on RabbitMQ. Phase 1 ends when every
webhook was accepted (202) and the rules queues are empty (every event became a Plan).
Phase 2 (drain): that worker is stopped (SIGTERM) and a new one starts on the same queues and
ledger with TEXTER_RATE_LIMIT=100000, to keep the run short; it ends when the fake Texter has
received one send per webhook and every queue of the namespace is empty.

The worker's VmRSS (/proc/<pid>/status) is sampled every 0.2 s in both phases. Prints the peak
RSS per phase (goal < 200 MB), post rate, drain time and sends missing / duplicated. Not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from bench.end_to_end import open_chats
from bench.support import (
    SECRET,
    TOKEN,
    Worker,
    broker,
    incoming_body,
    namespace,
    out,
    queued,
    rss_mib,
    send_texts,
    topology_for,
    worker,
    worker_env,
)
from simulator.server import FakeTexter

CHATS = 200
CONCURRENCY = 32


class RssSampler:
    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self.last = pid, 0.0, 0.0
        self._task = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        while (rss := rss_mib(self.pid)) is not None:
            self.peak, self.last = max(self.peak, rss), rss
            await asyncio.sleep(0.2)

    def stop(self) -> None:
        self._task.cancel()


async def post_all(url: str, chats: list[str], count: int, tag: str) -> float:
    """Post `count` distinct webhooks, CONCURRENCY at a time; the seconds it took."""
    headers = {"Authorization": f"Bearer {SECRET}"}
    next_n = 0
    started = time.monotonic()
    async with aiohttp.ClientSession(headers=headers) as session:

        async def poster() -> None:
            nonlocal next_n
            while next_n < count:
                n, next_n = next_n, next_n + 1
                body = incoming_body(chats[n % len(chats)], f"{tag}-{n}", f"{tag}-msg-{n}")
                while True:
                    async with session.post(url, data=body) as resp:
                        await resp.read()
                        if resp.status == 202:
                            break
                    await asyncio.sleep(0.1)  # 503: try again, as Texter would

        await asyncio.gather(*(poster() for _ in range(CONCURRENCY)))
    return time.monotonic() - started


async def until(condition: Callable[[], Awaitable[bool]], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await condition():
            return True
        await asyncio.sleep(0.5)
    return False


async def run(count: int, slow_rate: float) -> None:
    ns = namespace("burst")
    topology = topology_for(ns, 4)
    tag = ns.rsplit("-", 1)[-1]
    with tempfile.TemporaryDirectory(prefix="bench-burst-") as tmp:
        work = Path(tmp)
        async with FakeTexter(token=TOKEN) as fake, broker(topology) as bus:
            chats = open_chats(fake, CHATS)
            env = worker_env(ns, work, TEXTER_BASE_URL=fake.url)

            async def rules_empty() -> bool:
                return await queued(bus, topology.rules_queues) == 0

            async with worker(
                {**env, "TEXTER_RATE_LIMIT": f"{slow_rate:g}"}, "all", work / "absorb.log"
            ) as absorbing:
                rss1 = RssSampler(absorbing.pid)
                url = await absorbing.url() + "/webhooks/texter"
                post_seconds = await post_all(url, chats, count, tag)
                await until(rules_empty, 600)
                backlog = await queued(bus, topology.writer_queues)
                rss1.stop()
                sent_slowly = len(send_texts(fake.calls))
            out(
                f"absorb: {count} webhooks accepted in {post_seconds:.1f}s "
                f"({count / post_seconds:,.0f}/s), writer at {slow_rate:g}/s sent {sent_slowly}, "
                f"{backlog} Plans queued; worker peak RSS {rss1.peak:.0f} MiB (goal < 200 MB)"
            )

            queues = [q.name for q in topology.queues if q.name != topology.dead_queue]

            async def drained() -> bool:
                return len(send_texts(fake.calls)) >= count and await queued(bus, queues) == 0

            drain: Worker
            async with worker(
                {**env, "TEXTER_RATE_LIMIT": "100000"}, "all", work / "drain.log"
            ) as drain:
                rss2 = RssSampler(drain.pid)
                started = time.monotonic()
                await drain.url()
                done = await until(drained, 900)
                drain_seconds = time.monotonic() - started
                rss2.stop()
            dead = await queued(bus, [topology.dead_queue])
    texts = Counter(text for text, _ in send_texts(fake.calls))
    wanted = {f"re {tag}-{n}" for n in range(count)}
    missing = len(wanted - set(texts))
    duplicated = sum(1 for text, n in texts.items() if text in wanted and n > 1)
    out(
        f"drain (TEXTER_RATE_LIMIT=100000): {'done' if done else 'NOT done'} in "
        f"{drain_seconds:.1f}s; worker peak RSS {rss2.peak:.0f} MiB"
    )
    out(
        f"peak RSS {max(rss1.peak, rss2.peak):.0f} MiB; sends missing {missing}, "
        f"duplicated {duplicated}, dead letters {dead}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--webhooks", type=int, default=50_000)
    parser.add_argument("--slow-rate", type=float, default=20.0, help="phase 1 rate limit")
    parser.add_argument("--quick", action="store_true", help="CI smoke: 1,000 webhooks")
    args = parser.parse_args()
    asyncio.run(run(1000 if args.quick else args.webhooks, args.slow_rate))


if __name__ == "__main__":
    main()
