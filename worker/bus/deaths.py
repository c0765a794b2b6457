"""How a dead-lettered message says where it died: flat headers, the same on both transports.

RabbitMQ records deaths in `x-death`, a list of tables, newest first, and (3.13 and later)
in `x-last-death-reason/-queue/-exchange`; `x-first-death-*` keep the first death forever.
A Plan that waited on a delay tier has died once already (`expired`), so the first death is
the wrong one to report when it dies again. Consumers see the latest death as flat headers:

    x-last-death-reason    rejected, delivery_limit, expired, maxlen
    x-last-death-queue     the queue it died in
    x-last-death-exchange  the exchange it had been published (or dead-lettered) to
    x-last-death-at-ms     when (epoch ms), which RabbitMQ records only inside x-death

The RabbitMQ transport derives them from `x-death` (the broker's own `x-last-death-*` win
when present) and drops the nested list, which a flat header cannot hold; the embedded
transport writes them on every death.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from worker.bus.interface import HeaderValue

LAST_DEATH_PREFIX = "x-last-death-"


def death_headers(reason: str, queue: str, exchange: str, at_ms: int) -> dict[str, HeaderValue]:
    """The flat record of one death (the embedded transport's, and what `x-death` becomes)."""
    return {
        "x-last-death-reason": reason,
        "x-last-death-queue": queue,
        "x-last-death-exchange": exchange,
        "x-last-death-at-ms": at_ms,
    }


def latest_death(x_death: Any) -> dict[str, HeaderValue]:
    """The newest entry of RabbitMQ's `x-death` list as flat headers ({} when it is not one)."""
    if not isinstance(x_death, list) or not x_death or not isinstance(x_death[0], Mapping):
        return {}
    newest = x_death[0]
    flat: dict[str, HeaderValue] = {}
    for field in ("reason", "queue", "exchange"):
        value = newest.get(field)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str):
            flat[LAST_DEATH_PREFIX + field] = value
    died = newest.get("time")
    if isinstance(died, datetime):
        flat["x-last-death-at-ms"] = int(died.timestamp() * 1000)
    return flat
