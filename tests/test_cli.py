"""The command line: help documents everything; bad configuration stops with clear lines."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from worker.cli import COMMANDS, build_parser
from worker.settings import VARIABLES


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {v.name for v in VARIABLES}}
    return subprocess.run(
        [sys.executable, "-m", "worker", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_help_lists_every_command_and_variable(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert len(COMMANDS) >= 2
    for choice in build_parser()._subparsers._group_actions[0].choices:  # type: ignore[union-attr]
        assert choice in out
    for var in VARIABLES:
        assert var.name in out


def test_bad_configuration_exits_2_with_one_line_per_problem() -> None:
    result = _run("run", HTTP_PORT="http", WEBHOOK_SECRET="abc")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "texter-worker: configuration error: HTTP_PORT: expected a whole number, got 'http'",
        "texter-worker: configuration error: WEBHOOK_SECRET: too short (3 characters, need "
        "16+); make one with python3 -c 'import secrets; print(secrets.token_urlsafe(32))'",
    ]


def test_refuses_to_start_without_a_secret() -> None:
    result = _run("run")
    assert result.returncode == 2
    assert "WEBHOOK_SECRET: not set" in result.stderr


def test_port_in_use_fails_start_with_one_clear_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run(
            "run", "--role", "ingress", WEBHOOK_SECRET="x" * 20, HTTP_HOST="127.0.0.1",
            HTTP_PORT=str(port), LOG_LEVEL="error",
        )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"texter-worker: configuration error: HTTP_HOST/HTTP_PORT: cannot listen on "
        f"127.0.0.1:{port}: Address already in use"
    ]


def test_unknown_host_fails_start_with_one_clear_line() -> None:
    result = _run(
        "run", "--role", "ingress", WEBHOOK_SECRET="x" * 20, HTTP_HOST="no-such-host.invalid",
        LOG_LEVEL="error",
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        "texter-worker: configuration error: HTTP_HOST/HTTP_PORT: cannot listen on "
        "no-such-host.invalid:8080: "
    )


def test_unreachable_broker_fails_start_with_a_clear_message() -> None:
    result = _run(
        "run",
        "--role",
        "ingress",
        WEBHOOK_SECRET="x" * 20,
        AMQP_URL="amqp://guest:pw@127.0.0.1:1/",
        AMQP_CONNECT_TIMEOUT="1s",
        LOG_FORMAT="json",
    )
    assert result.returncode == 3
    assert "cannot connect to amqp://guest:***@127.0.0.1:1/" in result.stderr
    assert ":pw@" not in result.stderr


def test_config_command_prints_masked_settings() -> None:
    result = _run("config", WEBHOOK_SECRET="y" * 20, TEXTER_PROJECT="acme")
    assert result.returncode == 0
    assert "WEBHOOK_SECRET='***'" in result.stdout
    assert "TEXTER_BASE_URL='https://acme.texterchat.com/server/api/v2'" in result.stdout
    assert "y" * 20 not in result.stdout


def test_writer_without_texter_settings_refuses_to_start() -> None:
    result = _run("run", "--role", "writer", WEBHOOK_SECRET="x" * 20)
    assert result.returncode == 2
    assert "texter-worker: configuration error: TEXTER_BASE_URL" in result.stderr
