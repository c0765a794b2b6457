"""Latency spikes beyond the client's timeout (TEXTER_TIMEOUT 1 s; the fake holds some requests
for 2 s, then handles them anyway, as a slow Texter would).

* Idempotent steps (labels): the timed-out calls are retried in process and the step is done
  once; repeating them is harmless (each label ends up in its chat once).
* Send steps: a timed-out send may have been delivered, so it is never retried: it becomes an
  `in_doubt` dead letter. Every `tmpSendId` reaches the fake at most once: no double send.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from simulator.server import FakeTexter
from tests.chaos.conftest import Broker
from tests.chaos.support import (
    chaos_topology,
    delivered,
    in_process,
    open_chats,
    publish_plans,
    send_calls,
    send_key,
    stored_replies,
    tally,
    until,
    until_quiet,
    worker_env,
)
from worker import plans as p
from worker.deadletters import reason_of

pytestmark = pytest.mark.slow

PLANS = 40
CHATS = 20
SPIKES = 3  # requests held past the timeout; below the breaker's threshold (5)
HANG = 2.0  # seconds the fake holds them; TEXTER_TIMEOUT is 1 s


def _env(amqp_url: str, namespace: str, fake: FakeTexter, tmp_path: Path) -> dict[str, str]:
    return worker_env(
        amqp_url,
        namespace,
        fake,
        tmp_path,
        TEXTER_TIMEOUT="1s",
        TEXTER_RETRY_DEADLINE="10s",
        TEXTER_BREAKER_COOLDOWN="1s",
    )


async def test_latency_spikes_on_idempotent_steps_are_retried_and_done_once(
    amqp_url: str,
    namespace: str,
    fake: FakeTexter,
    *,
    broker: Broker,
    ctl: None,
    tmp_path: Path,
) -> None:
    topology = await broker.declare(chaos_topology(namespace))
    chats = open_chats(fake, CHATS)
    labels = [f"spike-{n}" for n in range(PLANS)]
    plans = [
        p.Plan(
            id=f"spike-l-{n}",
            chat_id=chats[n % CHATS],
            source="chaos",
            rule="spike",
            steps=[p.Labels(idempotency_key=f"spike-l-{n}:0", add=[labels[n]])],
        )
        for n in range(PLANS)
    ]
    fake.set_faults(timeouts=SPIKES, hang=HANG, paths=["/labels"])
    async with in_process(broker.bus, _env(amqp_url, namespace, fake, tmp_path), "writer") as (
        _,
        metrics,
    ):
        await publish_plans(broker.bus, topology, plans)

        async def all_done() -> bool:
            return bool(metrics.writer.steps.labels("labels", "done")._value.get() >= PLANS)

        await until(all_done, 30, f"{PLANS} label steps done")
        await until_quiet(namespace, topology, 30)
        done = metrics.writer.steps.labels("labels", "done")._value.get()
        plans_done = metrics.writer.plans.labels("done")._value.get()

    assert await broker.bus.queue_depth(topology.dead_queue) == 0, "a Plan was dead-lettered"
    calls = [c for c in fake.calls if c.method == "POST" and c.path.endswith("/labels")]
    timed_out = [c for c in calls if c.fault == "timeout"]
    attempts: Counter[str] = Counter(label for c in calls for label in c.body.get("add") or [])
    in_chats = Counter(label for chat in fake.state.chats.values() for label in chat.labels)
    by_label = tally(labels, in_chats)
    retried = [label for label, n in attempts.items() if n > 1]
    assert len(timed_out) == SPIKES, f"{len(timed_out)} calls held past the timeout"
    assert sorted(retried) == sorted(lbl for c in timed_out for lbl in c.body["add"])
    assert by_label.exact, f"labels in the chats: {by_label}"
    assert done == PLANS  # each step marked done once, retries included
    assert plans_done == PLANS
    print(
        f"\n[latency spikes, idempotent] {PLANS} label steps, {SPIKES} calls held {HANG}s "
        f"(timeout 1s) and retried in process: {len(calls)} calls for {PLANS} steps, "
        f"{done:.0f} steps done once each, each label in its chat once: "
        f"0 missing, 0 duplicated, 0 dead letters"
    )


async def test_latency_spikes_on_sends_become_in_doubt_never_a_double_send(
    amqp_url: str,
    namespace: str,
    fake: FakeTexter,
    *,
    broker: Broker,
    ctl: None,
    tmp_path: Path,
) -> None:
    topology = await broker.declare(chaos_topology(namespace))
    chats = open_chats(fake, CHATS)
    keys = [f"spike-s-{n}:0" for n in range(PLANS)]
    texts = [f"spike {n}" for n in range(PLANS)]
    plans = [
        p.Plan(
            id=f"spike-s-{n}",
            chat_id=chats[n % CHATS],
            source="chaos",
            rule="spike",
            steps=[p.SendMessage(idempotency_key=keys[n], type="text", text=texts[n])],
        )
        for n in range(PLANS)
    ]
    fake.set_faults(timeouts=SPIKES, hang=HANG, paths=["/messages/send"])
    async with in_process(broker.bus, _env(amqp_url, namespace, fake, tmp_path), "writer") as (
        _,
        metrics,
    ):
        await publish_plans(broker.bus, topology, plans)

        async def settled() -> bool:
            ok = len(delivered(fake))
            dead = metrics.writer.dead_letters.labels("in_doubt")._value.get()
            return bool(ok + dead >= PLANS)

        await until(settled, 30, "every send done or in doubt")
        await until_quiet(namespace, topology, 30)
        in_doubt_count = metrics.writer.dead_letters.labels("in_doubt")._value.get()

    # The held requests were handled by the fake after the client gave up (a slow Texter).
    async def held_answered() -> bool:
        return all(c.status is not None for c in send_calls(fake))

    await until(held_answered, HANG + 5, "the fake to finish the held requests")
    dead = await broker.bus.browse(topology.dead_queue, 100)
    reasons = Counter(reason_of(d) for d in dead)
    doubt_keys = sorted(str(d.message.headers.get("x-dead-step-key")) for d in dead)
    per_key = Counter(k for c in send_calls(fake) if (k := send_key(c)))
    held = sorted(str(send_key(c)) for c in send_calls(fake) if c.fault == "timeout")
    doubled = {k: n for k, n in per_key.items() if n > 1}
    never = [k for k in keys if per_key[k] == 0]
    stored = stored_replies(fake)
    assert not doubled, f"{len(doubled)} sends repeated: {doubled}"
    assert reasons == {"in_doubt": SPIKES}, reasons
    assert in_doubt_count == SPIKES
    assert doubt_keys == held, "the in-doubt dead letters are the sends that timed out"
    assert not never, f"sends never attempted: {never[:5]}"
    assert tally(texts, stored).duplicated == {}
    sent_once = [k for k in keys if k not in held]
    assert all(delivered(fake)[k] == 1 for k in sent_once)
    print(
        f"\n[latency spikes, sends] {PLANS} sends, {SPIKES} held {HANG}s (timeout 1s): "
        f"{SPIKES} in_doubt dead letters (exactly the held tmpSendIds), never retried; "
        f"every tmpSendId reached the fake once ({sum(per_key.values())} calls for {PLANS} keys), "
        f"{sum(1 for t in texts if stored[t] == 1)} messages stored once (the held ones too: "
        f"the fake finished them), 0 duplicated, 0 missing attempts"
    )
