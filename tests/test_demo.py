"""The demo tells the truth: the whole service against the fake Texter, on both transports."""

from __future__ import annotations

from dataclasses import replace

import pytest

from worker.cli import main
from worker.demo import run_demo
from worker.settings import Settings

BASE = Settings(webhook_allow_unauthenticated=True, http_port=0)


def _check_story(lines: list[str]) -> None:
    text = "\n".join(lines)
    assert "sales-leads (newIncomingMessage)" in text
    assert "appointments (newIncomingMessage)" in text
    assert "agent-intro (chatAssigned)" in text  # an agent's take is never taken for an echo
    assert "vip-crm (chatLabelsUpdated)" in text
    assert "survey-after-resolve (chatResolvedByAgent)" in text
    assert "held back survey-after-resolve on chatResolvedByAgent (once per chat)" in text
    assert "held back vip-crm on chatLabelsUpdated (echo)" in text  # our own label change
    assert "rejected 401" in text
    assert "opt-out (newIncomingMessage)" in text
    total = next(line for line in lines if "webhooks," in line and "plans," in line)
    assert total.strip().endswith("2 external calls, 0 dead letters")
    assert " 8 plans, 20 Texter calls" in total


async def test_demo_on_the_embedded_transport() -> None:
    lines: list[str] = []
    assert await run_demo(BASE, lines.append, None) == 0
    assert "(embedded, in memory)" in lines[0]
    _check_story(lines)


async def test_demo_on_rabbitmq(amqp_url: str) -> None:
    lines: list[str] = []
    assert await run_demo(replace(BASE, amqp_url=amqp_url), lines.append, None) == 0
    assert "(RabbitMQ)" in lines[0]
    _check_story(lines)


def test_demo_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert "--keep-running" in capsys.readouterr().out
