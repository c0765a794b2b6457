"""`texter-worker dlq ...` straight on RabbitMQ (AMQP_URL set), in this process."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.dlq.support import (
    CHAT,
    DIED_AT,
    IN_DOUBT,
    POISON,
    event_delivery,
    get_one,
    plan_delivery,
    seed,
    wait_depth,
)
from worker.bus import Topology
from worker.bus.rabbitmq import RabbitBus
from worker.cli import main
from worker.deadletters import DeadLetter
from worker.dlq import DeadLetterBox
from worker.plans import decode_plan
from worker.settings import VARIABLES
from worker.state.ledger import EntryState
from worker.state.sqlite_ledger import SQLiteLedger


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, amqp_url: str, topology: Topology, tmp_path: Path) -> None:
    for var in VARIABLES:
        monkeypatch.delenv(var.name, raising=False)
    monkeypatch.setenv("AMQP_URL", amqp_url)
    monkeypatch.setenv("BUS_NAMESPACE", topology.namespace)
    monkeypatch.setenv("BUS_SHARDS", str(topology.shards))
    monkeypatch.setenv("STATE_DIR", str(tmp_path))  # the `ledger` fixture's file


async def _cli(*args: str) -> int:
    return await asyncio.to_thread(main, ["dlq", *args])  # main() runs its own event loop


async def _entries(bus: RabbitBus, topology: Topology, n: int) -> tuple[DeadLetter, ...]:
    await wait_depth(bus, topology.dead_queue, n)
    return (await DeadLetterBox(bus, topology).list()).entries


@pytest.mark.usefixtures("env")
async def test_list_prints_a_table_and_show_the_whole_dead_letter(
    rabbit_bus: RabbitBus, topology: Topology, capsys: pytest.CaptureFixture[str]
) -> None:
    await seed(rabbit_bus, topology, plan_delivery(topology), IN_DOUBT)
    await seed(rabbit_bus, topology, event_delivery(topology, 1), POISON)
    in_doubt, poison = await _entries(rabbit_bus, topology, 2)

    await wait_depth(rabbit_bus, topology.dead_queue, 2)
    assert await _cli("list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[:7] == [
        "2025-11-10",
        "09:30:12",
        in_doubt.id,
        "in_doubt",
        CHAT,
        "welcome",
        "0",
    ]
    assert lines[1].endswith("timeout after the send left")
    assert lines[2].split()[2:4] == [poison.id, "poison"]
    assert lines[-1] == "2 of 2 dead letter(s) shown; 2 in the queue"

    await wait_depth(rabbit_bus, topology.dead_queue, 2)
    assert await _cli("list", "--reason", "poison", "--limit", "1") == 0
    out = capsys.readouterr().out
    assert poison.id in out
    assert in_doubt.id not in out

    await wait_depth(rabbit_bus, topology.dead_queue, 2)
    assert await _cli("show", in_doubt.id) == 0
    out = capsys.readouterr().out
    assert "reason: in_doubt" in out
    assert "  x-dead-step-key: plan-1:0" in out
    assert '  "attempt": 3' in out  # the body, pretty

    await wait_depth(rabbit_bus, topology.dead_queue, 2)
    assert await _cli("show", "0123456789ab") == 1
    assert "no dead letter 0123456789ab" in capsys.readouterr().err


@pytest.mark.usefixtures("env")
async def test_resolve_then_replay_an_in_doubt_plan(
    rabbit_bus: RabbitBus,
    topology: Topology,
    ledger: SQLiteLedger,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await ledger.claim("plan-1:0")
    await seed(rabbit_bus, topology, plan_delivery(topology), IN_DOUBT)
    (entry,) = await _entries(rabbit_bus, topology, 1)

    await wait_depth(rabbit_bus, topology.dead_queue, 1)
    assert await _cli("resolve", entry.id, "--sent") == 0
    assert "recorded as sent" in capsys.readouterr().out
    assert await ledger.state("plan-1:0") is EntryState.DONE

    await wait_depth(rabbit_bus, topology.dead_queue, 1)
    assert await _cli("replay", entry.id) == 0
    assert f"replayed   {entry.id}" in capsys.readouterr().out
    back = await get_one(rabbit_bus, topology.writer_queue(int(entry.routing_key[-1])))
    assert decode_plan(back.message.body).attempt == 1
    await wait_depth(rabbit_bus, topology.dead_queue, 0)


@pytest.mark.usefixtures("env")
async def test_replay_of_nothing_or_of_an_unknown_id_fails(
    rabbit_bus: RabbitBus, topology: Topology, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _cli("replay") == 1
    assert "replay needs ids, a reason, or all" in capsys.readouterr().err
    assert await _cli("replay", "0123456789ab") == 1
    assert "not found  0123456789ab" in capsys.readouterr().out


@pytest.mark.usefixtures("env")
async def test_purge_by_age_and_reason_prints_what_it_removed(
    rabbit_bus: RabbitBus, topology: Topology, capsys: pytest.CaptureFixture[str]
) -> None:
    # DIED_AT is in the past: both are older than a week by the wall clock the CLI uses.
    await seed(rabbit_bus, topology, event_delivery(topology, 1), POISON, at=DIED_AT)
    await seed(rabbit_bus, topology, event_delivery(topology, 2), IN_DOUBT, at=DIED_AT)
    old_poison, old_in_doubt = await _entries(rabbit_bus, topology, 2)

    await wait_depth(rabbit_bus, topology.dead_queue, 2)
    assert await _cli("purge", "--older-than", "7d", "--reason", "poison") == 0
    out = capsys.readouterr().out
    assert f"removed    {old_poison.id}  2025-11-10 09:30:12  poison  chat-1" in out
    assert out.splitlines()[-1] == "1 removed"

    await wait_depth(rabbit_bus, topology.dead_queue, 1)
    assert await _cli("purge", old_in_doubt.id) == 0
    assert f"removed    {old_in_doubt.id}" in capsys.readouterr().out
    await wait_depth(rabbit_bus, topology.dead_queue, 0)

    with pytest.raises(SystemExit) as refused:
        await _cli("purge", "--older-than", "soon")
    assert refused.value.code == 2
    assert "expected an age like 30m, 12h or 7d" in capsys.readouterr().err


@pytest.mark.usefixtures("env")
async def test_purge_all_deletes_everything_and_purge_of_nothing_says_how(
    rabbit_bus: RabbitBus, topology: Topology, capsys: pytest.CaptureFixture[str]
) -> None:
    await seed(rabbit_bus, topology, event_delivery(topology, 1), POISON)
    await seed(rabbit_bus, topology, plan_delivery(topology), IN_DOUBT, at=DIED_AT + 1)
    entries = await _entries(rabbit_bus, topology, 2)

    await wait_depth(rabbit_bus, topology.dead_queue, 2)
    assert await _cli("purge") == 1  # no filter: nothing is purged by accident
    assert "purge needs ids, a reason, an age, or all" in capsys.readouterr().err
    await wait_depth(rabbit_bus, topology.dead_queue, 2)

    assert await _cli("purge", "--all") == 0
    out = capsys.readouterr().out
    assert all(f"removed    {e.id}" in out for e in entries)
    assert out.splitlines()[-1] == "2 removed"
    await wait_depth(rabbit_bus, topology.dead_queue, 0)
