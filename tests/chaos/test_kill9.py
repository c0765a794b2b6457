"""kill -9 the worker in the middle of 1,000 events with send steps, start it again, and play the
operator for the in-doubt sends: every event's send exists exactly once at the fake.

Acceptance (issue 5): "every event's effects exist exactly once at the fake (count per
idempotency key: zero missing, zero duplicated), with the SQLite ledger and with Redis."
"""

from __future__ import annotations

import signal
from collections.abc import Sequence
from pathlib import Path

import pytest

from simulator.server import FakeTexter
from tests.chaos.conftest import Broker
from tests.chaos.support import (
    assert_exactly_once,
    chaos_topology,
    cli,
    delivered,
    open_chats,
    publish_events,
    send_calls,
    stream,
    until,
    until_delivered,
    until_quiet,
    worker_env,
    worker_process,
)
from worker.bus.topology import Topology
from worker.deadletters import DeadLetter
from worker.dlq import DeadLetterBox

pytestmark = pytest.mark.slow

EVENTS = 1000
CHATS = 50
KILL_AFTER = 300  # sends the fake accepted before the SIGKILL


async def test_kill_9_mid_stream_then_restart_sends_each_message_exactly_once(
    amqp_url: str,
    namespace: str,
    fake: FakeTexter,
    *,
    broker: Broker,
    ctl: None,
    ledger_env: dict[str, str],
    tmp_path: Path,
) -> None:
    topology = await broker.declare(chaos_topology(namespace))
    events = stream(open_chats(fake, CHATS), EVENTS, "k9")
    keys, texts = [e.step_key for e in events], [e.reply for e in events]
    assert len(set(keys)) == EVENTS
    # Each send spends a few ms at the fake, so the kill finds sends on the wire.
    fake.set_faults(latency=0.005)
    env = worker_env(amqp_url, namespace, fake, tmp_path, **ledger_env)
    await publish_events(broker.bus, topology, events)
    log = tmp_path / "worker.log"

    async with worker_process(env, "all", log) as first:

        async def mid_send() -> bool:
            # Some hundreds sent, and a send on the wire right now (arrived, not answered):
            # the kill surely leaves at least one claimed, unconfirmed send behind.
            return len(delivered(fake)) >= KILL_AFTER and any(
                c.status is None for c in send_calls(fake)
            )

        await until(mid_send, 60, f"{KILL_AFTER} sends and one in flight")
        await first.kill()
    assert first.proc.returncode == -signal.SIGKILL
    sent_before_restart = len(delivered(fake))
    assert sent_before_restart < EVENTS, "the kill came too late to be mid-stream"

    async with worker_process(env, "all", log) as second:
        await _until_every_event_handled(broker, topology, fake, namespace, keys)
        in_doubt = await _in_doubt_only(broker, topology, fake, keys)
        sent, not_sent = await _operator_settles(env, fake, in_doubt)
        await until_delivered(fake, keys, 60)
        await until_quiet(namespace, topology, 60)
        code, _ = await second.terminate(15)
    assert code == 0, second.tail()

    assert_exactly_once(fake, keys, texts)
    assert await broker.bus.queue_depth(topology.dead_queue) == 0, "other dead letters left"
    assert in_doubt, "the kill landed mid-send, so at least one send must be in doubt"
    calls = sum(delivered(fake).values())
    print(
        f"\n[kill -9, {'redis' if ledger_env else 'sqlite'} ledger] {EVENTS} events, "
        f"{sent_before_restart} sent before the kill, {len(in_doubt)} in-doubt dead letters "
        f"(resolved: {sent} sent, {not_sent} not sent), {calls} sends accepted at the fake "
        f"for {len(set(keys))} step keys: 0 missing, 0 duplicated"
    )


async def _until_every_event_handled(
    broker: Broker, topology: Topology, fake: FakeTexter, namespace: str, keys: Sequence[str]
) -> None:
    """Each key sent or dead-lettered, then nothing queued or unacked anywhere: nothing more
    will happen on its own."""

    async def accounted() -> bool:
        dead = await broker.bus.queue_depth(topology.dead_queue)
        return len(delivered(fake).keys() & set(keys)) + dead >= len(keys)

    await until(accounted, 120, "every event sent or dead-lettered")
    await until_quiet(namespace, topology, 60)


async def _in_doubt_only(
    broker: Broker, topology: Topology, fake: FakeTexter, keys: Sequence[str]
) -> list[DeadLetter]:
    """The dead letters are in-doubt sends, and with the sends they cover every key."""
    box = DeadLetterBox(broker.bus, topology)
    listing = await box.list(limit=10_000)
    reasons = {e.reason for e in listing.entries}
    assert reasons <= {"in_doubt"}, f"unexpected dead letters: {listing.entries}"
    covered = set(delivered(fake)) | {e.step_key for e in listing.entries}
    missing = set(keys) - covered
    assert not missing, f"{len(missing)} events neither sent nor dead-lettered"
    return list(listing.entries)


async def _operator_settles(
    env: dict[str, str], fake: FakeTexter, in_doubt: list[DeadLetter]
) -> tuple[int, int]:
    """The in-doubt workflow of docs/dead-letters.md, with the real commands: for each in-doubt
    send, look at the chat (here: did the fake accept a send with that tmpSendId?), record the
    answer with `dlq resolve ID --sent|--not-sent`, then `dlq replay` them. Returns how many
    were resolved as sent and as not sent."""
    sent = not_sent = 0
    ids = sorted({e.id for e in in_doubt})
    by_id = {e.id: e for e in in_doubt}
    for dead_id in ids:
        arrived = by_id[dead_id].step_key in delivered(fake)
        answer = "--sent" if arrived else "--not-sent"
        code, out, err = await cli(env, "dlq", "resolve", dead_id, answer)
        assert code == 0, err
        assert f"ledger state now: {'done' if arrived else 'free'}" in out, out
        sent, not_sent = sent + arrived, not_sent + (not arrived)
    if ids:
        code, out, err = await cli(env, "dlq", "replay", *ids)
        assert code == 0, err
        assert f"{len(ids)} replayed, 0 failed" in out, out
    return sent, not_sent
