"""A 429 storm: the fake allows fewer requests per second than the client's TEXTER_RATE_LIMIT, so
it answers 429 with Retry-After. Every Plan finishes, every send happens once, and no request is
repeated before the Retry-After it got has passed.

Acceptance (issue 5): "429 storm at the fake: the writer honours Retry-After, the fake never sees
a request earlier than allowed, all Plans finish."
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from pathlib import Path

import pytest

from simulator.faults import Call
from simulator.server import FakeTexter
from tests.chaos.conftest import Broker
from tests.chaos.support import (
    assert_exactly_once,
    chaos_topology,
    in_process,
    open_chats,
    publish_plans,
    send_calls,
    send_key,
    until_delivered,
    until_quiet,
    worker_env,
)
from worker import plans as p

pytestmark = pytest.mark.slow

PLANS = 200
CHATS = 50
FAKE_RATE = 40  # requests per sliding second the fake accepts
CLIENT_RATE = 100  # TEXTER_RATE_LIMIT: well above what the fake allows
RETRY_AFTER = 1  # seconds, the fake's Retry-After on each 429
# With every 429 going the writer's way, 200 parked Plans come back together and share 40 slots a
# second, so the last of them need several rounds: tiers enough that none runs out of attempts.
DELAYS = (0.1, 0.2, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0)


def _plan(n: int, chat: str) -> p.Plan:
    return p.Plan(
        id=f"storm-{n}",
        chat_id=chat,
        source="chaos",
        rule="storm",
        steps=[p.SendMessage(idempotency_key=f"storm-{n}:0", type="text", text=f"storm {n}")],
    )


@pytest.mark.parametrize(
    "attempts",
    [
        pytest.param(8, id="client-retries"),  # the client waits Retry-After in process
        pytest.param(1, id="delay-tiers"),  # every 429 goes the writer's way: park, not_before
    ],
)
async def test_429_storm_honours_retry_after_and_finishes_every_plan(
    attempts: int,
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
    keys = [plan.steps[0].idempotency_key for plan in plans]
    texts = [f"storm {n}" for n in range(PLANS)]
    fake.set_faults(rate_limit=FAKE_RATE, retry_after=str(RETRY_AFTER))
    env = worker_env(
        amqp_url,
        namespace,
        fake,
        tmp_path,
        TEXTER_RATE_LIMIT=str(CLIENT_RATE),
        TEXTER_RETRY_ATTEMPTS=str(attempts),
        TEXTER_RETRY_DEADLINE="20s",
        DELAY_SCHEDULE=",".join(f"{round(d * 1000)}ms" for d in DELAYS),
    )
    async with in_process(broker.bus, env, "writer") as (_, metrics):
        await publish_plans(broker.bus, topology, plans)
        await until_delivered(fake, keys, 60)
        await until_quiet(namespace, topology, 30)
        done = metrics.writer.plans.labels("done")._value.get()

    assert await broker.bus.queue_depth(topology.dead_queue) == 0, "a Plan was dead-lettered"
    assert done == PLANS
    assert_exactly_once(fake, keys, texts)

    by_key: dict[str, list[Call]] = defaultdict(list)
    for call in send_calls(fake):
        by_key[str(send_key(call))].append(call)
    limited = [c for c in send_calls(fake) if c.status == 429]
    # Each shard runs one request at a time and then waits out its 429: about one 429 per
    # shard per second of the run (16 in a 4-second run), fewer on a loaded machine.
    assert len(limited) >= 5, f"only {len(limited)} 429s: no storm happened"
    gaps = []
    for calls in by_key.values():
        for refused, retry in itertools.pairwise(calls):
            assert refused.status == 429, f"a request repeated after {refused.status}"
            gaps.append(retry.at - refused.at)
    early = [g for g in gaps if g < RETRY_AFTER]
    assert not early, f"{len(early)} retries came before Retry-After={RETRY_AFTER}s: {early[:5]}"
    assert len(gaps) == len(limited)  # each 429 was followed by a later attempt of that send
    most = max(len(calls) for calls in by_key.values())
    span = max(c.at for c in fake.calls) - min(c.at for c in fake.calls)
    print(
        f"\n[429 storm, TEXTER_RETRY_ATTEMPTS={attempts}] {PLANS} Plans, fake limit "
        f"{FAKE_RATE}/s vs client {CLIENT_RATE}/s: "
        f"{len(limited)} answered 429 (Retry-After {RETRY_AFTER}s), {len(gaps)} retries "
        f"(at most {most} tries for one send), "
        f"shortest wait after a 429 {min(gaps):.3f}s, all {PLANS} done in {span:.1f}s, "
        f"each send once"
    )
