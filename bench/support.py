"""What the benchmarks share: the worker as a real subprocess, its namespace on the broker
(deleted afterwards), webhook bodies like Texter's, figures (percentiles, RSS).

Every benchmark gets its own BUS_NAMESPACE (`bench-<name>-<random>`), so it never touches
another run's queues, and deletes that namespace's queues, exchanges and Redis keys on the way out.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager as AsyncContextManager
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import msgspec

from producers.ingress.envelope import Accepted, parse_webhook
from worker.bus import Message, shard_of
from worker.bus.rabbitmq import RabbitBus
from worker.bus.topology import Topology, build_topology, routing_key
from worker.logs import configure_logging
from worker.settings import VARIABLES

# This process's own library logs (the bench's bus connection) only when something is wrong,
# and never on stdout, where the figures go.
configure_logging("warning", "console", sys.stderr)

AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
SECRET = "bench-webhook-secret-0123456789"  # noqa: S105 - a benchmark's own secret
TOKEN = "bench-texter-token-0123456789"  # noqa: S105 - the fake's token
RULE = "bench-reply"
# One send per incoming message; the reply carries the message text, so every call at the fake
# names the webhook that caused it.
RULES_YAML = f"""\
rules:
  - name: {RULE}
    on: newIncomingMessage
    do:
      - send_message: {{text: "re {{{{ message.text }}}}"}}
"""
SEND_PATH = "/messages/send/"
_encode = msgspec.json.Encoder().encode


def namespace(bench: str) -> str:
    return f"bench-{bench}-{uuid.uuid4().hex[:8]}"


def out(line: str) -> None:
    """One figure line on stdout, flushed (the smoke test reads them)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# --- figures --------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of unsorted values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, round(q / 100 * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def broker_pid() -> int | None:
    """The RabbitMQ server's Erlang VM. Its CLI tools (rabbitmqctl, rabbitmq-diagnostics) run a
    beam.smp of their own for a moment, so match the server's boot arguments, not the name."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() != "beam.smp":
                    continue
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"rabbit" in argv and b"boot" in argv:
                return int(entry.name)
    return None


def broker_cpu_seconds(pid: int | None) -> float | None:
    """CPU seconds of the broker so far; None when it is unknown or went away (restarted)."""
    if pid is None:
        return None
    try:
        return cpu_seconds(pid)
    except OSError:
        return None


def rss_mib(pid: int) -> float | None:
    """VmRSS of a process in MiB (None once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


# --- webhooks ---------------------------------------------------------------------------------


def incoming_body(chat_id: str, text: str, message_id: str) -> bytes:
    """A `newIncomingMessage` delivery as Texter posts it (fields as in the bundled sample)."""
    return _encode(
        {
            "eventName": "newIncomingMessage",
            "eventData": {
                "message": {
                    "_id": message_id,
                    "type": "text",
                    "text": text,
                    "direction": "incoming",
                    "parent_chat": chat_id,
                    "timestamp": int(time.time() * 1000),
                },
                "chat": {"_id": chat_id, "title": f"chat {chat_id}"},
            },
        }
    )


def event_message(body: bytes, shards: int) -> Message:
    """The message the ingress makes of a webhook body (for benchmarks that preload the bus)."""
    parsed = parse_webhook(body)
    assert isinstance(parsed, Accepted), parsed
    now = time.time()
    headers: dict[str, str | int | bool] = {"x-received-at-ms": int(now * 1000)}
    if parsed.chat_id is not None:
        headers["x-chat-id"] = parsed.chat_id
    return Message(
        body=body,
        routing_key=routing_key(shard_of(parsed.ordering_key, shards)),
        message_id=parsed.dedup_key,
        type=parsed.event_name,
        headers=headers,
        timestamp=now,
    )


async def publish_all(bus: RabbitBus, exchange: str, messages: Sequence[Message]) -> None:
    """Confirmed publishes, 200 in flight at a time."""
    for start in range(0, len(messages), 200):
        batch = messages[start : start + 200]
        await asyncio.gather(*(bus.publish(exchange, m, timeout=30) for m in batch))


# --- the broker -------------------------------------------------------------------------------


@asynccontextmanager
async def broker(topology: Topology) -> AsyncIterator[RabbitBus]:
    """A connection that declares the namespace and deletes it (queues, exchanges) at the end."""
    bus = await RabbitBus.connect(AMQP_URL, connect_timeout=10, name="bench")
    try:
        await bus.declare(topology)
        yield bus
    finally:
        try:
            await bus.delete(topology)
        finally:
            await bus.close()


async def queued(bus: RabbitBus, queues: Sequence[str]) -> int:
    """Messages in these queues (ready and unacknowledged)."""
    return sum([await bus.queue_depth(q) for q in queues])


async def delete_redis_keys(prefix: str) -> int:
    import redis.asyncio as redis  # noqa: PLC0415 - only the benchmarks that use Redis need it

    client = redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
        for start in range(0, len(keys), 1000):
            await client.delete(*keys[start : start + 1000])
        return len(keys)
    finally:
        await client.aclose()


async def purge(queues: Sequence[str]) -> None:
    """Empty these queues (between benchmark rounds, so every round starts from the same depth)."""
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel()
        raw = await channel.get_underlay_channel()
        for name in queues:
            await raw.queue_purge(name)
    finally:
        await connection.close()


async def delete_namespace(topology: Topology, extra_queues: Sequence[str] = ()) -> None:
    """Delete the namespace's queues and exchanges (and any extra queues), if they exist."""
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel()
        raw = await channel.get_underlay_channel()
        for name in [*(q.name for q in topology.queues), *extra_queues]:
            await raw.queue_delete(name)
        for exchange in topology.exchanges:
            await raw.exchange_delete(exchange.name)
    finally:
        await connection.close()


def topology_for(ns: str, shards: int, delays: tuple[float, ...] = (1.0,)) -> Topology:
    return build_topology(ns, shards, delays=delays)


# --- the worker as a process ------------------------------------------------------------------


def worker_env(ns: str, workdir: Path, **extra: str) -> dict[str, str]:
    """The worker's environment: this benchmark's settings only (no inherited worker knobs)."""
    ours = {v.name for v in VARIABLES}
    env = {k: v for k, v in os.environ.items() if k not in ours}
    rules = workdir / "rules.yaml"
    if not rules.exists():
        rules.write_text(RULES_YAML)
    env.update(
        {
            "AMQP_URL": AMQP_URL,
            "BUS_NAMESPACE": ns,
            "BUS_SHARDS": "4",
            "DELAY_SCHEDULE": "1s",
            "WEBHOOK_SECRET": SECRET,
            "TEXTER_API_TOKEN": TOKEN,
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": "0",
            "CHAT_BUDGET": "100000",
            "RULES_FILE": str(rules),
            "STATE_DIR": str(workdir / "state"),
            "SHUTDOWN_TIMEOUT": "5s",
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "info",
        }
    )
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _listening(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


@dataclass
class Worker:
    proc: asyncio.subprocess.Process
    log_path: Path
    port: int | None = None  # known in advance: readiness is the port accepting connections

    @property
    def pid(self) -> int:
        return self.proc.pid

    def events(self, name: str) -> list[dict[str, object]]:
        found = []
        for raw in self.log_path.read_text(errors="replace").splitlines():
            if f'"{name}"' in raw:
                try:
                    line = json.loads(raw)
                except ValueError:
                    continue
                if line.get("event") == name:
                    found.append(line)
        return found

    async def url(self, timeout: float = 30) -> str:
        """Where it listens, once it logged `http.listening` (it is consuming by then)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.returncode is not None:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"worker exited {self.proc.returncode}:\n{tail}")
            if self.port is not None:
                if await _listening(self.port):
                    return f"http://127.0.0.1:{self.port}"
            elif found := self.events("http.listening"):
                return str(found[0]["url"])
            await asyncio.sleep(0.05)
        raise TimeoutError("the worker did not start listening")

    async def stop(self, timeout: float = 20) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), timeout)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        return self.proc.returncode or 0


@asynccontextmanager
async def process(
    argv: Sequence[str], env: dict[str, str], log_path: Path
) -> AsyncIterator[Worker]:
    """A Python subprocess (this interpreter) with its output in a file; SIGTERM on the way out."""
    with log_path.open("ab") as log_file:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *argv, env=env, stdout=log_file, stderr=log_file
        )
        port = env.get("HTTP_PORT", "0")
        running = Worker(proc, log_path, int(port) if port.isdigit() and port != "0" else None)
        try:
            yield running
        finally:
            await running.stop()


def worker(env: dict[str, str], role: str, log_path: Path) -> AsyncContextManager[Worker]:
    """`texter-worker run --role <role>`, logs (JSON) in a file; stopped on the way out.
    It listens on a free port chosen here (its log may not say where: LOG_LEVEL=warning)."""
    env = {**env, "HTTP_PORT": str(free_port())} if env.get("HTTP_PORT", "0") == "0" else env
    return process(["-m", "worker", "run", "--role", role], env, log_path)


def send_texts(calls: Sequence[object]) -> list[tuple[str, float]]:
    """(text, arrival time) of every answered send_message call the fake received."""
    found = []
    for call in calls:
        path, body = getattr(call, "path", ""), getattr(call, "body", None)
        if SEND_PATH in path and isinstance(body, dict) and isinstance(body.get("text"), str):
            found.append((body["text"], float(getattr(call, "at", 0.0))))
    return found
