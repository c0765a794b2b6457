"""The demo tells the truth: the whole service against the fake Texter, on both transports.

The command is run as a user runs it (`python -m worker demo`, a real process); the scripted
failures run in-process through `run_demo` with a scenario of their own.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys

import aiohttp
import pytest

from simulator.samples import webhook_body
from worker.cli import main
from worker.demo import run_demo
from worker.demo.scenario import SCENARIO, Moment, Stage
from worker.settings import Settings

BASE = Settings(webhook_allow_unauthenticated=True, http_port=0)
DEMO = (sys.executable, "-m", "worker", "demo")
UNREACHABLE = "amqp://guest:guest@127.0.0.1:1/"  # nothing listens on port 1


def _env(**extra: str) -> dict[str, str]:
    """This environment without AMQP_URL, and with stdout block-buffered on a pipe as users
    have it (the demo must flush its account itself)."""
    env = {k: v for k, v in os.environ.items() if k not in {"AMQP_URL", "PYTHONUNBUFFERED"}}
    return {**env, **extra}


def _demo(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    """`texter-worker demo ARGS` as a process; a demo that hangs fails on the timeout."""
    return subprocess.run(
        [*DEMO, *args],
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _block(lines: list[str], title: str) -> list[str]:
    """The lines printed for one moment, its title line excluded."""
    lines = "\n".join(lines).splitlines()  # print()ed items may hold several lines
    start = next(i for i, line in enumerate(lines) if line.endswith(f". {title}"))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start + 1 : end]


def _check_steps(lines: list[str]) -> None:
    """Each moment reads event -> rules -> steps -> Texter calls, one line per step."""
    price = _block(lines, SCENARIO[0].title)
    labels = [line.split()[0] for line in price]
    assert labels == ["webhooks", "rules", "held", "step", "step", "step", "step", "Texter"]
    steps = _flat([line for line in price if line.startswith("   step")])
    assert steps == [
        "step sales-leads: labels done (attempt 1)",
        "step sales-leads: assign done (attempt 1)",
        "step sales-leads: send_message done (attempt 1)",
        "step sales-leads: send_message done (attempt 1)",
    ]
    vip = "\n".join(_block(lines, SCENARIO[3].title))
    assert re.search(r"step +vip-crm: http +done \(attempt 1\)", vip)  # the rule's http step
    assert "external  PUT crm.example.com/api/contacts/<Avi Mizrahi>/vip 200" in vip
    alert = "\n".join(_block(lines, SCENARIO[7].title))
    assert "external  POST hooks.example.com/ops-alerts 200" in alert
    assert not [line for line in _block(lines, SCENARIO[8].title) if "step" in line]


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
    _check_steps(lines)
    assert re.search(r"^\s+moment +hooks +plans +calls +dead letters$", text, re.MULTILINE)
    total = next(line for line in lines if "webhooks," in line and "plans," in line)
    assert total.strip().endswith("2 external calls, 0 dead letters")
    assert " 8 plans, 20 Texter calls" in total


def _check_urls(out: str) -> None:
    assert re.search(r"^Metrics: +http://127\.0\.0\.1:\d+/metrics$", out, re.MULTILINE), out
    calls = r"^Texter calls: +http://127\.0\.0\.1:\d+/_control/calls$"
    assert re.search(calls, out, re.MULTILINE), out


def test_the_demo_command_runs_the_tour() -> None:
    done = _demo()
    assert done.returncode == 0, done.stderr
    assert "(embedded, in memory)" in done.stdout.splitlines()[0]
    _check_story(done.stdout.splitlines())
    _check_urls(done.stdout)
    assert "Traceback" not in done.stderr


def test_the_demo_command_on_rabbitmq(amqp_url: str) -> None:
    done = _demo("--rabbitmq", AMQP_URL=amqp_url)
    assert done.returncode == 0, done.stderr
    assert "(RabbitMQ)" in done.stdout.splitlines()[0]
    _check_story(done.stdout.splitlines())
    _check_urls(done.stdout)


def test_demo_rabbitmq_without_amqp_url_says_so() -> None:
    done = _demo("--rabbitmq", timeout=30)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "texter-worker demo: --rabbitmq needs AMQP_URL "
        "(e.g. AMQP_URL=amqp://guest:guest@127.0.0.1:5672/)"
    ]
    assert done.stdout == ""


def test_demo_rabbitmq_with_an_unreachable_broker_fails_in_seconds() -> None:
    """One line naming the (masked) URL, exit 3; the demo's own short connect timeout
    (5 s, not the service's 30 s) keeps it well inside the subprocess timeout."""
    done = _demo("--rabbitmq", timeout=20, AMQP_URL=UNREACHABLE)
    assert done.returncode == 3, done.stdout + done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("texter-worker demo: cannot connect to amqp://guest:***@127.0.0.1:1/")
    assert "AMQP_CONNECT_TIMEOUT=5s" in line
    assert "Traceback" not in done.stdout + done.stderr


def test_demo_on_a_busy_port_says_so() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        done = _demo("--port", str(busy.getsockname()[1]), timeout=30)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("texter-worker demo: configuration error: HTTP_HOST/HTTP_PORT: ")


async def _line_matching(
    stream: asyncio.StreamReader, pattern: str, seen: list[str]
) -> re.Match[str]:
    while raw := await stream.readline():
        line = raw.decode().rstrip("\n")
        seen.append(line)
        if found := re.search(pattern, line):
            return found
    raise AssertionError(f"the demo ended without printing {pattern!r}: {seen[-5:]}")


async def test_keep_running_serves_webhooks_until_ctrl_c() -> None:
    proc = await asyncio.create_subprocess_exec(
        *DEMO,
        "--keep-running",
        env=_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    seen: list[str] = []
    try:
        async with asyncio.timeout(60):
            up = await _line_matching(
                proc.stdout,
                r"Still running\. Webhooks: POST (\S+) with 'Authorization: Bearer (\S+)'",
                seen,
            )
            url, secret = up[1], up[2]
            headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
            async with (
                aiohttp.ClientSession() as http,
                http.post(url, data=webhook_body("newIncomingMessage"), headers=headers) as resp,
            ):
                assert resp.status == 202, await resp.text()
            proc.send_signal(signal.SIGINT)
            rest, errors = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, errors.decode()
    assert "Traceback" not in errors.decode()
    _check_urls("\n".join(seen))
    assert rest == b""  # nothing after the "Still running" line


def _flat(lines: list[str]) -> list[str]:
    return [re.sub(r"\s+", " ", line.strip()) for line in lines]


async def _texter_blips(stage: Stage) -> None:
    stage.world.fake.set_faults(errors=2, paths=["/labels"])  # both in-process attempts
    await SCENARIO[0].act(stage)  # Yossi asks for the price: sales-leads


async def _texter_refuses(stage: Stage) -> None:
    stage.world.fake.set_faults(errors=1, error_status=400, paths=["/labels"])
    await SCENARIO[1].act(stage)  # Dana asks for an appointment: appointments


async def test_failed_and_retried_steps_are_told_in_order() -> None:
    blips = Moment("Texter answers 503 twice", _texter_blips)
    refuses = Moment("Texter refuses a step", _texter_refuses)
    lines: list[str] = []
    assert await run_demo(BASE, lines.append, None, (blips, refuses)) == 0

    blip = _flat(_block(lines, blips.title))
    steps = [line for line in blip if line.startswith("step ")]
    assert re.fullmatch(
        r"step sales-leads: labels failed, transient: chat_labels: HTTP 503: .+ \(attempt 1\)",
        steps[0],
    )
    assert re.fullmatch(
        r"step sales-leads: parked, the rest of the Plan comes back in 0\.\d s as attempt 2",
        steps[1],
    )
    assert steps[2:] == [
        "step sales-leads: labels done (attempt 2)",
        "step sales-leads: assign done (attempt 2)",
        "step sales-leads: send_message done (attempt 2)",
        "step sales-leads: send_message done (attempt 2)",
    ]
    assert [line.split()[0] for line in blip][-1] == "Texter"  # the calls come after the steps

    refused = _flat(_block(lines, refuses.title))
    assert re.fullmatch(
        r"step appointments: labels failed, permanent: chat_labels: HTTP 400: .+ \(attempt 1\)",
        next(line for line in refused if line.startswith("step ")),
    )
    assert any(line.startswith("dead permanent: chat_labels: HTTP 400") for line in refused)
    total = next(line for line in lines if "webhooks," in line and "plans," in line)
    assert total.strip().endswith("1 dead letters")


def test_demo_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert "--keep-running" in capsys.readouterr().out
