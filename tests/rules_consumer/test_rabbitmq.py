"""The rules consumer on the real broker, with the shipped example rules.

Acceptance: fixture events in through the ingress, exactly the Plans the engine computes come out
on `<ns>.commands` (the writer queues), in per-chat order; a redelivered event yields Plans with
the same ids and step keys. The engine's `now` is the event's receive time (`x-received-at-ms`,
which the consumer copies onto each Plan message), not the consumer's clock.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from consumers.rules import load_rules
from producers.ingress.envelope import Accepted, parse_webhook
from simulator.samples import webhook_body, webhook_names
from tests.rules_consumer.harness import Pipeline, event, pipeline, write_rules
from worker.bus import Delivery
from worker.bus.rabbitmq import RabbitBus
from worker.plans import Plan, decode_plan

EXAMPLE = Path(__file__).parents[2] / "rules.example.yaml"
NOW = 1_790_000_000.0  # the consumer's clock: not what the Plans are built at
NOW_MS = int(NOW * 1000)


@pytest.fixture
async def rabbit_pipe(amqp_url: str, namespace: str) -> AsyncIterator[Pipeline]:
    bus = await RabbitBus.connect(amqp_url, connect_timeout=5)
    try:
        async with pipeline(namespace, EXAMPLE, bus, clock=lambda: NOW) as pipe:
            yield pipe
            await bus.delete(pipe.ingress.topology)
    finally:
        await bus.close()


def _expected(name: str, received_ms: int) -> list[Plan]:
    """What the pure engine plans for one sample event received at `received_ms` (no echo, no
    once-per-chat history)."""
    body = webhook_body(name)
    parsed = parse_webhook(body)
    assert isinstance(parsed, Accepted)
    doc = json.loads(body)
    result = load_rules(EXAMPLE).evaluate(
        name,
        doc["eventData"],
        dedup_key=parsed.dedup_key,
        chat_id=parsed.chat_id,
        now=datetime.fromtimestamp(received_ms / 1000, UTC),
    )
    return result.plans


def _dedup_key(name: str) -> str:
    parsed = parse_webhook(webhook_body(name))
    assert isinstance(parsed, Accepted)
    return parsed.dedup_key


def _received(delivery: Delivery) -> int:
    received = delivery.message.headers["x-received-at-ms"]
    assert isinstance(received, int)
    return received


async def test_example_rules_turn_fixtures_into_the_expected_plans(
    rabbit_pipe: Pipeline,
) -> None:
    names = {_dedup_key(name): name for name in webhook_names()}
    count = sum(len(_expected(name, NOW_MS)) for name in webhook_names())
    assert count >= 5  # the example rules do match the samples
    for name in webhook_names():
        assert (await rabbit_pipe.ingress.post(webhook_body(name))).status == 202
    deliveries = await rabbit_pipe.drain(rabbit_pipe.ingress.topology.writer_queues, count)
    assert len({d.message.message_id for d in deliveries}) == count  # each Plan once
    for d in deliveries:
        got = decode_plan(d.message.body)
        assert got in _expected(names[got.cause_event_id or ""], _received(d))

    # Texter delivers one event again: the same Plans, with the same ids and step keys.
    await rabbit_pipe.ingress.post(webhook_body("newIncomingMessage"))
    again = await rabbit_pipe.drain(
        rabbit_pipe.ingress.topology.writer_queues, len(_expected("newIncomingMessage", NOW_MS))
    )
    assert [decode_plan(d.message.body) for d in again] == _expected(
        "newIncomingMessage", _received(again[0])
    )


async def test_per_chat_order_on_the_broker(amqp_url: str, namespace: str, tmp_path: Path) -> None:
    rules = write_rules(
        tmp_path,
        "rules:\n  - name: tag\n    on: chatPending\n    do:\n      - labels: {add: [seen]}\n",
    )
    bus = await RabbitBus.connect(amqp_url, connect_timeout=5)
    try:
        async with pipeline(namespace, rules, bus) as pipe:
            for n in range(40):
                await pipe.ingress.post(
                    event("chatPending", f"chat-{n % 4}", updatedAt=f"t{n:02d}")
                )
            plans = await pipe.plans(40)
            await bus.delete(pipe.ingress.topology)
    finally:
        await bus.close()
    by_chat: dict[str, list[str]] = {}
    for plan in plans:
        by_chat.setdefault(plan.chat_id or "", []).append(plan.cause_event_id or "")
    assert len(by_chat) == 4
    for causes in by_chat.values():
        assert causes == sorted(causes)
