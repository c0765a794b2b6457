"""Scale-out: events/s processed by one worker process vs two on the same broker.

    .venv/bin/python bench/scale_out.py [--events 6000] [--shards 8] [--quick]

`--events` `newIncomingMessage` events (500 chats, so every shard has work) are published to
`<ns>.events` as the ingress would, before any worker runs; the rule plans one send each; the
fake Texter (in this process, no rate limit: TEXTER_RATE_LIMIT=100000 per worker) records
arrivals. Throughput = events / (last send's arrival - first send's arrival), so start-up time
is not counted. Configurations, each on a fresh namespace, Redis as the shared state:

- one:   one `run --role all`
- two:   two `run --role all` started together (each shard queue has one active consumer:
         whichever process attached first; the split is reported from their logs)
- split: one `run --role rules` + one `run --role writer`

Prints events/s for each and the ratios to `one`. Not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path

from bench.end_to_end import open_chats
from bench.support import (
    REDIS_URL,
    TOKEN,
    broker,
    delete_redis_keys,
    event_message,
    incoming_body,
    namespace,
    out,
    publish_all,
    send_texts,
    topology_for,
    worker,
    worker_env,
)
from simulator.server import FakeTexter

CHATS = 500
CONFIGS = {"one": ("all",), "two": ("all", "all"), "split": ("rules", "writer")}


async def measure(config: str, roles: tuple[str, ...], events: int, shards: int) -> float:
    ns = namespace(f"scale-{config}")
    topology = topology_for(ns, shards)
    tag = ns.rsplit("-", 1)[-1]
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        work = Path(tmp)
        try:
            async with FakeTexter(token=TOKEN) as fake, broker(topology) as bus:
                chats = open_chats(fake, CHATS)
                bodies = [
                    incoming_body(chats[n % CHATS], f"{tag}-{n}", f"{tag}-msg-{n}")
                    for n in range(events)
                ]
                await publish_all(bus, topology.events_exchange, [
                    event_message(body, shards) for body in bodies
                ])  # fmt: skip
                env = worker_env(
                    ns, work, BUS_SHARDS=str(shards), TEXTER_BASE_URL=fake.url,
                    TEXTER_RATE_LIMIT="100000", STATE_URL=REDIS_URL,
                )  # fmt: skip
                async with AsyncExitStack() as stack:
                    procs = [
                        await stack.enter_async_context(worker(env, role, work / f"worker-{i}.log"))
                        for i, role in enumerate(roles)
                    ]
                    deadline = time.monotonic() + 600
                    while time.monotonic() < deadline:
                        sent = send_texts(fake.calls)
                        if len(sent) >= events:
                            break
                        await asyncio.sleep(0.2)
                    split = [len(p.events("writer.plan_done")) for p in procs]
                    rules_split = [len(p.events("rules.event")) for p in procs]
        finally:
            await delete_redis_keys(ns)
    arrivals = sorted(at for _, at in sent)
    rate = len(arrivals) / (arrivals[-1] - arrivals[0])
    detail = f"plans done per process {split}" if config != "split" else ""
    if config == "two" and any(rules_split):
        detail += f", events per process {rules_split}"
    out(f"{config:5} ({' + '.join(roles)}): {rate:,.0f} events/s ({len(arrivals)} sends) {detail}")
    return rate


async def run(events: int, shards: int) -> None:
    rates = {name: await measure(name, roles, events, shards) for name, roles in CONFIGS.items()}
    out(
        f"scale-out ratio two/one: {rates['two'] / rates['one']:.2f}; "
        f"split/one: {rates['split'] / rates['one']:.2f} ({events} events, {shards} shards, "
        f"{CHATS} chats)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=6000)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="CI smoke: 500 events")
    args = parser.parse_args()
    asyncio.run(run(500 if args.quick else args.events, args.shards))


if __name__ == "__main__":
    main()
