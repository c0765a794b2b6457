"""The parsed view of a dead letter: what `dlq list` shows, its id, where replay sends it."""

from __future__ import annotations

from dataclasses import replace

from tests.dlq.support import CHAT, DIED_AT, IN_DOUBT, event_delivery, plan_delivery
from worker.bus import Delivery, Message, build_topology
from worker.deadletters import (
    DeadLetter,
    Why,
    dead_letter_id,
    dead_letter_message,
    living_headers,
    original_message_id,
)

TOPOLOGY = build_topology("t", 2)


def _in_dlq(message: Message) -> Delivery:
    return Delivery(message, TOPOLOGY.dead_queue, TOPOLOGY.dead_exchange)


def test_a_consumer_made_dead_letter_reads_back_in_full() -> None:
    dead = dead_letter_message(plan_delivery(TOPOLOGY), IN_DOUBT, now=DIED_AT)
    entry = DeadLetter.of(_in_dlq(dead))

    assert entry.at == DIED_AT
    assert (entry.reason, entry.source, entry.chat, entry.rule) == (
        "in_doubt",
        "writer",
        CHAT,
        "welcome",
    )
    assert (entry.step, entry.step_key, entry.attempts) == (0, "plan-1:0", 3)
    assert entry.error == "timeout after the send left"
    assert dead.message_id == "plan-1:a3:welcome"  # the suffix dead-lettering adds ...
    assert entry.message_id == "plan-1:a3"  # ... is not part of the original id
    assert (entry.exchange, entry.routing_key) == (TOPOLOGY.commands_exchange, dead.routing_key)
    assert entry.replays == 0


def test_a_broker_made_dead_letter_reads_back_with_the_death_time_of_x_death() -> None:
    event = event_delivery(TOPOLOGY).message
    x_death = (
        "[{'count': 1, 'reason': 'rejected', 'queue': 't.rules.0', 'time': "
        "datetime.datetime(2025, 11, 10, 9, 30, 12, tzinfo=datetime.timezone.utc), "
        "'exchange': 't.events', 'routing-keys': ['shard.0']}]"
    )
    headers = {
        **event.headers,
        "x-first-death-reason": "rejected",
        "x-first-death-queue": "t.rules.0",
        "x-first-death-exchange": "t.events",
        "x-death": x_death,
    }
    entry = DeadLetter.of(_in_dlq(replace(event, headers=headers)))

    assert (entry.reason, entry.source) == ("rejected", "broker")
    assert entry.at == 1_762_767_012.0  # 2025-11-10 09:30:12 UTC
    assert entry.error == "a consumer of t.rules.0 failed on it (unexpected error: see its logs)"
    assert (entry.exchange, entry.routing_key, entry.message_id) == (
        "t.events",
        event.routing_key,
        "event-1",
    )


def test_without_x_death_a_broker_made_dead_letter_is_dated_by_its_publish_time() -> None:
    event = event_delivery(TOPOLOGY).message
    headers = {**event.headers, "x-first-death-reason": "delivery_limit"}
    entry = DeadLetter.of(_in_dlq(replace(event, headers=headers)))
    assert (entry.at, entry.reason) == (event.timestamp, "delivery_limit")


def test_the_id_is_stable_and_tells_deaths_apart() -> None:
    source = event_delivery(TOPOLOGY)
    first = _in_dlq(dead_letter_message(source, Why("rule_error", "x", "rules", "r"), DIED_AT))
    again = _in_dlq(dead_letter_message(source, Why("rule_error", "x", "rules", "r"), DIED_AT))
    later = _in_dlq(dead_letter_message(source, Why("rule_error", "x", "rules", "r"), DIED_AT + 1))
    other_rule = _in_dlq(dead_letter_message(source, Why("rule_error", "x", "rules", "s"), DIED_AT))
    replayed = replace(
        first, message=replace(first.message, headers={**first.message.headers, "x-replays": 1})
    )

    ids = {dead_letter_id(d) for d in (first, later, other_rule, replayed)}
    assert len(ids) == 4
    assert dead_letter_id(first) == dead_letter_id(again)
    assert len(dead_letter_id(first)) == 12
    assert int(dead_letter_id(first), 16) >= 0


def test_living_headers_drop_every_record_of_a_death() -> None:
    dead = dead_letter_message(plan_delivery(TOPOLOGY), IN_DOUBT, now=DIED_AT)
    headers = {**dead.headers, "x-first-death-queue": "q", "x-death": "[...]", "x-replays": 2}
    assert living_headers(headers) == {
        "x-chat-id": CHAT,
        "x-rule": "welcome",
        "x-received-at-ms": 1,
        "x-replays": 2,
    }


def test_the_original_id_of_dead_letters_made_before_the_header_existed() -> None:
    dead = dead_letter_message(event_delivery(TOPOLOGY), Why("rule_error", "x", "rules", "r"))
    headers = {k: v for k, v in dead.headers.items() if k != "x-original-message-id"}
    assert original_message_id(replace(dead, headers=headers)) == "event-1"
