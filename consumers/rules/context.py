"""The names a condition or template sees for one event.

The event's `eventData` keys are top-level names, as plain dicts and lists decoded from the raw
JSON, so users write Texter's own field names (`chat.channelInfo.id`, `message.text`). Added:
`event_name`, and the evaluation time as `now` (an aware UTC datetime), `now_iso` and `now_ms`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec

_decoder = msgspec.json.Decoder()


def build_context(
    event_name: str,
    event_data: Mapping[str, Any],
    now: datetime,
    base: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """`base`: names under the event's (the sandbox globals, see Sandbox.globals)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    utc = now.astimezone(UTC)
    return {
        **(base or {}),
        **event_data,
        "event_name": event_name,
        "now": utc,
        "now_iso": utc.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "now_ms": int(utc.timestamp() * 1000),
    }


def decode_raw_event(body: bytes) -> tuple[str, dict[str, Any]]:
    """(eventName, eventData) of a webhook body, as plain JSON values.

    Raises ValueError when the body is not a JSON object with a string `eventName` and an
    object `eventData` (the ingress accepts nothing else, so on the bus this means poison)."""
    try:
        doc = _decoder.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ValueError("the event is not a JSON object")
    name, data = doc.get("eventName"), doc.get("eventData")
    if not isinstance(name, str) or not isinstance(data, dict):
        raise ValueError("the event needs a string eventName and an object eventData")
    return name, data
