"""What the writer's dead letters say, as `dlq list` shows them: the reason of the latest death,
the step counted in the Plan as first published, the chat (both transports, fake Texter)."""

from __future__ import annotations

import sys
from pathlib import Path

import aiohttp
import msgspec
import pytest

import worker.plans as p
from consumers.writer.guarded import StateRetry
from consumers.writer.steps import StepRunner
from simulator.server import FakeTexter
from tests.writer.harness import Runner, Writer, direct_writer
from tests.writer.test_writer import four_steps
from worker.bus import Bus, Message
from worker.bus.topology import routing_key
from worker.deadletters import DeadLetter, reason_of
from worker.plans import decode_plan
from worker.state.memory import LocalMemory
from worker.state.sqlite_ledger import SQLiteLedger
from worker.texter.client import TexterClient


def nested(depth: int) -> bytes:
    """A Plan whose http step's JSON body is a list nested `depth` deep."""
    return (
        b'{"id": "deep", "source": "crm", "chat_id": "c1", "steps": [{"action": "http", '
        b'"idempotency_key": "deep:0", "url": "http://crm.example.com/", "json": '
        + b"[" * depth
        + b"]" * depth
        + b"}]}"
    )


async def test_a_plan_nested_too_deep_to_decode_is_poison(w: Writer) -> None:
    depth = max(5000, 2 * sys.getrecursionlimit())  # past msgspec's limit, however it is set
    bad = Message(body=nested(depth), routing_key=routing_key(0), message_id="deep")
    await w.bus.publish(w.topology.commands_exchange, bad, timeout=5)
    [dead] = await w.dead(1)
    assert reason_of(dead) == "poison"  # not `rejected` by the bus
    assert "recursion" in str(dead.message.headers["x-dead-error"])
    assert dead.message.body == bad.body
    assert w.metrics.writer.dead_letters.labels("poison")._value.get() == 1


async def test_a_dead_letter_counts_its_step_in_the_plan_as_first_published(w: Writer) -> None:
    """Step 1 fails once (a continuation from step 1), then step 2 for good: STEP says 2."""
    chat = w.chat("Dana Cohen")  # the 24-hour window is closed: the send is refused
    w.fake.set_faults(errors=1, error_status=503, paths=["/crm-data"])
    await w.submit(four_steps(chat, "later"))  # no x-chat-id header, as an external producer
    [dead] = await w.dead(1)

    entry = DeadLetter.of(dead)
    assert (entry.reason, entry.step, entry.step_key) == ("permanent", 2, "later:2")
    assert (entry.chat, entry.rule, entry.attempts) == (chat, "r", 2)
    rest = decode_plan(dead.message.body)
    assert rest.first_step == 2
    assert [s.idempotency_key for s in rest.steps] == ["later:2", "later:3"]


async def test_retries_exhausted_names_the_step_and_the_chat(w: Writer) -> None:
    chat = w.chat("Yossi Levi")
    w.fake.set_faults(errors=100, error_status=503, paths=["/crm-data"])
    await w.submit(four_steps(chat, "storm"))
    [dead] = await w.dead(1)
    entry = DeadLetter.of(dead)
    assert (entry.reason, entry.step, entry.step_key) == ("retries_exhausted", 1, "storm:1")
    assert entry.chat == chat
    assert dead.message.headers["x-chat-id"] == chat  # set from the Plan: it came without one


async def test_a_chatless_plan_leaves_the_chat_unknown(w: Writer) -> None:
    plan = p.Plan(
        id="tmpl",
        source="crm",
        steps=[p.SendTemplate(idempotency_key="tmpl:0", template="no_such_template", to="972501")],
    )
    await w.submit(plan)
    [dead] = await w.dead(1)
    entry = DeadLetter.of(dead)
    assert (entry.reason, entry.chat, entry.step) == ("permanent", None, 0)


# --- a broker-made dead letter after delay-tier round trips -----------------------------------


class Buggy(StepRunner):
    """Runs the first `good` steps for real; then fails as a bug would (not a Texter outcome),
    so the bus rejects the Plan and the broker dead-letters it."""

    def __init__(self, client: TexterClient, http: aiohttp.ClientSession, good: int) -> None:
        super().__init__(client, http)
        self.good = good

    async def run(self, step: p.Step, plan_chat: str | None) -> None:
        if self.good == 0:
            raise RuntimeError("a bug in the writer")
        self.good -= 1
        await super().run(step, plan_chat)


def buggy_after(good: int) -> Runner:
    return lambda client, http: Buggy(client, http, good)


@pytest.mark.parametrize("trips", [1, 2])
async def test_a_plan_rejected_after_its_delay_tiers_reads_as_rejected(
    namespace: str,
    bus: Bus,
    *,
    fake: FakeTexter,
    tmp_path: Path,
    trips: int,
) -> None:
    """The Plan waits on a delay tier `trips` times (the broker records each return as an
    `expired` death), then the writer fails on it: the dead letter must say `rejected`."""
    ledger = await SQLiteLedger.open(tmp_path, horizon=3600)
    fake.set_faults(errors=trips, error_status=503, paths=["/labels"])
    try:
        async with direct_writer(
            namespace,
            bus,
            fake,
            tmp_path,
            ledger=ledger,
            memory=LocalMemory(),
            retry=StateRetry(),
            runner=buggy_after(trips),
        ) as w:
            chat = w.chat("Yossi Levi")
            await w.submit(four_steps(chat, "bug"))
            [dead] = await w.dead(1)
    finally:
        await ledger.close()

    entry = DeadLetter.of(dead)
    shard = int(dead.message.routing_key.rsplit(".", 1)[1])
    assert (entry.reason, entry.source) == ("rejected", "broker")
    assert entry.error == (
        f"a consumer of {w.topology.writer_queue(shard)} failed on it "
        "(unexpected error: see its logs)"
    )
    assert entry.exchange == w.topology.commands_exchange  # where replay sends it
    assert entry.chat == chat
    assert decode_plan(dead.message.body).attempt == trips + 1


def test_step_offset_is_written_only_on_continuations() -> None:
    """Plans as first published encode exactly as before the field existed, and old ones
    (without it) decode as starting at step 0."""
    fresh = four_steps("c1", "fresh")
    assert b"step_offset" not in p.encode_plan(fresh)
    assert decode_plan(p.encode_plan(fresh)).first_step == 0
    rest = msgspec.structs.replace(fresh, steps=fresh.steps[2:], step_offset=2)
    assert decode_plan(p.encode_plan(rest)).first_step == 2
    with pytest.raises(msgspec.ValidationError, match="step_offset"):
        decode_plan(p.encode_plan(fresh)[:-1] + b', "step_offset": -1}')
