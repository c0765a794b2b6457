"""RabbitMQ's nested `x-death` becomes flat `x-last-death-*` headers (worker/bus/deaths.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from worker.bus.amqp_messages import flat_headers
from worker.bus.deaths import latest_death

# What aio-pika hands over for a Plan that expired on a delay tier, then was rejected.
X_DEATH = [
    {
        "count": 1,
        "reason": "rejected",
        "queue": "t.writer.1",
        "time": datetime(2025, 11, 10, 9, 31, 0, tzinfo=UTC),
        "exchange": "t.commands",
        "routing-keys": ["shard.1"],
    },
    {
        "count": 1,
        "reason": "expired",
        "queue": "t.delay.10000ms",
        "time": datetime(2025, 11, 10, 9, 30, 50, tzinfo=UTC),
        "exchange": "t.delay.10000ms",
        "routing-keys": ["shard.1"],
    },
]


def test_the_newest_death_becomesflat_headers() -> None:
    assert latest_death(X_DEATH) == {
        "x-last-death-reason": "rejected",
        "x-last-death-queue": "t.writer.1",
        "x-last-death-exchange": "t.commands",
        "x-last-death-at-ms": 1_762_767_060_000,
    }


@pytest.mark.parametrize("odd", [None, "[...]", [], ["not a table"], 7])
def test_anything_else_is_no_death(odd: object) -> None:
    assert latest_death(odd) == {}


def test_the_transport_drops_the_list_and_keeps_the_brokers_own_last_death() -> None:
    raw = {
        "x-death": X_DEATH,
        "x-first-death-reason": "expired",
        "x-last-death-reason": "delivery_limit",  # RabbitMQ 3.13+ sets these itself
        "x-chat-id": b"c1",
    }
    assert flat_headers(raw) == {
        "x-first-death-reason": "expired",
        "x-last-death-reason": "delivery_limit",
        "x-last-death-queue": "t.writer.1",
        "x-last-death-exchange": "t.commands",
        "x-last-death-at-ms": 1_762_767_060_000,
        "x-chat-id": "c1",
    }
