"""The parsed view of a dead letter: what `dlq list` shows, its id, where replay sends it."""

from __future__ import annotations

from dataclasses import replace

import pytest

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


def test_a_broker_made_dead_letter_reads_back_with_its_death_time() -> None:
    event = event_delivery(TOPOLOGY).message
    headers = {
        **event.headers,
        "x-first-death-reason": "rejected",
        "x-first-death-queue": "t.rules.0",
        "x-first-death-exchange": "t.events",
        # what both transports make of the broker's x-death (worker/bus/deaths.py)
        "x-last-death-reason": "rejected",
        "x-last-death-queue": "t.rules.0",
        "x-last-death-exchange": "t.events",
        "x-last-death-at-ms": 1_762_767_012_000,  # 2025-11-10 09:30:12 UTC
    }
    entry = DeadLetter.of(_in_dlq(replace(event, headers=headers)))

    assert (entry.reason, entry.source) == ("rejected", "broker")
    assert entry.at == 1_762_767_012.0
    assert entry.error == "a consumer of t.rules.0 failed on it (unexpected error: see its logs)"
    assert (entry.exchange, entry.routing_key, entry.message_id) == (
        "t.events",
        event.routing_key,
        "event-1",
    )


def test_without_a_death_time_a_broker_made_dead_letter_is_dated_by_its_publish_time() -> None:
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
    headers = {
        **dead.headers,
        "x-first-death-queue": "q",
        "x-last-death-reason": "rejected",
        "x-last-death-at-ms": 1,
        "x-replays": 2,
    }
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


# --- the latest death, whoever recorded it ---------------------------------------------------

# What a Plan that waited on a delay tier, went back to the writer and was rejected there
# carries (RabbitMQ 3.10's x-death, flattened by the transport): x-first-death-* still describe
# the expiry on the delay tier, x-last-death-* the rejection.
REJECTED_AFTER_A_DELAY: dict[str, str | int | bool] = {
    "x-last-death-reason": "rejected",
    "x-last-death-queue": "t.writer.1",
    "x-last-death-exchange": "t.commands",
    "x-last-death-at-ms": 1_762_767_060_000,  # 09:31:00
}
EXPIRED_FIRST: dict[str, str | int | bool] = {
    "x-first-death-reason": "expired",
    "x-first-death-queue": "t.delay.10000ms",
    "x-first-death-exchange": "t.delay.10000ms",
}


def _broker_dead_plan(headers: dict[str, str | int | bool], body: bytes | None = None) -> Delivery:
    """An external producer's Plan (no type, no x-chat-id) as the broker dead-lettered it."""
    plan = plan_delivery(TOPOLOGY).message
    return _in_dlq(replace(plan, type="", headers=headers, body=body or plan.body))


def test_the_latest_death_wins_over_the_first() -> None:
    entry = DeadLetter.of(_broker_dead_plan({**EXPIRED_FIRST, **REJECTED_AFTER_A_DELAY}))
    assert (entry.reason, entry.source) == ("rejected", "broker")
    assert entry.error == "a consumer of t.writer.1 failed on it (unexpected error: see its logs)"
    assert entry.exchange == "t.commands"  # not the delay tier
    assert entry.at == 1_762_767_060.0  # 09:31:00, the rejection


def test_the_latest_death_alone_still_names_the_death() -> None:
    """A message republished without x-first-death-*: the broker adds none when it dies again."""
    entry = DeadLetter.of(_broker_dead_plan(dict(REJECTED_AFTER_A_DELAY)))
    assert (entry.reason, entry.source, entry.exchange) == ("rejected", "broker", "t.commands")


def test_consumer_made_reasons_win_over_the_brokers_record() -> None:
    dead = dead_letter_message(plan_delivery(TOPOLOGY), IN_DOUBT, now=DIED_AT)
    headers = {**dead.headers, **EXPIRED_FIRST, **REJECTED_AFTER_A_DELAY}
    entry = DeadLetter.of(_in_dlq(replace(dead, headers=headers)))
    assert (entry.reason, entry.source, entry.exchange) == ("in_doubt", "writer", "t.commands")


# --- the chat of a Plan that came without x-chat-id --------------------------------------------


def test_a_plan_without_x_chat_id_shows_the_chat_of_its_body() -> None:
    entry = DeadLetter.of(_broker_dead_plan({**EXPIRED_FIRST, **REJECTED_AFTER_A_DELAY}))
    assert entry.chat == CHAT


def test_only_plans_are_read_for_a_chat() -> None:
    event = event_delivery(TOPOLOGY).message
    body = b'{"eventName": "chatPending", "chat_id": "not-a-plan-field"}'
    headers = {"x-first-death-reason": "rejected", "x-first-death-exchange": "t.events"}
    entry = DeadLetter.of(_in_dlq(replace(event, headers=headers, body=body)))
    assert entry.chat is None


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"chat_id": 7}',
        b'{"steps": ' + b"[" * 50_000 + b"]" * 50_000 + b', "chat_id": "c"}',
    ],
    ids=["not-json", "not-an-object", "not-a-string", "nested-too-deep"],
)
def test_a_body_that_is_no_plan_shows_no_chat_and_raises_nothing(body: bytes) -> None:
    headers = {"x-first-death-reason": "rejected", "x-first-death-exchange": "t.commands"}
    assert DeadLetter.of(_broker_dead_plan(headers, body)).chat is None
