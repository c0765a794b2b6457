"""SIGTERM to a writer process while sends are on the wire (each takes a second at the fake):
the process stops taking Plans, lets the sends in progress finish (each effect once, recorded in
the ledger), leaves the rest queued, and exits 0 within SHUTDOWN_TIMEOUT. The next start sends
the rest: zero missing, zero duplicated.

DESIGN §2 / issue 5: "on SIGTERM stop taking messages, let in-flight steps finish up to a
deadline, requeue the rest unacked, exit 0."
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from simulator.server import FakeTexter
from tests.chaos.conftest import Broker
from tests.chaos.support import (
    SHARDS,
    assert_exactly_once,
    chaos_topology,
    delivered,
    open_chats,
    publish_plans,
    send_calls,
    send_key,
    until,
    until_delivered,
    until_quiet,
    worker_env,
    worker_process,
)
from worker import plans as p
from worker.bus import shard_of
from worker.state.ledger import EntryState
from worker.state.sqlite_ledger import SQLiteLedger

pytestmark = pytest.mark.slow

PER_SHARD = 4  # Plans queued per writer shard
LATENCY = 1.0  # seconds each request spends at the fake
SHUTDOWN_TIMEOUT = 5.0


def _chats_per_shard(fake: FakeTexter) -> list[str]:
    """PER_SHARD chats on every shard, so each shard has a send in flight and more queued."""
    chats: dict[int, list[str]] = {n: [] for n in range(SHARDS)}
    candidates = iter(open_chats(fake, 20 * SHARDS * PER_SHARD))
    while any(len(c) < PER_SHARD for c in chats.values()):
        chat = next(candidates)
        shard = chats[shard_of(chat, SHARDS)]
        if len(shard) < PER_SHARD:
            shard.append(chat)
    return [c for shard in chats.values() for c in shard]


def _plan(n: int, chat: str) -> p.Plan:
    return p.Plan(
        id=f"term-{n}",
        chat_id=chat,
        source="chaos",
        rule="term",
        steps=[p.SendMessage(idempotency_key=f"term-{n}:0", type="text", text=f"term {n}")],
    )


async def test_sigterm_finishes_sends_in_flight_and_leaves_the_rest_queued(
    amqp_url: str,
    namespace: str,
    fake: FakeTexter,
    *,
    broker: Broker,
    ctl: None,
    tmp_path: Path,
) -> None:
    topology = await broker.declare(chaos_topology(namespace))
    plans = [_plan(n, chat) for n, chat in enumerate(_chats_per_shard(fake))]
    keys = [plan.steps[0].idempotency_key for plan in plans]
    texts = [f"term {n}" for n in range(len(plans))]
    await publish_plans(broker.bus, topology, plans)
    fake.set_faults(latency=LATENCY)
    env = worker_env(amqp_url, namespace, fake, tmp_path, SHUTDOWN_TIMEOUT=f"{SHUTDOWN_TIMEOUT}s")
    log = tmp_path / "writer.log"

    async with worker_process(env, "writer", log) as first:

        async def every_shard_mid_send() -> bool:
            return sum(1 for c in send_calls(fake) if c.status is None) == SHARDS

        await until(every_shard_mid_send, 30, "a send in flight on every shard")
        in_flight = {str(send_key(c)) for c in send_calls(fake) if c.status is None}
        signalled = time.monotonic()
        code, took = await first.terminate(SHUTDOWN_TIMEOUT + 10)
    assert code == 0, first.tail()
    assert took < SHUTDOWN_TIMEOUT, f"exit took {took:.1f}s (SHUTDOWN_TIMEOUT {SHUTDOWN_TIMEOUT}s)"

    # What was on the wire finished, and the ledger knows (a restart must not find it in doubt).
    assert set(delivered(fake)) >= in_flight, "a send in progress was abandoned"
    ledger = await SQLiteLedger.open(tmp_path / "state", horizon=3600)
    try:
        states = {k: await ledger.state(k) for k in in_flight}
    finally:
        await ledger.close()
    assert set(states.values()) == {EntryState.DONE}, states
    # Nothing new was started after SIGTERM: the rest is back in the queues, unacked.
    started_after = [str(send_key(c)) for c in send_calls(fake) if c.at > signalled]
    queued = sum([await broker.bus.queue_depth(q) for q in topology.writer_queues])
    assert not started_after, (
        f"{len(started_after)} sends started after SIGTERM ({queued} Plans left queued)"
    )
    assert queued == len(plans) - len(in_flight)

    fake.set_faults()  # no latency for the rest
    async with worker_process(env, "writer", log) as second:
        await until_delivered(fake, keys, 30)
        await until_quiet(namespace, topology, 30)
        code, _ = await second.terminate(SHUTDOWN_TIMEOUT + 10)
    assert code == 0
    assert await broker.bus.queue_depth(topology.dead_queue) == 0
    assert_exactly_once(fake, keys, texts)
    print(
        f"\n[SIGTERM writer] {len(plans)} Plans, {len(in_flight)} sends in flight at SIGTERM "
        f"(latency {LATENCY}s) all completed and recorded done; exit 0 after {took:.2f}s "
        f"(SHUTDOWN_TIMEOUT {SHUTDOWN_TIMEOUT}s); {queued} left queued, sent by the next "
        f"start; each send once"
    )
