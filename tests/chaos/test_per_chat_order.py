"""Per-chat order through rules and writer on the real broker: 100 events of one busy chat reach
the fake in the order they arrived, while 100 other chats are served in parallel (not behind it).

Acceptance (issue 5): "Per-chat order: 100 events for one chat with steps that record order at
the fake arrive in order, while 100 other chats progress in parallel."
"""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.server import FakeTexter
from tests.chaos.conftest import Broker
from tests.chaos.support import (
    SHARDS,
    assert_exactly_once,
    chaos_topology,
    in_process,
    incoming_message,
    open_chats,
    publish_events,
    send_calls,
    send_key,
    until_delivered,
    until_quiet,
    worker_env,
)
from worker.bus import shard_of

pytestmark = pytest.mark.slow

BUSY_EVENTS = 100
OTHER_CHATS = 100


async def test_one_busy_chat_stays_in_order_while_other_chats_run_in_parallel(
    amqp_url: str,
    namespace: str,
    fake: FakeTexter,
    *,
    broker: Broker,
    ctl: None,
    tmp_path: Path,
) -> None:
    topology = await broker.declare(chaos_topology(namespace))
    [busy] = open_chats(fake, 1, prefix="Busy")
    others = open_chats(fake, OTHER_CHATS, prefix="Other")
    # The busy chat's events go first, so its shard has 100 Plans queued ahead of the others.
    busy_events = [incoming_message(busy, f"{n}", f"busy-{n}") for n in range(BUSY_EVENTS)]
    other_events = [incoming_message(c, f"o{n}", f"other-{n}") for n, c in enumerate(others)]
    events = busy_events + other_events
    fake.set_faults(latency=0.01)  # every step takes a while: order and parallelism show
    env = worker_env(amqp_url, namespace, fake, tmp_path)
    async with in_process(broker.bus, env, "rules", "writer"):
        await publish_events(broker.bus, topology, events)
        await until_delivered(fake, [e.step_key for e in events], 90)
        await until_quiet(namespace, topology, 30)
    assert await broker.bus.queue_depth(topology.dead_queue) == 0
    assert_exactly_once(fake, [e.step_key for e in events], [e.reply for e in events])

    # In order: in the chat itself, and in the order the requests reached the fake.
    wanted = [e.reply for e in busy_events]
    stored = [m["text"] for m in fake.state.messages[busy] if m["direction"] == "outgoing"]
    assert stored == wanted
    busy_keys = {e.step_key: e.reply for e in busy_events}
    busy_calls = [c for c in send_calls(fake) if send_key(c) in busy_keys and c.status == 200]
    assert [busy_keys[str(send_key(c))] for c in busy_calls] == wanted

    # In parallel: every chat on another shard was served before the busy chat was done, and
    # their sends interleave with the busy chat's.
    first_busy, last_busy = busy_calls[0].at, busy_calls[-1].at
    busy_shard = shard_of(busy, SHARDS)
    elsewhere = {e.step_key for e in other_events if shard_of(e.chat_id, SHARDS) != busy_shard}
    served = {str(send_key(c)): c.at for c in send_calls(fake) if send_key(c) in elsewhere}
    assert len(elsewhere) >= OTHER_CHATS // 2
    late = [k for k, at in served.items() if at >= last_busy]
    assert not late, f"{len(late)} other chats waited for the busy chat"
    during = sum(1 for at in served.values() if first_busy < at < last_busy)
    assert during >= len(elsewhere) // 2, "other chats did not progress alongside the busy one"
    halfway = busy_calls[BUSY_EVENTS // 2].at
    by_half = sum(1 for at in served.values() if at < halfway)
    print(
        f"\n[per-chat order] busy chat: {BUSY_EVENTS} sends in order over "
        f"{last_busy - first_busy:.2f}s; {len(elsewhere)} chats on other shards all served "
        f"before it finished ({during} while it ran, {by_half} before it was halfway); "
        f"{OTHER_CHATS - len(elsewhere)} chats on its shard queued behind it"
    )
