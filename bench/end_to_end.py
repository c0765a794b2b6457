"""End-to-end latency: webhook posted → the matching Texter call received at the fake.

    .venv/bin/python bench/end_to_end.py [--rate 200] [--seconds 10] [--quick]

The fake Texter runs in this process; the worker (`texter-worker run --role all`, RabbitMQ,
SQLite ledger, TEXTER_RATE_LIMIT=100000 so the limiter never waits) runs as a subprocess. This
process posts `newIncomingMessage` webhooks (50 chats, open 24-hour window) to the worker's
ingress on a fixed schedule (open loop, `--rate` per second); the rule answers each with a
send_message whose text names the webhook. Latency = the fake's arrival time of that send minus
the time just before the POST, both `time.monotonic()` in this process. 20 webhooks first warm
the path up and are not counted. Prints p50, p99 and max (goal: p99 < 50 ms). Not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path

import aiohttp

from bench.support import (
    SECRET,
    TOKEN,
    broker_cpu_seconds,
    broker_pid,
    cpu_seconds,
    delete_namespace,
    incoming_body,
    namespace,
    out,
    percentile,
    send_texts,
    topology_for,
    worker,
    worker_env,
)
from simulator.server import FakeTexter

CHATS = 50
WARMUP = 20


def open_chats(fake: FakeTexter, count: int) -> list[str]:
    ids = []
    for n in range(count):
        chat = fake.state.add_chat(f"9725{n:08d}", f"Bench {n}")
        fake.state.add_message(chat, "incoming", {"type": "text", "text": "hi"})
        ids.append(chat.id)
    return ids


async def post_schedule(
    session: aiohttp.ClientSession, url: str, chats: list[str], tag: str, *, count: int, rate: float
) -> dict[str, float]:
    """Post `count` webhooks at `rate`/s; the monotonic time of each POST, by reply text."""
    posted: dict[str, float] = {}
    failures: list[int] = []

    async def post(n: int) -> None:
        text = f"{tag}-{n}"
        body = incoming_body(chats[n % len(chats)], text, f"{tag}-msg-{n}")
        posted[f"re {text}"] = time.monotonic()
        async with session.post(url, data=body) as resp:
            await resp.read()
            if resp.status != 202:
                failures.append(resp.status)

    start = time.monotonic()
    tasks = []
    for n in range(count):
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(post(n)))
    await asyncio.gather(*tasks)
    if failures:
        raise RuntimeError(f"{len(failures)} webhooks not accepted: {failures[:5]}")
    return posted


async def arrivals(fake: FakeTexter, wanted: dict[str, float], timeout: float) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while True:
        seen = {text: at for text, at in send_texts(fake.calls) if text in wanted}
        if len(seen) == len(wanted) or time.monotonic() > deadline:
            return seen
        await asyncio.sleep(0.05)


async def run(rate: float, seconds: float, *, split: bool, extra: dict[str, str]) -> None:
    ns = namespace("e2e")
    topology = topology_for(ns, int(extra.get("BUS_SHARDS", "4")))
    count = round(rate * seconds)
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        async with FakeTexter(token=TOKEN) as fake:
            chats = open_chats(fake, CHATS)
            env = worker_env(
                ns, Path(tmp), TEXTER_BASE_URL=fake.url, TEXTER_RATE_LIMIT="100000", **extra
            )
            try:
                async with AsyncExitStack() as stack:
                    procs = [
                        await stack.enter_async_context(
                            worker(env, role, Path(tmp) / f"{role}.log")
                        )
                        for role in (("ingress", "rules", "writer") if split else ("all",))
                    ]
                    http = await stack.enter_async_context(
                        aiohttp.ClientSession(headers={"Authorization": f"Bearer {SECRET}"})
                    )
                    urls = [await proc.url() for proc in procs]  # each consuming once listening
                    url = urls[0] + "/webhooks/texter"  # the first runs the ingress
                    warm = await post_schedule(http, url, chats, "warm", count=WARMUP, rate=rate)
                    await arrivals(fake, warm, 30)
                    cpu0, t0 = [cpu_seconds(p.pid) for p in procs], time.monotonic()
                    own0, beam = time.process_time(), broker_pid()
                    beam0 = broker_cpu_seconds(beam)
                    posted = await post_schedule(http, url, chats, "e2e", count=count, rate=rate)
                    seen = await arrivals(fake, posted, 60)
                    wall = time.monotonic() - t0
                    own = (time.process_time() - own0) / wall
                    beam1 = broker_cpu_seconds(beam)
                    broker = (beam1 - beam0) / wall if beam0 is not None and beam1 else None
                    cpu = [
                        (cpu_seconds(p.pid) - c) / wall for p, c in zip(procs, cpu0, strict=True)
                    ]
            finally:
                await delete_namespace(topology)
    ms = [(seen[text] - at) * 1000 for text, at in posted.items() if text in seen]
    out(f"{count} webhooks at {rate:g}/s over {seconds:g}s, {CHATS} chats, {len(ms)} sends seen")
    roles = "ingress, rules, writer processes" if split else "one process, --role all"
    shares = " + ".join(f"{c:.0%}" for c in cpu)
    out(f"worker ({roles}) CPU while posting and draining: {shares} of one core")
    out(f"this process (load generator and fake Texter) CPU: {own:.0%} of one core")
    out(f"RabbitMQ CPU: {'unknown' if broker is None else format(broker, '.0%')} of one core")
    if len(ms) < count:
        out(f"MISSING: {count - len(ms)} sends never arrived")
    out(
        f"end-to-end latency: p50 {percentile(ms, 50):.1f} ms, p99 {percentile(ms, 99):.1f} ms, "
        f"max {max(ms):.1f} ms (goal p99 < 50 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="webhooks per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--split-roles", action="store_true", help="ingress, rules and writer in three processes"
    )
    parser.add_argument("--quick", action="store_true", help="CI smoke: 2 seconds")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="VAR=VALUE",
        help="a setting for the worker process(es), e.g. EVENT_LOOP=asyncio (repeatable)",
    )
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.env)
    seconds = 2.0 if args.quick else args.seconds
    asyncio.run(run(args.rate, seconds, split=args.split_roles, extra=extra))


if __name__ == "__main__":
    main()
