"""A Plan that fails permanently at the fake is dead-lettered with the reason; once the cause is
fixed at the fake, `texter-worker dlq replay` (the real command, on the real broker) sends it
back and the Plan completes, without repeating the steps that had already succeeded.

The fake accepts any label id on a chat (it does not check that a label exists), so the
permanent failure here is the other documented 4xx a Plan meets in practice: a session message
outside WhatsApp's 24-hour window (400). The fix: the contact writes again, which reopens it.

Acceptance (issue 5): "permanent 4xx → dead letter with the reason; `dlq replay` after fixing
the cause (e.g. label created at the fake) completes the Plan."
"""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.server import FakeTexter
from tests.chaos.conftest import Broker
from tests.chaos.support import (
    chaos_topology,
    cli,
    delivered,
    in_process,
    publish_plans,
    send_calls,
    until,
    until_delivered,
    until_quiet,
    worker_env,
)
from worker import plans as p
from worker.dlq import DeadLetterBox

pytestmark = pytest.mark.slow


async def test_permanent_failure_dead_letters_then_replay_after_the_fix_completes_the_plan(
    amqp_url: str,
    namespace: str,
    fake: FakeTexter,
    *,
    broker: Broker,
    ctl: None,
    tmp_path: Path,
) -> None:
    topology = await broker.declare(chaos_topology(namespace))
    chat = fake.state.add_chat("972500000042", "Quiet contact")  # never wrote: window closed
    plan = p.Plan(
        id="fixme",
        chat_id=chat.id,
        source="chaos",
        rule="welcome-back",
        steps=[
            p.Labels(idempotency_key="fixme:0", add=["vip"]),
            p.SendMessage(idempotency_key="fixme:1", type="text", text="welcome back"),
            p.Labels(idempotency_key="fixme:2", add=["greeted"]),
        ],
    )
    env = worker_env(amqp_url, namespace, fake, tmp_path)
    box = DeadLetterBox(broker.bus, topology)
    async with in_process(broker.bus, env, "writer"):
        await publish_plans(broker.bus, topology, [plan])

        async def dead_lettered() -> bool:
            return await broker.bus.queue_depth(topology.dead_queue) == 1

        await until(dead_lettered, 30, "the Plan's dead letter")
        [entry] = (await box.list()).entries
        assert (entry.reason, entry.step, entry.step_key) == ("permanent", 1, "fixme:1")
        assert "24-hour" in str(entry.error)
        assert (entry.chat, entry.rule) == (chat.id, "welcome-back")
        assert chat.labels == ["vip"]  # the step before the failure happened

        # Replaying before the fix changes nothing: it dies again, with the same reason.
        code, out, err = await cli(env, "dlq", "replay", "--reason", "permanent")
        assert code == 0, err
        assert "1 replayed" in out
        await until(dead_lettered, 30, "the unfixed Plan's second dead letter")
        [again] = (await box.list()).entries
        assert (again.reason, again.step_key, again.replays) == ("permanent", "fixme:1", 1)

        # The fix: the contact writes, the 24-hour window opens. Then the operator replays.
        fake.state.add_message(chat, "incoming", {"type": "text", "text": "hi again"})
        code, out, err = await cli(env, "dlq", "replay", "--reason", "permanent")
        assert code == 0, err
        assert "1 replayed" in out
        await until_delivered(fake, ["fixme:1"], 30)

        async def last_step_done() -> bool:
            return chat.labels == ["vip", "greeted"]

        await until(last_step_done, 30, "the Plan's last step")
        await until_quiet(namespace, topology, 30)

    assert await broker.bus.queue_depth(topology.dead_queue) == 0
    label_calls = [c for c in fake.calls if c.path.endswith("/labels")]
    assert [c.body for c in label_calls] == [{"add": ["vip"]}, {"add": ["greeted"]}]
    sends = [(c.status, c.body["tmpSendId"]) for c in send_calls(fake)]
    assert sends == [(400, "fixme:1"), (400, "fixme:1"), (200, "fixme:1")]
    assert delivered(fake) == {"fixme:1": 1}
    outgoing = [m["text"] for m in fake.state.messages[chat.id] if m["direction"] == "outgoing"]
    assert outgoing == ["welcome back"]
    print(
        "\n[dlq replay] permanent (400, 24-hour window closed) at step 1 → dead letter; replay "
        "before the fix → dead again (replays=1); contact writes → replay → Plan done: "
        "labels step 0 ran once, send once, step 2 once"
    )
