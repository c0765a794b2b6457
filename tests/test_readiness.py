"""/readyz says "ready" only while the process can do its job: bus connected, consumers
consuming, not shutting down; and SIGTERM turns it to 503 before the socket closes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp

from tests.conftest import wait_for
from tests.ingress.harness import make_settings
from worker.bus.embedded import EmbeddedBus
from worker.metrics import Metrics
from worker.runtime import service
from worker.settings import VARIABLES

RULES = """\
rules:
  - name: noop
    on: newIncomingMessage
    do:
      - labels: {add: [seen]}
"""


async def _readyz(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, str]]:
    async with http.get(f"{url}/readyz") as resp:
        return resp.status, await resp.json()


async def test_readyz_fails_when_the_consumers_stop_though_the_bus_is_up(
    namespace: str, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    settings = make_settings(namespace, rules_file=rules)
    bus = EmbeddedBus()
    async with (
        service(settings, Metrics.create(), bus=bus, roles=frozenset({"rules"})) as running,
        aiohttp.ClientSession() as http,
    ):
        assert await _readyz(http, running.url) == (
            200,
            {"status": "ready", "bus": "ok", "accepting": "ok", "consuming": "ok"},
        )
        # Deleting the queues cancels their consumers: the bus stays connected.
        await bus.delete(running.topology)
        assert bus.connected
        assert await _readyz(http, running.url) == (
            503,
            {"status": "not ready", "bus": "ok", "accepting": "ok", "consuming": "failing"},
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_sigterm_turns_readyz_to_503_during_the_shutdown_delay(tmp_path: Path) -> None:
    """The real process and signal: load balancers must see "not ready" before the port closes."""
    port = _free_port()
    ours = {v.name for v in VARIABLES}
    env = {k: v for k, v in os.environ.items() if k not in ours}
    env.update(
        WEBHOOK_SECRET="x" * 20, HTTP_HOST="127.0.0.1", HTTP_PORT=str(port),
        SHUTDOWN_DELAY="3s", LOG_FORMAT="json", STATE_DIR=str(tmp_path / "state"),
    )  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "worker", "run", "--role", "ingress",
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    seen: list[int] = []
    try:
        async with aiohttp.ClientSession() as http:

            async def status_is(wanted: int) -> bool:
                try:
                    status, _ = await _readyz(http, url)
                except aiohttp.ClientConnectionError:
                    return False
                seen.append(status)
                return status == wanted

            await wait_for(lambda: status_is(200), timeout=30)
            proc.send_signal(signal.SIGTERM)
            await wait_for(lambda: status_is(503), timeout=10)
            status, body = await _readyz(http, url)
            assert (status, body["accepting"]) == (503, "failing")
            assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    stderr = (await proc.stderr.read()).decode() if proc.stderr else ""
    events = [json.loads(line).get("event") for line in stderr.splitlines() if line.startswith("{")]
    assert "shutdown.started" in events, stderr[-2000:]
    assert "shutdown.complete" in events, stderr[-2000:]
