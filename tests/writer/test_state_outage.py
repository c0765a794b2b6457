"""The writer when the ledger or the memory is unavailable: never a dead letter for it, nothing
that ran is run again, nothing that was done is forgotten (both transports, fake Texter)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from consumers.writer.guarded import StateRetry
from simulator.server import FakeTexter
from tests.writer.harness import DELAYS, Writer, direct_writer
from tests.writer.outage import FlakyLedger, FlakyMemory, Outage
from tests.writer.test_writer import four_steps
from worker.bus import Bus
from worker.deadletters import DeadLetter, reason_of
from worker.state.ledger import EntryState
from worker.state.memory import LocalMemory
from worker.state.sqlite_ledger import SQLiteLedger

ENDPOINTS = ("/labels", "/crm-data", "/messages/send/", "/resolve")
RETRY = StateRetry(attempts=3, first_wait=0.1, max_wait=1.0)


@pytest.fixture
def outage() -> Outage:
    return Outage()


@pytest.fixture
async def ledger(tmp_path: Path, outage: Outage) -> AsyncIterator[FlakyLedger]:
    flaky = FlakyLedger(await SQLiteLedger.open(tmp_path, horizon=3600), outage)
    yield flaky
    await flaky.close()


@pytest.fixture
async def w(
    namespace: str,
    bus: Bus,
    *,
    fake: FakeTexter,
    tmp_path: Path,
    ledger: FlakyLedger,
    outage: Outage,
) -> AsyncIterator[Writer]:
    memory = FlakyMemory(LocalMemory(), outage)
    async with direct_writer(
        namespace, bus, fake, tmp_path, ledger=ledger, memory=memory, retry=RETRY
    ) as running:
        yield running


def calls(w: Writer) -> list[int]:
    """Requests that reached the fake, per step of `four_steps`, whatever the answer."""
    return [w.answered(path, None) for path in ENDPOINTS]


async def dead_letters(w: Writer) -> int:
    return await w.bus.queue_depth(w.topology.dead_queue)


async def test_a_short_outage_is_retried_in_place(
    w: Writer, outage: Outage, ledger: FlakyLedger
) -> None:
    outage.blips.update({"state": 2, "claim": 2, "put": 2, "done": 2})
    await w.submit(four_steps(w.chat("Yossi Levi"), "blip"))
    await w.until_plans("done", 1)

    assert calls(w) == [1, 1, 1, 1]
    assert outage.failed == {"state": 2, "claim": 2, "put": 2, "done": 2}
    assert len(w.waits) == 8  # each failure waited in place: the Plan never left its shard
    assert (w.plans_counted("state_unavailable"), w.plans_counted("retry_later")) == (0, 0)
    assert await ledger.inner.state("blip:2") is EntryState.DONE
    assert await dead_letters(w) == 0


async def test_a_ledger_that_stays_down_parks_the_plan_without_using_up_its_retries(
    w: Writer, outage: Outage, ledger: FlakyLedger
) -> None:
    outage.down.add("claim")  # the send cannot be claimed; the other steps need no claim
    await w.submit(four_steps(w.chat("Yossi Levi"), "down"))
    # More parks than the delay schedule allows retries: an outage never exhausts a Plan.
    await w.until_plans("state_unavailable", len(DELAYS) + 2)

    assert calls(w) == [1, 1, 0, 0]  # steps 0-1 ran once; nothing was sent unclaimed
    assert w.plans_counted("retry_later") == 0
    assert await dead_letters(w) == 0

    outage.down.clear()
    await w.until_plans("done", 1)
    assert calls(w) == [1, 1, 1, 1]
    assert await ledger.inner.state("down:2") is EntryState.DONE
    assert await ledger.inner.state("down:0") is EntryState.DONE  # recorded before the outage
    assert await dead_letters(w) == 0


async def test_a_send_whose_done_mark_cannot_be_written_is_never_sent_again(
    w: Writer, outage: Outage, ledger: FlakyLedger
) -> None:
    chat = w.chat("Yossi Levi")
    outage.down.add(("done", "lost:2"))  # the send succeeds; recording it does not
    await w.submit(four_steps(chat, "lost"))
    await w.until_plans("done", 1)

    assert calls(w) == [1, 1, 1, 1]  # the rest continued after the send, without it
    assert w.plans_counted("state_unavailable") == 1
    assert await ledger.inner.state("lost:2") is EntryState.CLAIMED  # kept: the safe outcome
    assert await ledger.inner.state("lost:3") is EntryState.DONE

    # A redelivery of the original Plan (say its ack was lost) finds the send in doubt.
    outage.down.clear()
    await w.submit(four_steps(chat, "lost"))
    [dead] = await w.dead(1)
    entry = DeadLetter.of(dead)
    assert (entry.reason, entry.step, entry.step_key) == ("in_doubt", 2, "lost:2")
    assert w.answered("/messages/send/", None) == 1


async def test_a_last_step_whose_done_mark_cannot_be_written_ends_the_plan(
    w: Writer, outage: Outage
) -> None:
    outage.down.add(("done", "end:3"))
    await w.submit(four_steps(w.chat("Yossi Levi"), "end"))
    await w.until_plans("done", 1)
    assert calls(w) == [1, 1, 1, 1]
    assert w.plans_counted("state_unavailable") == 0  # nothing left to park
    assert await dead_letters(w) == 0


async def test_an_echo_that_cannot_be_remembered_gives_the_claim_back(
    w: Writer, outage: Outage, ledger: FlakyLedger
) -> None:
    chat = w.chat("Yossi Levi")
    outage.down.add(("put", f"echo:{chat}:send"))
    await w.submit(four_steps(chat, "echo"))
    await w.until_plans("state_unavailable", 1)
    assert calls(w)[2] == 0  # not sent without its echo
    assert await ledger.inner.state("echo:2") is None  # claimed, then given back

    outage.down.clear()
    await w.until_plans("done", 1)
    assert calls(w) == [1, 1, 1, 1]
    assert await w.memory.get(f"echo:{chat}:send") == "echo:2"
    assert await dead_letters(w) == 0


async def test_a_claim_that_cannot_be_given_back_is_in_doubt_and_never_sent_twice(
    w: Writer, outage: Outage, ledger: FlakyLedger
) -> None:
    """A 503 means nothing was sent, but the ledger cannot release the claim: the key stays
    claimed, so the retry finds it in doubt (for a person), rather than ever sending twice."""
    w.fake.set_faults(errors=1, error_status=503, paths=["/messages/send/"])
    outage.down.add(("release", "kept:2"))
    await w.submit(four_steps(w.chat("Yossi Levi"), "kept"))
    [dead] = await w.dead(1)
    assert reason_of(dead) == "in_doubt"
    assert (w.answered("/messages/send/", 503), w.answered("/messages/send/", 200)) == (1, 0)
    assert await ledger.inner.state("kept:2") is EntryState.CLAIMED
