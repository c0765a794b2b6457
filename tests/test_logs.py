"""Log lines are structured, carry their ids, and hide phones and secrets unless LOG_PII=true."""

from __future__ import annotations

import io
import json

import structlog

from worker.logs import configure_logging


def _line(pii: bool, **fields: object) -> dict[str, object]:
    out = io.StringIO()
    configure_logging("info", "json", out, pii=pii)
    try:
        structlog.contextvars.bind_contextvars(chat_id="6650f1a2b3c4d5e6f7a8b9c0")
        structlog.get_logger("t").info("writer.step", **fields)
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.reset_defaults()
    parsed: dict[str, object] = json.loads(out.getvalue())
    return parsed


def test_phones_and_secrets_are_masked_by_default() -> None:
    line = _line(
        False,
        error="HTTP 400: phone 972521234567 is not on WhatsApp (+972541112233)",
        to="972521234567",
        headers={"Authorization": "Bearer abc", "X-Source": "texter-worker"},
        api_token="tok-123",
        wamid="wamid.HBgMOTcyNTIxMjM0NTY3FQIAEhgU",
    )
    assert line["error"] == "HTTP 400: phone 972***567 is not on WhatsApp (972***233)"
    assert line["to"] == "972***567"
    assert line["headers"] == {"Authorization": "***", "X-Source": "texter-worker"}
    assert line["api_token"] == "***"
    assert line["wamid"] == "wamid.HBgMOTcyNTIxMjM0NTY3FQIAEhgU"  # an id, not a phone
    assert line["chat_id"] == "6650f1a2b3c4d5e6f7a8b9c0"  # ids stay readable
    assert line["event"] == "writer.step"
    assert line["level"] == "info"


def test_log_pii_true_keeps_phones() -> None:
    line = _line(True, to="972521234567")
    assert line["to"] == "972521234567"
