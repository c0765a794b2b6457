"""The test harness itself: without a broker, RabbitMQ tests skip loudly, or fail when required."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def _pytest(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/bus/test_contract.py",
            "-k",
            "rabbitmq and unroutable_key",
        ],
        cwd=ROOT,
        env={**os.environ, "TEST_AMQP_URL": "amqp://guest:guest@127.0.0.1:1/", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_no_broker_skips_loudly() -> None:
    result = _pytest(REQUIRE_RABBITMQ="0")
    assert result.returncode == 0, result.stdout
    assert "1 skipped" in result.stdout
    assert "RABBITMQ TESTS SKIPPED" in result.stdout


@pytest.mark.slow
def test_no_broker_fails_when_required() -> None:
    result = _pytest(REQUIRE_RABBITMQ="1")
    assert result.returncode != 0
    assert "REQUIRE_RABBITMQ=1 but RabbitMQ not reachable" in result.stdout
