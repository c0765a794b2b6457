"""The writer against the fake Texter, on both transports: once, in order, or a dead letter."""

from __future__ import annotations

import json
from pathlib import Path

from aiohttp import web

import worker.plans as p
from simulator.server import FakeTexter
from tests.writer.harness import TOKEN, Writer, writer
from worker.bus import Bus, Message
from worker.bus.topology import routing_key
from worker.deadletters import reason_of
from worker.plans import Plan, decode_plan
from worker.state.ledger import EntryState
from worker.state.sqlite_ledger import SQLiteLedger


def four_steps(chat: str, plan_id: str = "plan4") -> Plan:
    return Plan(
        id=plan_id,
        chat_id=chat,
        source="test",
        rule="r",
        steps=[
            p.Labels(idempotency_key=f"{plan_id}:0", add=["lead"]),
            p.UpdateCrm(idempotency_key=f"{plan_id}:1", data={"stage": "new"}),
            p.SendMessage(idempotency_key=f"{plan_id}:2", type="text", text="שלום!"),
            p.Resolve(idempotency_key=f"{plan_id}:3"),
        ],
    )


async def test_a_plan_runs_its_steps_in_order_once(w: Writer, tmp_path: Path) -> None:
    chat = w.chat("Yossi Levi")
    await w.submit(four_steps(chat))
    await w.until_answered("/resolve", 1)
    paths = [c.path.rsplit("/", 1)[-1] for c in w.fake.calls if c.method == "POST"]
    assert paths == ["labels", "crm-data", chat, "resolve"]
    send = next(c for c in w.fake.calls if "/messages/send/" in c.path)
    assert send.body["tmpSendId"] == "plan4:2"
    assert w.fake.state.chats[chat].labels[-1] == "lead"
    # The echoes these writes cause will be recognised by the rules:
    assert await w.memory.get(f"echo:{chat}:send") == "plan4:2"
    assert await w.memory.get(f"echo:{chat}:label+:lead") == "plan4:0"
    assert await w.memory.get(f"echo:{chat}:resolve") == "plan4:3"


async def test_third_step_503_twice_goes_through_the_delay_tiers(w: Writer) -> None:
    """Acceptance: steps 1-2 run once, 3-4 once each after the delays; calls counted."""
    chat = w.chat("Yossi Levi")
    w.fake.set_faults(errors=2, error_status=503, paths=["/messages/send/"])
    await w.submit(four_steps(chat))
    await w.until_plans("done", 1)  # the writer's own count: the fake answers a moment earlier
    assert w.answered("/labels") == 1
    assert w.answered("/crm-data") == 1
    assert w.answered("/messages/send/", 503) == 2
    assert w.answered("/messages/send/", 200) == 1
    assert w.answered("/resolve") == 1
    assert w.plans_counted("retry_later") == 2
    assert w.plans_counted("done") == 1


async def test_a_redelivered_plan_repeats_nothing(w: Writer) -> None:
    chat = w.chat("Yossi Levi")
    await w.submit(four_steps(chat))
    await w.until_plans("done", 1)
    await w.submit(four_steps(chat))  # the same Plan again (a redelivery, a replay)
    await w.until_plans("done", 2)
    assert [w.answered(x) for x in ("/labels", "/crm-data", "/messages/send/", "/resolve")] == [
        1,
        1,
        1,
        1,
    ]
    assert w.metrics.writer.steps.labels("send_message", "skipped")._value.get() == 1


async def test_permanent_failure_dead_letters_the_rest_of_the_plan(w: Writer) -> None:
    chat = w.chat("Dana Cohen")  # last wrote 2 days ago: the 24-hour window is closed
    await w.submit(four_steps(chat, "closed"))
    [dead] = await w.dead(1)
    assert reason_of(dead) == "permanent"
    assert dead.message.headers["x-dead-step-key"] == "closed:2"
    assert "24-hour" in str(dead.message.headers["x-dead-error"])
    rest = decode_plan(dead.message.body)
    assert [s.idempotency_key for s in rest.steps] == ["closed:2", "closed:3"]
    assert w.answered("/labels") == 1
    assert w.answered("/resolve") == 0
    assert w.metrics.writer.dead_letters.labels("permanent")._value.get() == 1


async def test_ambiguous_send_is_in_doubt_and_never_repeated(
    namespace: str, bus: Bus, fake: FakeTexter, tmp_path: Path
) -> None:
    async with writer(namespace, bus, fake, tmp_path, texter_timeout=0.3) as w:
        chat = w.chat("Yossi Levi")
        fake.set_faults(timeouts=1, hang=3, paths=["/messages/send/"])
        await w.submit(four_steps(chat, "doubt"))
        [dead] = await w.dead(1)
        assert reason_of(dead) == "in_doubt"
        assert dead.message.headers["x-dead-step-key"] == "doubt:2"
        # Replaying it as is must not send again: the claim is still open.
        await w.submit(decode_plan(dead.message.body))
        [again] = await w.dead(1)
        assert reason_of(again) == "in_doubt"
        assert w.answered("/messages/send/", None) == 1
    ledger = await SQLiteLedger.open(tmp_path, horizon=3600)
    try:
        assert await ledger.state("doubt:2") is EntryState.CLAIMED
        assert await ledger.state("doubt:1") is EntryState.DONE
    finally:
        await ledger.close()


async def test_a_send_answered_2xx_with_an_odd_body_is_in_doubt_never_resent(
    namespace: str, bus: Bus, fake: FakeTexter, tmp_path: Path
) -> None:
    """Texter said 2xx, so the message most likely went out: the claim must stay, or a replay
    of a `permanent` dead letter would send it a second time."""
    async with writer(namespace, bus, fake, tmp_path) as w:
        chat = w.chat("Yossi Levi")
        fake.set_faults(bad_bodies=1, bad_body="<html>hello</html>", paths=["/messages/send/"])
        await w.submit(four_steps(chat, "odd"))
        [dead] = await w.dead(1)
        assert reason_of(dead) == "in_doubt"
        assert dead.message.headers["x-dead-step-key"] == "odd:2"
        await w.submit(decode_plan(dead.message.body))  # a replay as is
        [again] = await w.dead(1)
        assert reason_of(again) == "in_doubt"
        assert w.answered("/messages/send/", None) == 1
    ledger = await SQLiteLedger.open(tmp_path, horizon=3600)
    try:
        assert await ledger.state("odd:2") is EntryState.CLAIMED
    finally:
        await ledger.close()


async def test_retries_exhausted_after_the_last_tier(w: Writer) -> None:
    chat = w.chat("Yossi Levi")
    w.fake.set_faults(errors=100, error_status=503, paths=["/crm-data"])
    await w.submit(four_steps(chat, "storm"))
    [dead] = await w.dead(1)
    assert reason_of(dead) == "retries_exhausted"
    assert w.answered("/crm-data", 503) == 4  # attempt 1 + one per tier (3 tiers)
    assert w.answered("/labels") == 1
    assert decode_plan(dead.message.body).attempt == 4


async def test_poison_plan_is_dead_lettered(w: Writer) -> None:
    bad = Message(body=b'{"id": "x", "steps": []}', routing_key=routing_key(0), message_id="x")
    await w.bus.publish(w.topology.commands_exchange, bad, timeout=5)
    [dead] = await w.dead(1)
    assert reason_of(dead) == "poison"
    assert dead.message.body == bad.body


async def test_retry_after_is_honoured_through_the_delay(w: Writer) -> None:
    chat = w.chat("Yossi Levi")
    w.fake.set_faults(errors=1, error_status=429, error_retry_after="1", paths=["/labels"])
    await w.submit(four_steps(chat, "slow"))
    await w.until_answered("/resolve", 1)
    limited, ok = [c for c in w.fake.calls if "/labels" in c.path]
    assert (limited.status, ok.status) == (429, 200)
    assert ok.at - limited.at >= 1.0  # never earlier than Texter allowed
    assert w.plans_counted("parked") >= 1  # the 100 ms tier was too short: parked again


async def test_http_step_posts_json_without_the_texter_token(w: Writer) -> None:
    seen: list[tuple[dict[str, str], object]] = []

    async def crm(request: web.Request) -> web.Response:
        seen.append((dict(request.headers), await request.json()))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_put("/contacts/{id}", crm)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        plan = Plan(
            id="crm",
            chat_id=w.chat("Yossi Levi"),
            source="test",
            steps=[
                p.Http(
                    idempotency_key="crm:0",
                    url=f"http://127.0.0.1:{port}/contacts/7",
                    method="PUT",
                    json={"vip": True},
                    headers={"X-Api-Key": "k"},
                ),
            ],
        )
        await w.submit(plan)
        await w.until_plans("done", 1)
    finally:
        await runner.cleanup()
    [(headers, body)] = seen
    assert body == {"vip": True}
    assert headers["X-Api-Key"] == "k"
    assert TOKEN not in json.dumps(headers)
