"""A 5xx storm at the fake Texter, then recovery: every request answers 503 for STORM seconds.
The circuit breaker opens (calls fail fast, one probe per cool-down), Plans wait on the delay
tiers, and when Texter recovers the breaker closes and every Plan finishes: each label written
once, each message sent once, nothing missing, nothing dead-lettered.

Issue 7 asks for a 30 s storm. The default here is 10 s (CHAOS_STORM_SECONDS=30 runs the issue's
length): what is scaled down with it is the breaker's cool-down (1 s instead of 30 s) and the
delay tiers (seconds instead of minutes), so the storm still outlasts many cool-downs and many
parks of every Plan, as a 30 s storm does against the production defaults.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from pathlib import Path

import pytest

from simulator.server import FakeTexter
from tests.chaos.conftest import Broker
from tests.chaos.support import (
    assert_exactly_once,
    chaos_topology,
    in_process,
    open_chats,
    publish_plans,
    until,
    until_delivered,
    until_quiet,
    worker_env,
)
from worker import plans as p

pytestmark = pytest.mark.slow

STORM = float(os.environ.get("CHAOS_STORM_SECONDS", "10"))
PLANS = 120
CHATS = 40
LABELS_PATH = "/labels"
# Enough tiers to outlast the storm (a 30 s one too): a Plan parked at its start comes back
# after 0.5, 1.5, 3.5, 6.5, 10.5, 15.5 ... seconds, and never runs out of attempts first.
DELAYS = (0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0)
OPEN, CLOSED = 2, 0  # texter_worker_texter_breaker_state


def _plan(n: int, chat: str) -> p.Plan:
    """An idempotent step, then a send: both kinds of call go through the storm."""
    return p.Plan(
        id=f"storm5xx-{n}",
        chat_id=chat,
        source="chaos",
        rule="storm5xx",
        steps=[
            p.Labels(idempotency_key=f"storm5xx-{n}:0", add=[f"s5-{n}"]),
            p.SendMessage(idempotency_key=f"storm5xx-{n}:1", type="text", text=f"s5 {n}"),
        ],
    )


def label_writes(fake: FakeTexter) -> Counter[str]:
    """Label writes the fake accepted (200), per label added."""
    seen: Counter[str] = Counter()
    for call in fake.calls:
        if call.method == "POST" and call.path.endswith(LABELS_PATH) and call.status == 200:
            body = call.body if isinstance(call.body, dict) else {}
            seen.update(str(label) for label in body.get("add") or [])
    return seen


async def test_5xx_storm_then_recovery_finishes_every_plan_once(
    amqp_url: str,
    namespace: str,
    fake: FakeTexter,
    *,
    broker: Broker,
    ctl: None,
    tmp_path: Path,
) -> None:
    topology = await broker.declare(chaos_topology(namespace, DELAYS))
    chats = open_chats(fake, CHATS)
    plans = [_plan(n, chats[n % CHATS]) for n in range(PLANS)]
    keys = [plan.steps[1].idempotency_key for plan in plans]
    texts = [f"s5 {n}" for n in range(PLANS)]
    labels = [f"s5-{n}" for n in range(PLANS)]
    fake.set_faults(latency=0.02)  # the stream is still going when the storm starts
    env = worker_env(
        amqp_url,
        namespace,
        fake,
        tmp_path,
        TEXTER_BREAKER_THRESHOLD="5",
        TEXTER_BREAKER_COOLDOWN="1s",
        TEXTER_RETRY_DEADLINE="3s",
        DELAY_SCHEDULE=",".join(f"{round(d * 1000)}ms" for d in DELAYS),
    )
    async with in_process(broker.bus, env, "writer") as (_, metrics):
        gauge = metrics.texter.breaker_state
        await publish_plans(broker.bus, topology, plans)

        async def some_sent() -> bool:
            return sum(1 for c in fake.calls if c.status == 200) >= 40

        await until(some_sent, 30, "the first calls before the storm")
        sent_before = len([c for c in fake.calls if c.status == 200])
        fake.set_faults(errors=10**9, error_status=503, latency=0.02)
        storm_start = time.monotonic()
        calls_at_start = len(fake.calls)

        async def breaker_open() -> bool:
            return bool(gauge._value.get() == OPEN)

        await until(breaker_open, STORM, "the breaker to open during the storm")
        opened_after = time.monotonic() - storm_start
        # The storm's length is the stimulus itself, not a wait for something to happen.
        await asyncio.sleep(max(0.0, STORM - (time.monotonic() - storm_start)))
        fake.set_faults(latency=0.02)
        storm_calls = fake.calls[calls_at_start : len(fake.calls)]
        storm_end = time.monotonic()

        await until_delivered(fake, keys, 60)
        await until_quiet(namespace, topology, 60)

        async def breaker_closed() -> bool:
            return bool(gauge._value.get() == CLOSED)

        await until(breaker_closed, 10, "the breaker to close after the storm")
        recovered_in = time.monotonic() - storm_end
        opened = metrics.texter.breaker_opened._value.get()
        done = metrics.writer.plans.labels("done")._value.get()
        parked = metrics.writer.plans.labels("retry_later")._value.get()
        short = sum(
            s.value
            for metric in metrics.texter.short_circuited.collect()
            for s in metric.samples
            if s.name.endswith("_total")
        )

    dead = await broker.bus.queue_depth(topology.dead_queue)
    assert dead == 0, f"{dead} Plans dead-lettered"
    assert done == PLANS
    assert opened >= 1
    assert_exactly_once(fake, keys, texts)
    writes = label_writes(fake)
    missing = [label for label in labels if writes[label] == 0]
    doubled = {label: n for label, n in writes.items() if n > 1}
    assert not missing, f"labels never written: {missing[:5]}"
    assert not doubled, f"labels written twice: {doubled}"
    in_chats = Counter(label for chat in fake.state.chats.values() for label in chat.labels)
    assert all(in_chats[label] == 1 for label in labels)
    answered_503 = [c for c in storm_calls if c.status == 503]
    rate = len(storm_calls) / STORM
    # Open, the breaker lets one probe per cool-down through: far fewer calls than the 4 shards
    # would make at full speed (hundreds a second against a fake answering in 20 ms).
    assert rate < 20, f"{len(storm_calls)} calls reached the fake during the storm"
    print(
        f"\n[5xx storm {STORM:.0f}s] {PLANS} Plans (labels + send), {sent_before} calls done "
        f"before the storm; breaker opened after {opened_after:.2f}s, opened {opened:.0f} times, "
        f"{len(storm_calls)} calls reached the fake during the storm ({rate:.1f}/s, "
        f"{len(answered_503)} answered 503), {short:.0f} calls failed fast on the open "
        f"breaker; closed again {recovered_in:.2f}s after recovery; {parked:.0f} parks on the "
        f"delay tiers, {done:.0f} Plans done; "
        f"{PLANS} sends for {PLANS} keys and {PLANS} labels: 0 missing, 0 duplicated, "
        f"0 dead letters"
    )
