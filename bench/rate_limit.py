"""Rate-limit accuracy: a backlog of send steps drained by the writer under TEXTER_RATE_LIMIT=R.

    .venv/bin/python bench/rate_limit.py [--rate 50] [--steps 2000] [--quick]

`--steps` Plans (one send_message each, 50 chats, open window) are published to the writer's
queues first; then `texter-worker run --role writer` starts with TEXTER_RATE_LIMIT=R (burst: the
default, R rounded up) against the fake Texter in this process, which records each request's
arrival (monotonic). Prints:

- the achieved rate as a fraction of R: (N - burst) / (last arrival - first arrival), because the
  limiter (a leaky bucket of `burst` slots draining at R/s) lets the first `burst` requests go
  at once and then one every 1/R s (goal >= 0.97);
- requests over the limit: a request is over when more than R + burst requests arrived in the
  1-second sliding window ending at it (the most a bucket of `burst` slots draining at R/s can
  let through in one second); goal 0. Also the busiest 1-s window after the first second
  (steady state; R or R + 1 expected, the window being closed at both ends) and 429s seen.
Not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import tempfile
import time
from pathlib import Path

from bench.end_to_end import open_chats
from bench.support import (
    TOKEN,
    broker,
    namespace,
    out,
    publish_all,
    topology_for,
    worker,
    worker_env,
)
from simulator.server import FakeTexter
from worker.bus import Message, shard_of
from worker.bus.topology import routing_key
from worker.plans import Plan, SendMessage, encode_plan

SHARDS = 4


def plan_message(n: int, chat: str, tag: str) -> Message:
    plan = Plan(
        id=f"{tag}-{n}",
        chat_id=chat,
        source="bench",
        rule="rate",
        steps=[SendMessage(idempotency_key=f"{tag}-{n}:0", type="text", text=f"{tag} {n}")],
    )
    return Message(
        body=encode_plan(plan),
        routing_key=routing_key(shard_of(chat, SHARDS)),
        message_id=plan.id,
        type="plan",
        headers={"x-chat-id": chat},
        timestamp=time.time(),
    )


def over_limit(times: list[float], limit: int, window: float = 1.0) -> tuple[int, int]:
    """(requests with more than `limit` in the window ending at them, busiest window count)."""
    over = busiest = 0
    start = 0
    for end, at in enumerate(times):
        while times[start] < at - window:
            start += 1
        count = end - start + 1
        busiest = max(busiest, count)
        over += count > limit
    return over, busiest


async def run(rate: float, steps: int) -> None:
    ns = namespace("rate")
    topology = topology_for(ns, SHARDS)
    burst = math.ceil(rate)
    with tempfile.TemporaryDirectory(prefix="bench-rate-") as tmp:
        async with FakeTexter(token=TOKEN) as fake, broker(topology) as bus:
            chats = open_chats(fake, 50)
            tag = ns.rsplit("-", 1)[-1]
            messages = [plan_message(n, chats[n % len(chats)], tag) for n in range(steps)]
            await publish_all(bus, topology.commands_exchange, messages)
            env = worker_env(
                ns, Path(tmp), BUS_SHARDS=str(SHARDS), TEXTER_BASE_URL=fake.url,
                TEXTER_RATE_LIMIT=f"{rate:g}",
            )  # fmt: skip
            async with worker(env, "writer", Path(tmp) / "worker.log"):
                deadline = time.monotonic() + steps / rate * 2 + 30
                while len(fake.calls) < steps and time.monotonic() < deadline:  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
            calls = list(fake.calls)
    times = sorted(c.at for c in calls)
    limited = sum(c.status == 429 for c in calls)
    if len(times) < 2:
        raise RuntimeError(f"only {len(times)} requests arrived")
    span = times[-1] - times[0]
    achieved = (len(times) - burst) / span
    over, busiest = over_limit(times, int(rate) + burst)
    steady = [t for t in times if t >= times[0] + 1.0]
    _, busiest_steady = over_limit(steady, int(rate) + burst)
    out(f"{len(times)} of {steps} sends arrived in {span:.2f}s, R = {rate:g}/s, burst {burst}")
    out(
        f"achieved rate: {achieved:.2f}/s = {achieved / rate:.3f} of R "
        f"(plain N/span: {len(times) / span:.2f}/s; goal >= 0.97)"
    )
    out(
        f"requests over the limit (1-s sliding window, > R + burst = {int(rate) + burst}): {over} "
        f"(goal 0); busiest window {busiest}, busiest after the first second {busiest_steady}; "
        f"429s {limited}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0, help="TEXTER_RATE_LIMIT")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="CI smoke: 300 steps at 100/s")
    args = parser.parse_args()
    if args.quick:
        asyncio.run(run(100.0, 300))
    else:
        asyncio.run(run(args.rate, args.steps))


if __name__ == "__main__":
    main()
