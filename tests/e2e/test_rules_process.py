"""`texter-worker run` with rules, as a real process: bad files stop it, SIGHUP reloads."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from tests.e2e.process import worker_process
from tests.test_cli import _run

pytestmark = pytest.mark.slow
GOOD = "rules:\n  - name: first\n    on: chatPending\n    do:\n      - resolve: {}\n"


def test_bad_rules_file_refuses_to_start_with_file_and_line(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: a\n    on: chatPending\n    do:\n      - teleport: {}\n")
    result = _run("run", WEBHOOK_SECRET="x" * 20, RULES_FILE=str(rules), LOG_FORMAT="json")
    assert result.returncode == 2
    assert (
        f"texter-worker: rules: {rules}:5: error: rule 'a' step 1: unknown action 'teleport'"
        in result.stderr
    )
    assert "refusing to start" in result.stderr


def test_missing_rules_file_refuses_to_start(tmp_path: Path) -> None:
    result = _run("run", WEBHOOK_SECRET="x" * 20, RULES_FILE=str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert "nope.yaml" in result.stderr


async def test_sighup_reloads_and_a_bad_file_keeps_the_old_rules(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(GOOD)
    env = {"WEBHOOK_SECRET": "x" * 20, "RULES_FILE": str(rules)}
    async with worker_process(env, "run", "--role", "rules") as worker:
        await worker.read_until("service.started")
        rules.write_text("rules: [oops")
        worker.proc.send_signal(signal.SIGHUP)
        failed = await worker.read_until("rules.reload_failed")
        assert failed["detail"] == "the previous rules stay in force"
        rules.write_text(GOOD.replace("first", "second"))
        worker.proc.send_signal(signal.SIGHUP)
        reloaded = await worker.read_until("rules.reloaded")
        assert reloaded["generation"] == 2
        worker.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(worker.proc.wait(), 30) == 0
