"""Run `texter-worker` as a real subprocess and read where it listens from its JSON logs."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass
class WorkerProcess:
    proc: asyncio.subprocess.Process
    url: str = ""
    lines: list[dict[str, object]] = field(default_factory=list)

    async def read_until(self, event: str, timeout: float = 30) -> dict[str, object]:
        assert self.proc.stderr is not None
        async with asyncio.timeout(timeout):
            while line := await self.proc.stderr.readline():
                try:
                    entry = json.loads(line)
                except ValueError:
                    entry = {"event": "raw", "text": line.decode(errors="replace")}
                self.lines.append(entry)
                if entry.get("event") == event:
                    return entry
        raise AssertionError(f"process ended before logging {event!r}: {self.lines[-5:]}")

    async def drain_logs(self) -> None:
        """Keep reading stderr so the child never blocks on a full pipe."""
        assert self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            try:
                self.lines.append(json.loads(line))
            except ValueError:
                self.lines.append({"event": "raw", "text": line.decode(errors="replace")})


@asynccontextmanager
async def worker_process(env: dict[str, str], *args: str) -> AsyncIterator[WorkerProcess]:
    full_env = {
        **os.environ,
        "LOG_FORMAT": "json",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": "0",
        **env,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "worker",
        *args,
        env=full_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    wp = WorkerProcess(proc)
    try:
        yield wp
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
