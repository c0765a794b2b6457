"""DeadLetterBox on both transports: list, show, replay, purge, resolve.

Each operation starts once the dead-letter queue holds the count the test expects (`settled`):
see `wait_depth` for why RabbitMQ needs that between two sweeps.
"""

from __future__ import annotations

import sys
from dataclasses import replace

import msgspec
import pytest

from tests.conftest import wait_for
from tests.dlq.conftest import NOW
from tests.dlq.support import (
    CHAT,
    DIED_AT,
    IN_DOUBT,
    PERMANENT,
    POISON,
    event_delivery,
    get_one,
    plan_delivery,
    seed,
    wait_depth,
)
from worker.bus import Bus, Delivery, Topology
from worker.deadletters import DeadLetter, Why
from worker.dlq import DeadLetterBox, DeadLetterNotFound, NotResolvable, Selection
from worker.plans import decode_plan, encode_plan
from worker.state.ledger import ClaimResult, EntryState
from worker.state.sqlite_ledger import SQLiteLedger


class Dead:
    """The test's view of the dead-letter queue, through the box, on a settled queue."""

    def __init__(self, box: DeadLetterBox, bus: Bus, topology: Topology) -> None:
        self.box, self.bus, self.queue = box, bus, topology.dead_queue

    async def settled(self, n: int) -> DeadLetterBox:
        await wait_depth(self.bus, self.queue, n)
        return self.box

    async def ids(self, n: int) -> list[str]:
        return [e.id for e in (await (await self.settled(n)).list()).entries]

    async def one(self, n: int, reason: str) -> DeadLetter:
        (entry,) = (await (await self.settled(n)).list(reason=reason)).entries
        return entry


@pytest.fixture
def dead(box: DeadLetterBox, bus: Bus, topology: Topology) -> Dead:
    return Dead(box, bus, topology)


# --- list and show ---------------------------------------------------------------------------


async def test_list_shows_each_dead_letter_and_filters_by_reason(
    dead: Dead, bus: Bus, topology: Topology
) -> None:
    await seed(bus, topology, plan_delivery(topology), IN_DOUBT)
    await seed(bus, topology, event_delivery(topology, 1), POISON)
    await seed(bus, topology, event_delivery(topology, 2), POISON)

    listing = await (await dead.settled(3)).list()
    assert (listing.matching, listing.total) == (3, 3)
    assert [e.reason for e in listing.entries] == ["in_doubt", "poison", "poison"]
    first = listing.entries[0]
    assert (first.chat, first.rule, first.step, first.step_key) == (CHAT, "welcome", 0, "plan-1:0")
    assert (first.at, first.source, first.attempts) == (DIED_AT, "writer", 3)

    poison = await (await dead.settled(3)).list(reason="poison", limit=1)
    assert (len(poison.entries), poison.matching, poison.total) == (1, 2, 3)
    assert poison.entries[0].chat == "chat-1"
    assert (await (await dead.settled(3)).list(reason="permanent")).entries == ()
    assert await dead.ids(3) == [e.id for e in listing.entries]  # the same ids every time


async def test_show_gives_every_header_and_the_body_pretty(
    dead: Dead, bus: Bus, topology: Topology
) -> None:
    await seed(bus, topology, plan_delivery(topology), IN_DOUBT)
    entry = await dead.one(1, "in_doubt")

    shown = await (await dead.settled(1)).show(entry.id)
    assert shown.entry == entry
    assert shown.headers["x-dead-step-key"] == "plan-1:0"
    assert shown.headers["x-original-exchange"] == topology.commands_exchange
    assert shown.body.startswith('{\n  "id": "plan-1"')
    with pytest.raises(DeadLetterNotFound):
        await (await dead.settled(1)).show("000000000000")


async def test_show_gives_a_body_that_is_not_json_as_text(
    dead: Dead, bus: Bus, topology: Topology
) -> None:
    delivery = event_delivery(topology)
    broken = replace(delivery, message=replace(delivery.message, body=b"not json \xff"))
    await seed(bus, topology, broken, POISON)
    entry = await dead.one(1, "poison")
    shown = await (await dead.settled(1)).show(entry.id)
    assert shown.body == "not json \ufffd"


# --- replay ----------------------------------------------------------------------------------


async def test_a_plan_goes_back_to_its_writer_shard_as_a_fresh_attempt(
    dead: Dead, bus: Bus, topology: Topology
) -> None:
    original = plan_delivery(topology)
    await seed(bus, topology, original, PERMANENT)
    entry = await dead.one(1, "permanent")

    report = await (await dead.settled(1)).replay(Selection(ids=(entry.id,)))

    assert (report.replayed, report.failed, report.missing) == ((entry.id,), {}, ())
    assert report.left_in_queue == ()
    await wait_depth(bus, topology.dead_queue, 0)
    shard = int(original.message.routing_key.rsplit(".", 1)[1])
    back = await get_one(bus, topology.writer_queue(shard))
    replayed = decode_plan(back.message.body)
    before = decode_plan(original.message.body)
    assert (before.attempt, before.not_before) != (1, None)
    assert replayed == msgspec.structs.replace(before, attempt=1, not_before=None)
    assert [s.idempotency_key for s in replayed.steps] == ["plan-1:0", "plan-1:1"]
    assert back.message.message_id == original.message.message_id  # not "...:welcome"
    assert back.message.type == "plan"
    assert back.message.headers["x-chat-id"] == CHAT
    assert back.message.headers["x-replays"] == 1
    assert not any(k.startswith(("x-dead-", "x-original-")) for k in back.message.headers)
    assert "x-received-at-ms" not in back.message.headers


async def test_a_continuation_keeps_its_place_in_the_original_plan_when_replayed(
    dead: Dead, bus: Bus, topology: Topology
) -> None:
    original = plan_delivery(topology)
    rest = msgspec.structs.replace(decode_plan(original.message.body), step_offset=3)
    continuation = replace(original, message=replace(original.message, body=encode_plan(rest)))
    await seed(bus, topology, continuation, PERMANENT)
    entry = await dead.one(1, "permanent")

    assert (await (await dead.settled(1)).replay(Selection(ids=(entry.id,)))).replayed
    shard = int(original.message.routing_key.rsplit(".", 1)[1])
    back = decode_plan((await get_one(bus, topology.writer_queue(shard))).message.body)
    assert (back.first_step, back.attempt) == (3, 1)


async def test_a_poison_plan_nested_too_deep_shows_as_text_and_replays_unchanged(
    dead: Dead, bus: Bus, topology: Topology
) -> None:
    depth = max(5000, 2 * sys.getrecursionlimit())
    body = b'{"id": "deep", "x": ' + b"[" * depth + b"]" * depth + b"}"
    original = plan_delivery(topology)
    deep = replace(original, message=replace(original.message, body=body))
    await seed(bus, topology, deep, Why("poison", "nested too deep", "writer"))
    entry = await dead.one(1, "poison")

    shown = await (await dead.settled(1)).show(entry.id)
    assert shown.body == body.decode()
    assert (await (await dead.settled(1)).replay(Selection(ids=(entry.id,)))).replayed
    shard = int(original.message.routing_key.rsplit(".", 1)[1])
    assert (await get_one(bus, topology.writer_queue(shard))).message.body == body


async def test_an_event_goes_back_to_the_events_exchange_and_its_shard(
    dead: Dead, bus: Bus, topology: Topology
) -> None:
    original = event_delivery(topology, 7)
    await seed(bus, topology, original, Why("rule_error", "boom", "rules", rule="greet"))
    await seed(bus, topology, event_delivery(topology, 8), POISON)

    report = await (await dead.settled(2)).replay(Selection(reason="rule_error"))

    assert len(report.replayed) == 1
    shard = int(original.message.routing_key.rsplit(".", 1)[1])
    back = await get_one(bus, topology.rules_queue(shard))
    assert back.exchange == topology.events_exchange
    assert back.message.body == original.message.body  # byte for byte
    assert back.message.message_id == "event-7"  # the rules derive Plan ids from it
    assert back.message.type == "chatPending"
    assert (await dead.one(1, "poison")).chat == "chat-8"  # the other one stays


async def test_replay_all_sends_back_everything_and_reports_progress(
    bus: Bus, topology: Topology
) -> None:
    for n in range(3):
        await seed(bus, topology, event_delivery(topology, n), POISON, at=DIED_AT + n)
    progress: list[tuple[str, int, int]] = []
    box = DeadLetterBox(bus, topology, publish_timeout=5, progress=lambda *p: progress.append(p))

    report = await box.replay(Selection(all=True))

    assert len(report.replayed) == 3
    assert progress == [("replay", 3, 3)]
    await wait_depth(bus, topology.dead_queue, 0)

    async def all_back() -> bool:
        depths = [await bus.queue_depth(q) for q in topology.rules_queues]
        return sum(depths) == 3

    await wait_for(all_back)


async def test_replay_needs_a_selection_and_reports_unknown_ids(
    dead: Dead, bus: Bus, topology: Topology
) -> None:
    await seed(bus, topology, event_delivery(topology), POISON)
    box = await dead.settled(1)
    with pytest.raises(ValueError, match="replay needs"):
        await box.replay(Selection())
    report = await box.replay(Selection(ids=("0123456789ab",)))
    assert (report.replayed, report.missing) == ((), ("0123456789ab",))
    assert len(await dead.ids(1)) == 1


async def test_a_failed_replay_publish_loses_nothing(
    dead: Dead, bus: Bus, topology: Topology
) -> None:
    nowhere = f"{topology.namespace}.nowhere"  # no such exchange: the publish is Unroutable
    await seed(bus, topology, event_delivery(topology, 1, exchange=nowhere), POISON)
    await seed(bus, topology, event_delivery(topology, 2), POISON, at=DIED_AT + 1)
    before = await dead.ids(2)

    report = await (await dead.settled(2)).replay(Selection(all=True))

    assert report.replayed == (before[1],)
    assert list(report.failed) == [before[0]]
    assert nowhere in report.failed[before[0]]
    assert await dead.ids(1) == [before[0]]  # still there, unchanged, for another try
    shown = await (await dead.settled(1)).show(before[0])
    assert shown.headers["x-original-exchange"] == nowhere


async def test_a_replayed_message_that_dies_again_is_a_new_dead_letter(
    dead: Dead, bus: Bus, topology: Topology
) -> None:
    event = event_delivery(topology).message
    await bus.publish(topology.events_exchange, event, timeout=5)

    async def reject(_: Delivery) -> None:
        raise RuntimeError("rules crashed")  # the broker dead-letters it: reason "rejected"

    shard = int(event.routing_key.rsplit(".", 1)[1])
    consumer = await bus.consume(topology.rules_queue(shard), reject)
    try:
        first = await dead.one(1, "rejected")
        assert (first.source, first.exchange) == ("broker", topology.events_exchange)

        report = await (await dead.settled(1)).replay(Selection(ids=(first.id,)))
        assert report.replayed == (first.id,)

        async def died_again() -> bool:
            entries = (await dead.box.list()).entries
            return [e.replays for e in entries] == [1]

        await wait_for(died_again)  # the new death was not taken with the old one
        again = await dead.one(1, "rejected")
        assert again.id != first.id
        assert again.message_id == first.message_id == "event-1"
    finally:
        await consumer.cancel()


# --- purge -----------------------------------------------------------------------------------


async def test_purge_by_age_reason_and_id(dead: Dead, bus: Bus, topology: Topology) -> None:
    await seed(bus, topology, event_delivery(topology, 1), POISON, at=NOW - 7200)  # 2h old
    await seed(bus, topology, event_delivery(topology, 2), POISON, at=NOW - 60)
    await seed(bus, topology, plan_delivery(topology), PERMANENT, at=NOW - 7200)
    await seed(bus, topology, event_delivery(topology, 3), PERMANENT, at=NOW - 60)
    old_poison, new_poison, old_permanent, new_permanent = await dead.ids(4)

    with pytest.raises(ValueError, match="purge needs ids, a reason, an age, or all"):
        await dead.box.purge(Selection())
    both = await (await dead.settled(4)).purge(Selection(older_than=3600, reason="poison"))
    assert [e.id for e in both.removed] == [old_poison]
    by_age = await (await dead.settled(3)).purge(Selection(older_than=3600))
    assert [e.id for e in by_age.removed] == [old_permanent]
    by_id = await (await dead.settled(2)).purge(Selection(ids=(new_permanent, "0123456789ab")))
    assert ([e.id for e in by_id.removed], by_id.missing) == ([new_permanent], ("0123456789ab",))
    assert await dead.ids(1) == [new_poison]


async def test_purge_all_removes_every_dead_letter(
    dead: Dead, bus: Bus, topology: Topology
) -> None:
    await seed(bus, topology, event_delivery(topology, 1), POISON)
    await seed(bus, topology, plan_delivery(topology), PERMANENT, at=DIED_AT + 1)
    everything = set(await dead.ids(2))

    report = await (await dead.settled(2)).purge(Selection(all=True))

    assert {e.id for e in report.removed} == everything
    assert await dead.ids(0) == []


# --- resolve ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("sent", "state"), [(True, EntryState.DONE), (False, None)])
async def test_resolve_records_the_operators_answer_in_the_ledger(
    dead: Dead,
    bus: Bus,
    topology: Topology,
    ledger: SQLiteLedger,
    *,
    sent: bool,
    state: EntryState | None,
) -> None:
    assert await ledger.claim("plan-1:0") is ClaimResult.CLAIMED  # the attempt that timed out
    await seed(bus, topology, plan_delivery(topology), IN_DOUBT)
    entry = await dead.one(1, "in_doubt")

    report = await (await dead.settled(1)).resolve(entry.id, sent=sent)

    assert (report.step_key, report.sent) == ("plan-1:0", sent)
    assert report.state == (state.value if state else None)
    assert await ledger.state("plan-1:0") is state
    # What the writer finds when the replayed Plan claims the step again:
    expected = ClaimResult.DONE if sent else ClaimResult.CLAIMED
    assert await ledger.claim("plan-1:0") is expected
    assert await dead.ids(1) == [entry.id]  # resolving does not replay


async def test_only_in_doubt_dead_letters_can_be_resolved(
    dead: Dead, bus: Bus, topology: Topology
) -> None:
    await seed(bus, topology, plan_delivery(topology), PERMANENT)
    await seed(bus, topology, plan_delivery(topology), IN_DOUBT, at=DIED_AT + 1)
    permanent, in_doubt = await dead.one(2, "permanent"), await dead.one(2, "in_doubt")
    with pytest.raises(NotResolvable, match="not an in_doubt send"):
        await (await dead.settled(2)).resolve(permanent.id, sent=True)
    without_ledger = DeadLetterBox(bus, topology)
    await wait_depth(bus, topology.dead_queue, 2)
    with pytest.raises(NotResolvable, match="no send-once ledger"):
        await without_ledger.resolve(in_doubt.id, sent=True)
