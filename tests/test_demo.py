"""The demo tells the truth: its account matches what the service did, on both transports."""

from __future__ import annotations

from dataclasses import replace

import pytest

from worker.cli import main
from worker.demo import run_demo
from worker.settings import Settings

BASE = Settings(webhook_allow_unauthenticated=True, http_port=0)


def _summary(lines: list[str]) -> str:
    return next(line.strip() for line in lines if line.strip().startswith("Summary:"))


async def test_demo_on_the_embedded_transport() -> None:
    lines: list[str] = []
    assert await run_demo(BASE, lines.append, None) == 0
    text = "\n".join(lines)
    assert "transport embedded" in text
    assert _summary(lines) == (
        "Summary: 22 x 202, 2 x 400, 2 x 401, 1 x 413, 1 x 503; 22 events stored on the bus."
    )
    assert "chatAssigned (Yossi Levi)" in text


async def test_demo_on_rabbitmq(amqp_url: str) -> None:
    lines: list[str] = []
    assert await run_demo(replace(BASE, amqp_url=amqp_url), lines.append, None) == 0
    # No simulated outage on a real broker: 21 accepted, every one stored.
    assert _summary(lines) == (
        "Summary: 21 x 202, 2 x 400, 2 x 401, 1 x 413; 21 events stored on the bus."
    )


@pytest.mark.parametrize("args", [["demo", "--help"]])
def test_demo_has_help(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(args)
    assert "--keep-running" in capsys.readouterr().out
