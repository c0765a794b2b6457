"""What the chaos tests share: the worker as a real process, events and Plans published as their
producers publish them, the fake's record of what really happened, and the broker's own count of
what is still queued or in flight.

Nothing here sleeps to synchronise: waits poll state another process owns (the fake's call log,
the broker's queue counters, the worker's log file) with a deadline, via `tests.conftest.wait_for`.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from consumers.rules import plan_id, step_key
from producers.ingress.envelope import Accepted, parse_webhook
from simulator.faults import Call
from simulator.server import FakeTexter
from tests.conftest import wait_for
from worker.bus import Bus, Message, shard_of
from worker.bus.topology import Topology, build_topology, routing_key
from worker.metrics import Metrics
from worker.plans import Plan, encode_plan
from worker.runtime import RunningService, service
from worker.settings import VARIABLES, Settings

TOKEN = "chaos-texter-token-0123456789"
SECRET = "chaos-webhook-secret-0123456789"
SHARDS = 4
DELAYS = (0.1, 0.2, 0.5)  # DELAY_SCHEDULE, in seconds
DELAY_SCHEDULE = "100ms,200ms,500ms"
RULE = "ack"
# One rule, one send per incoming message; the reply names the message, so every effect at the
# fake can be traced to the event that caused it.
RULES_YAML = f"""\
rules:
  - name: {RULE}
    on: newIncomingMessage
    do:
      - send_message: {{text: "ack {{{{ message.text }}}}"}}
"""
RABBITMQCTL = shutil.which("rabbitmqctl")
SEND_PATH = "/messages/send/"


# --- the fake: chats, and what it received ----------------------------------------------------


def open_chats(fake: FakeTexter, count: int, prefix: str = "Chaos") -> list[str]:
    """`count` chats at the fake whose contact wrote just now (the 24-hour window is open)."""
    ids = []
    for n in range(count):
        chat = fake.state.add_chat(f"9725{n:08d}", f"{prefix} {n}")
        fake.state.add_message(chat, "incoming", {"type": "text", "text": "hi"})
        ids.append(chat.id)
    return ids


def send_calls(fake: FakeTexter) -> list[Call]:
    return [c for c in fake.calls if c.method == "POST" and SEND_PATH in c.path]


def send_key(call: Call) -> str | None:
    body = call.body
    return body.get("tmpSendId") if isinstance(body, dict) else None


def delivered(fake: FakeTexter) -> Counter[str]:
    """Sends the fake accepted (200), per idempotency key (`tmpSendId`)."""
    return Counter(k for c in send_calls(fake) if c.status == 200 and (k := send_key(c)))


def stored_replies(fake: FakeTexter) -> Counter[str]:
    """Outgoing messages stored in the fake's chats, per text: the effects themselves."""
    return Counter(
        str(m.get("text"))
        for messages in fake.state.messages.values()
        for m in messages
        if m.get("direction") == "outgoing"
    )


@dataclass
class Tally:
    expected: int
    missing: list[str]
    duplicated: dict[str, int]
    unexpected: list[str]

    @property
    def exact(self) -> bool:
        return not (self.missing or self.duplicated or self.unexpected)

    def __str__(self) -> str:
        return (
            f"{self.expected} expected: {len(self.missing)} missing {self.missing[:5]}, "
            f"{len(self.duplicated)} duplicated {dict(list(self.duplicated.items())[:5])}, "
            f"{len(self.unexpected)} unexpected {self.unexpected[:5]}"
        )


def tally(expected: Iterable[str], seen: Counter[str]) -> Tally:
    wanted = list(expected)
    wanted_set = set(wanted)
    return Tally(
        expected=len(wanted),
        missing=[k for k in wanted if seen[k] == 0],
        duplicated={k: n for k, n in seen.items() if k in wanted_set and n > 1},
        unexpected=[k for k in seen if k not in wanted_set],
    )


def assert_exactly_once(fake: FakeTexter, keys: Sequence[str], texts: Sequence[str]) -> None:
    """Every expected step sent once: by the call log (tmpSendId answered 200) and by the
    messages the fake stored (the effect)."""
    by_key = tally(keys, delivered(fake))
    assert by_key.exact, f"sends by idempotency key: {by_key}"
    by_text = tally(texts, stored_replies(fake))
    assert by_text.exact, f"messages stored in the chats: {by_text}"


async def until(predicate: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    """`wait_for` that says what it was waiting for when the deadline passes."""
    try:
        await wait_for(predicate, timeout)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None


async def until_delivered(fake: FakeTexter, keys: Iterable[str], timeout: float) -> None:
    wanted = set(keys)

    async def done() -> bool:
        return wanted <= set(delivered(fake))

    await until(done, timeout, f"{len(wanted)} sends at the fake")


# --- events and Plans, published as their producers publish them -------------------------------


@dataclass(frozen=True)
class Event:
    """A `newIncomingMessage` for a chat, as the ingress puts it on `<ns>.events`."""

    chat_id: str
    text: str
    message: Message

    @property
    def step_key(self) -> str:
        """The idempotency key of the send the rule plans for this event."""
        return step_key(plan_id(RULE, self.message.message_id), 0)

    @property
    def reply(self) -> str:
        return f"ack {self.text}"


def incoming_message(chat_id: str, text: str, message_id: str, shards: int = SHARDS) -> Event:
    """The body Texter posts, and the message the ingress makes of it: dedup key as message_id,
    the chat id header, the shard of the ordering key (the ingress's own parser decides)."""
    body = json.dumps(
        {
            "eventName": "newIncomingMessage",
            "eventData": {
                "message": {
                    "_id": message_id,
                    "type": "text",
                    "text": text,
                    "direction": "incoming",
                    "parent_chat": chat_id,
                },
                "chat": {"_id": chat_id, "title": f"chat {chat_id}"},
            },
        }
    ).encode()
    parsed = parse_webhook(body)
    assert isinstance(parsed, Accepted), parsed
    now = time.time()
    headers: dict[str, str | int | bool] = {
        "x-ingress-version": "chaos",
        "x-received-at-ms": int(now * 1000),
    }
    if parsed.chat_id is not None:
        headers["x-chat-id"] = parsed.chat_id
    message = Message(
        body=body,
        routing_key=routing_key(shard_of(parsed.ordering_key, shards)),
        message_id=parsed.dedup_key,
        type=parsed.event_name,
        headers=headers,
        timestamp=now,
    )
    return Event(chat_id, text, message)


def stream(chats: Sequence[str], count: int, tag: str) -> list[Event]:
    """`count` incoming messages spread round-robin over `chats`."""
    return [
        incoming_message(chats[n % len(chats)], f"{tag}-{n}", f"{tag}-msg-{n}")
        for n in range(count)
    ]


async def publish_events(bus: Bus, topology: Topology, events: Sequence[Event]) -> None:
    """Publish with confirms, in order per chat (batches never hold two events of one chat
    out of order: a batch's publishes are issued in list order on one channel)."""
    for start in range(0, len(events), 100):
        batch = events[start : start + 100]
        await asyncio.gather(
            *(bus.publish(topology.events_exchange, e.message, timeout=10) for e in batch)
        )


def plan_message(plan: Plan, shards: int = SHARDS) -> Message:
    """A Plan as a producer puts it on `<ns>.commands` (the writer's shard of its chat)."""
    headers: dict[str, str | int | bool] = {"x-rule": plan.rule or ""}
    if plan.chat_id is not None:
        headers["x-chat-id"] = plan.chat_id
    return Message(
        body=encode_plan(plan),
        routing_key=routing_key(shard_of(plan.chat_id or plan.id, shards)),
        message_id=plan.id,
        type="plan",
        headers=headers,
        timestamp=time.time(),
    )


async def publish_plans(bus: Bus, topology: Topology, plans: Sequence[Plan]) -> None:
    for plan in plans:
        await bus.publish(topology.commands_exchange, plan_message(plan), timeout=10)


def chaos_topology(namespace: str, delays: tuple[float, ...] = DELAYS) -> Topology:
    """The topology the worker process declares for these settings (the test declares it too,
    to publish before the worker starts and to delete everything after)."""
    return build_topology(namespace, SHARDS, delays=delays)


# --- the broker's own view ---------------------------------------------------------------------


async def rabbitmqctl(*args: str, timeout: float = 120) -> str:
    assert RABBITMQCTL is not None
    proc = await asyncio.create_subprocess_exec(
        RABBITMQCTL,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        raise AssertionError(f"rabbitmqctl {' '.join(args)} failed: {err.decode()}")
    return out.decode()


async def queued(namespace: str) -> dict[str, int]:
    """Messages per queue of this namespace, ready *and* unacknowledged (in a consumer's hands):
    the broker's answer to "is anything still being worked on?"."""
    out = await rabbitmqctl("list_queues", "-q", "--no-table-headers", "name", "messages")
    counts = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].startswith(namespace + ".") and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    return counts


async def until_quiet(namespace: str, topology: Topology, timeout: float) -> None:
    """Nothing left to do: every rules, writer and delay queue is empty, unacked included
    (dead letters may remain). Consumers ack only after their confirmed publishes, so work
    never passes through an empty count."""
    dead = topology.dead_queue
    expected = {q.name for q in topology.queues}

    async def quiet() -> bool:
        counts = await queued(namespace)
        assert expected <= set(counts), f"queues missing: {expected - set(counts)}"
        return all(n == 0 for name, n in counts.items() if name != dead)

    await until(quiet, timeout, f"the queues of {namespace} to be empty (unacked included)")


# --- the worker as a real process --------------------------------------------------------------


@dataclass
class WorkerProcess:
    proc: asyncio.subprocess.Process
    log_path: Path
    log_file: IO[bytes]
    started: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def lines(self) -> list[dict[str, Any]]:
        out = []  # the child writes the file through its own descriptor: nothing to flush here
        for raw in self.log_path.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(raw))
            except ValueError:
                out.append({"event": "raw", "text": raw})
        return out

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("event") == name]

    def tail(self, n: int = 15) -> str:
        return "\n".join(json.dumps(line) for line in self.lines()[-n:])

    async def logged(self, event: str, timeout: float = 30) -> dict[str, Any]:
        found: list[dict[str, Any]] = []

        async def seen() -> bool:
            if self.proc.returncode is not None:
                raise AssertionError(f"worker exited {self.proc.returncode}:\n{self.tail()}")
            found[:] = self.events(event)
            return bool(found)

        await until(seen, timeout, f"the worker to log {event!r}")
        return found[0]

    async def url(self) -> str:
        return str((await self.logged("http.listening"))["url"])

    async def kill(self) -> None:
        """SIGKILL: no shutdown, nothing flushed, no ack: a crash."""
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def terminate(self, timeout: float) -> tuple[int, float]:
        """SIGTERM; (exit code, seconds until it exited)."""
        sent = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"worker still running {timeout}s after SIGTERM:\n{self.tail()}"
            ) from None
        return code, time.monotonic() - sent


def worker_env(
    amqp_url: str, namespace: str, fake: FakeTexter, tmp: Path, **extra: str
) -> dict[str, str]:
    """The worker's environment: the test's own settings only (no inherited STATE_URL etc.)."""
    ours = {v.name for v in VARIABLES}
    env = {k: v for k, v in os.environ.items() if k not in ours}
    rules = tmp / "rules.yaml"
    if not rules.exists():
        rules.write_text(RULES_YAML)
    env.update(
        {
            "AMQP_URL": amqp_url,
            "BUS_NAMESPACE": namespace,
            "BUS_SHARDS": str(SHARDS),
            "DELAY_SCHEDULE": DELAY_SCHEDULE,
            "TEXTER_BASE_URL": fake.url,
            "TEXTER_API_TOKEN": TOKEN,
            "TEXTER_TIMEOUT": "3s",
            "TEXTER_CONNECT_TIMEOUT": "1s",
            "TEXTER_RETRY_DEADLINE": "5s",
            "TEXTER_RATE_LIMIT": "5000",
            "WEBHOOK_SECRET": SECRET,
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": "0",
            "PUBLISH_TIMEOUT": "3s",
            "SHUTDOWN_TIMEOUT": "5s",
            "CHAT_BUDGET": "100000",
            "RULES_FILE": str(rules),
            "STATE_DIR": str(tmp / "state"),
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "info",
        }
    )
    env.update(extra)
    return env


@asynccontextmanager
async def worker_process(
    env: dict[str, str], role: str, log_path: Path
) -> AsyncIterator[WorkerProcess]:
    """`texter-worker run --role <role>` with its logs in a file; killed on the way out if it is
    still running (a failed test never leaves a worker behind)."""
    log_file = log_path.open("ab")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "worker",
        "run",
        "--role",
        role,
        env=env,
        stdout=log_file,
        stderr=log_file,
    )
    worker = WorkerProcess(proc, log_path, log_file)
    try:
        yield worker
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        log_file.close()


@asynccontextmanager
async def in_process(
    bus: Bus, env: dict[str, str], *roles: str
) -> AsyncIterator[tuple[RunningService, Metrics]]:
    """The service in this process on the test's bus, configured exactly like a worker
    process with this environment."""
    metrics = Metrics.create()
    settings = Settings.from_env(env)
    async with service(settings, metrics, bus=bus, roles=frozenset(roles)) as running:
        yield running, metrics


async def cli(env: dict[str, str], *args: str, timeout: float = 60) -> tuple[int, str, str]:
    """Run `texter-worker <args>`; (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "worker",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
