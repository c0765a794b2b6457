"""Log lines are structured, carry their ids, and hide phones and secrets unless LOG_PII=true."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog

from worker.demo import running_demo
from worker.demo.observer import Observer
from worker.demo.scenario import SCENARIO, Stage
from worker.logs import configure_logging, mask_pii
from worker.metrics import Metrics
from worker.settings import Settings

OPERATIONS = Path(__file__).resolve().parents[1] / "docs" / "operations.md"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging() replaces structlog's and the root logger's set-up: put them back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.reset_defaults()
        root.handlers[:] = handlers
        root.setLevel(level)


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


def test_phones_and_secrets_are_masked_by_default(restore_logging: None) -> None:
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


def test_a_phone_in_a_traceback_is_masked_and_hebrew_stays_readable(
    restore_logging: None,
) -> None:
    out = io.StringIO()
    configure_logging("info", "json", out)
    try:
        raise ValueError("Texter refused 972521234567")
    except ValueError:
        structlog.get_logger("t").exception("writer.crashed", text="שלום 972541112233")
    logging.getLogger("aiormq").error("lost %s", "972521234567", exc_info=ValueError("x"))
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert "Texter refused 972***567" in first["exception"]
    assert "972521234567" not in out.getvalue()
    assert first["text"] == "שלום 972***233"
    assert "שלום" in out.getvalue()  # UTF-8, not \u escapes: readable in any log viewer
    assert (second["event"], second["logger"]) == ("lost 972***567", "aiormq")


def test_log_pii_true_keeps_phones(restore_logging: None) -> None:
    line = _line(True, to="972521234567", text="call me on +972 54-123-4567")
    assert line["to"] == "972521234567"
    assert line["text"] == "call me on +972 54-123-4567"


PHONES = [
    # as people write them, with spaces and dashes
    ("+972 54-123-4567", "972***567"),
    ("+972-54-123-4567", "972***567"),
    ("054-1234567", "054***567"),
    ("054 123 4567", "054***567"),
    ("03-1234567", "031***567"),
    ("+972 541234567", "972***567"),
    ("+1 415-555-0100", "141***100"),
    ("+44 20 7946 0958", "442***958"),
    ("call 054-1234567.", "call 054***567."),
    ("(+972 54-123-4567)", "(972***567)"),
    ("to +972 54-123-4567, or 054-765-4321", "to 972***567, or 054***321"),
    # as WhatsApp ids carry them
    ("972521234567", "972***567"),
    ("+972541112233", "972***233"),
    ("to=972521234567,", "to=972***567,"),
    ("phone 972521234567.", "phone 972***567."),
]
NOT_PHONES = [
    "2025-11-10T15:20:00.318Z",
    "2025-11-10 15:20:00",
    "2025-11-10 15:20:00+02:00",
    "01-11-2025 15:20",
    "10/11/2025 15:20",
    "2025-11-10",
    "0b9f6c1e-0000-4000-8000-000000000001",
    "12345678-1234-1234-1234-123456789012",
    "6650f1a2b3c4d5e6f7a8b9c0",
    "665012345678901234abcdef",
    "chatLabelsUpdated:6650f1a2b3c4d5e6f7a8ba20:2025-11-10T15:20:00.318Z",
    "wamid.HBgMOTcyNTIxMjM0NTY3FQIAEhgU",
    "1712345678.123",
    "1500ms",
    "0.25s",
    "2h 30m",
    "PT15M",
    "texter.delay.10000ms",
    "0 25 50 100 250",
    "0.2 0.5 1.0",
    "took 0.025 s, 3 retries",
    "HTTP 503",
    "version 0.4.2",
    "https://example.com/orders/0123-4567-8901",
]


@pytest.mark.parametrize(("text", "masked"), PHONES)
def test_phone_numbers_are_masked_however_written(text: str, masked: str) -> None:
    assert mask_pii(None, "info", {"event": "x", "error": text})["error"] == masked


@pytest.mark.parametrize("text", NOT_PHONES)
def test_dates_ids_and_durations_are_not_phones(text: str) -> None:
    assert mask_pii(None, "info", {"event": "x", "error": text})["error"] == text


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_format_is_json_when_not_a_terminal(restore_logging: None) -> None:
    piped, terminal = io.StringIO(), _Terminal()
    for stream in (piped, terminal):
        configure_logging("info", "auto", stream)
        structlog.get_logger("t").info("webhook", status=202)
    line = json.loads(piped.getvalue())
    assert (line["event"], line["status"], line["level"]) == ("webhook", 202, "info")
    with pytest.raises(json.JSONDecodeError):  # a terminal gets the console renderer
        json.loads(terminal.getvalue())
    assert "webhook" in terminal.getvalue()


def documented_fields() -> dict[str, set[str]]:
    """The `## Logs` table of docs/operations.md: each line's event and the fields it carries."""
    section = OPERATIONS.read_text(encoding="utf-8").split("\n## Logs\n", 1)[1].split("\n## ")[0]
    table: dict[str, set[str]] = {}
    for row in section.splitlines():
        if row.startswith("| `"):
            event, _when, fields = (cell.strip() for cell in row.strip("|").split("|"))
            table[event.strip("`")] = set(re.findall(r"`(\w+)`", fields))
    assert table, "no Logs table in docs/operations.md"
    return table


async def _price_question_with_a_texter_blip(tmp_path: Path) -> tuple[list[dict[str, Any]], str]:
    """Yossi asks for the price while Texter answers 503 twice: every layer logs, the Plan's
    first step fails, the rest is parked and runs as attempt 2. The JSON lines, and his chat."""
    out = io.StringIO()
    configure_logging("info", "json", out)
    metrics = Metrics.create()
    base = Settings(webhook_allow_unauthenticated=True, http_port=0)
    async with running_demo(base, tmp_path, metrics) as demo:
        world = demo.world
        world.fake.set_faults(errors=2, paths=["/labels"])
        async with aiohttp.ClientSession() as http:
            await SCENARIO[0].act(Stage(world, http, demo.webhook_url))
        observer = Observer(metrics, world.fake, world.catcher)
        await observer.settle(demo.running.state.bus, demo.running.topology)
        chat_id = world.chat_id("Yossi Levi")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    return lines, chat_id


async def test_each_layer_logs_its_ids(tmp_path: Path, restore_logging: None) -> None:
    """webhook -> rules.event -> writer lines, tied by event_id, with the documented fields.
    The writer and the rules bind their ids with structlog contextvars; without the binding
    these lines lose event_id, rule and attempt."""
    lines, chat_id = await _price_question_with_a_texter_blip(tmp_path)
    documented = documented_fields()

    def of(event: str, **match: object) -> list[dict[str, Any]]:
        found = [
            line
            for line in lines
            if line["event"] == event and all(line.get(k) == v for k, v in match.items())
        ]
        for line in found:
            assert documented[event] <= set(line), f"{event} misses {documented[event] - set(line)}"
        return found

    [webhook] = of("webhook", event_name="newIncomingMessage", status=202)
    event_id = webhook["event_id"]
    assert event_id.startswith("newIncomingMessage:")
    assert webhook["chat_id"] == chat_id

    [decided] = of("rules.event", event_id=event_id)
    assert (decided["chat_id"], decided["plans"]) == (chat_id, ["sales-leads"])

    ids = {"event_id": event_id, "chat_id": chat_id, "rule": "sales-leads"}
    [failed] = of("writer.step_failed", **ids)
    assert (failed["action"], failed["kind"], failed["attempt"]) == ("labels", "transient", 1)
    [parked] = of("writer.plan_parked", **ids)
    assert (parked["attempt"], parked["next_attempt"]) == (1, 2)
    steps = of("writer.step", **ids)
    assert [(s["action"], s["outcome"], s["attempt"]) for s in steps] == [
        ("labels", "done", 2),
        ("assign", "done", 2),
        ("send_message", "done", 2),
        ("send_message", "done", 2),
    ]
    assert len({s["plan_id"] for s in [failed, parked, *steps]}) == 1
    assert len({s["step_key"] for s in steps}) == 4
