"""A rule that feeds on its own writes: on `chatLabelsUpdated` it adds another label, and the fake
Texter answers every label change with a `chatLabelsUpdated` webhook to the worker's ingress.

* `ignore_own_writes: false`: every write triggers the rule again; the per-chat budget
  (CHAT_BUDGET steps per window) stops it: the Plan over budget is dead-lettered
  `budget_exceeded`, nothing more is written, the loop ends.
* the default `ignore_own_writes: true`: the loop guard recognises the webhook of the worker's
  own write (an echo) and the rule does not run on it: one write, no loop at all.

`texter-worker run --role all` as a process on RabbitMQ; the first change is an agent's (the
test calls the fake's API directly).
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from simulator.server import FakeTexter
from tests.chaos.conftest import Broker
from tests.chaos.support import (
    SECRET,
    TOKEN,
    chaos_topology,
    open_chats,
    queued,
    until,
    worker_env,
    worker_process,
)
from worker.deadletters import reason_of

pytestmark = pytest.mark.slow

BUDGET = 10  # CHAT_BUDGET: steps per chat per window
RULE = """\
rules:
  - name: runaway
    on: chatLabelsUpdated
{extra}    do:
      - labels: {{add: ["loop-{{{{ chat.labels | length }}}}"]}}
"""


def loop_writes(fake: FakeTexter) -> list[str]:
    """Labels the worker added (accepted writes), in order."""
    out = []
    for call in fake.calls:
        if call.method == "POST" and call.path.endswith("/labels") and call.status == 200:
            body = call.body if isinstance(call.body, dict) else {}
            out += [str(label) for label in body.get("add") or [] if str(label).startswith("loop-")]
    return out


@pytest.mark.parametrize(
    "ignore_own_writes",
    [pytest.param(False, id="budget"), pytest.param(True, id="loop-guard")],
)
async def test_a_runaway_rule_is_stopped(
    ignore_own_writes: bool,
    amqp_url: str,
    namespace: str,
    fake: FakeTexter,
    *,
    broker: Broker,
    ctl: None,
    tmp_path: Path,
) -> None:
    topology = await broker.declare(chaos_topology(namespace))
    [chat] = open_chats(fake, 1, prefix="Runaway")
    extra = "" if ignore_own_writes else "    ignore_own_writes: false\n"
    (tmp_path / "rules.yaml").write_text(RULE.format(extra=extra))
    env = worker_env(
        amqp_url,
        namespace,
        fake,
        tmp_path,
        CHAT_BUDGET=str(BUDGET),
        CHAT_BUDGET_WINDOW="24h",  # no window boundary inside the test: one budget
    )
    async with (
        worker_process(env, "all", tmp_path / "worker.log") as worker,
        aiohttp.ClientSession() as http,
    ):
        url = await worker.url()
        fake.emitter.configure(f"{url}/webhooks/texter", token=SECRET, events=["chatLabelsUpdated"])
        # An agent labels the chat: the first chatLabelsUpdated, not an echo of ours.
        async with http.post(
            f"{fake.url}/chats/{chat}/labels",
            json={"add": ["vip"]},
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as resp:
            assert resp.status == 200

        async def loop_over() -> bool:
            """Nothing left anywhere: every webhook delivered (the ingress answered after its
            confirmed publish), every queue empty, and no new write since the last look."""
            before = len(fake.calls)
            await fake.emitter.drain()
            counts = await queued(namespace)
            busy = any(n for name, n in counts.items() if name != topology.dead_queue)
            return not busy and len(fake.calls) == before and bool(loop_writes(fake))

        await until(loop_over, 40, "the loop to end")
        writes = loop_writes(fake)
        webhooks = [d for d in fake.emitter.deliveries if d.event == "chatLabelsUpdated"]
        echoes = [
            e
            for e in worker.events("rules.event")
            if (e.get("skipped") or {}).get("runaway") == "echo"
        ]
        runaway_logged = worker.events("rules.runaway")
        code, _ = await worker.terminate(15)
    assert code == 0, worker.tail()
    assert all(d.status == 202 for d in webhooks), [d.status for d in webhooks]
    dead = await broker.bus.browse(topology.dead_queue, 100)
    reasons = [reason_of(d) for d in dead]
    assert len(writes) == len(set(writes)), f"a label written twice: {writes}"
    if ignore_own_writes:
        assert writes == ["loop-1"], writes  # the agent's vip, then ours: one write
        assert reasons == []
        assert len(echoes) == 1, "the webhook of our own write was recognised as an echo"
    else:
        assert len(writes) == BUDGET, f"{len(writes)} writes for a budget of {BUDGET}"
        assert reasons == ["budget_exceeded"], reasons
        assert dead[0].message.headers.get("x-dead-rule") == "runaway"
        assert runaway_logged, "the runaway was not logged"
    labels = fake.state.chats[chat].labels
    print(
        f"\n[runaway rule, ignore_own_writes={str(ignore_own_writes).lower()}] "
        f"{len(webhooks)} chatLabelsUpdated webhooks, {len(writes)} label writes at the fake "
        f"(budget {BUDGET}), {len(echoes)} recognised as echoes, dead letters {reasons}; "
        f"the loop ended; the chat's labels: {len(labels)}"
    )
