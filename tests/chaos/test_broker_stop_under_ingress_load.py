"""RabbitMQ stopped and started (rabbitmqctl stop_app / start_app) while a load generator posts
webhooks to a running `texter-worker run --role all`.

* every answer is 202 or 503: never another status, never a dropped connection;
* 503s happen while the broker is down (the ingress cannot get a confirm);
* never 2xx without a confirm: every event answered 202 is processed (its send reaches the
  fake), whenever it was answered;
* the sender retries what got 503 once the broker is back (as Texter's sender should); in the
  end every event's effect exists exactly once, counted per step key at the fake, including
  events whose 503 came after the broker had stored them (the retry is a duplicate the ids and
  the send-once ledger absorb).

Issue 7: "Stop/start RabbitMQ mid-stream: ingress answers 503 while it is down, never 2xx without
a confirm; after it returns, everything acknowledged is processed exactly once."
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from simulator.server import FakeTexter
from tests.chaos.conftest import Broker
from tests.chaos.support import (
    SECRET,
    Event,
    chaos_topology,
    delivered,
    open_chats,
    rabbitmqctl,
    stream,
    tally,
    until,
    until_delivered,
    until_quiet,
    worker_env,
    worker_process,
)

pytestmark = [pytest.mark.slow, pytest.mark.broker_control]

CHATS = 40
MAX_EVENTS = 4000  # the generator's bound; it is stopped long before
RATE = 100.0  # webhooks per second offered
CONCURRENCY = 16
BEFORE_STOP = 150  # 202s before the broker is stopped
AFTER_START = 150  # 202s after it is back, before the load stops


@dataclass
class Load:
    """Posts events at RATE per second on CONCURRENCY connections; records every answer."""

    http: aiohttp.ClientSession
    url: str
    events: list[Event]
    answers: dict[int, list[tuple[float, int]]] = field(default_factory=dict)  # index → answers
    stopping: bool = False
    posted: int = 0

    def count(self, status: int) -> int:
        return sum(1 for answers in self.answers.values() for _, s in answers if s == status)

    async def post(self, index: int) -> int:
        headers = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"}
        try:
            async with self.http.post(
                self.url, data=self.events[index].message.body, headers=headers
            ) as resp:
                await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError):
            status = 0  # no answer: counted, and the test fails on it
        self.answers.setdefault(index, []).append((time.monotonic(), status))
        return status

    async def run(self) -> None:
        started = time.monotonic()
        slots = asyncio.Semaphore(CONCURRENCY)
        tasks: set[asyncio.Task[int]] = set()
        for index in range(len(self.events)):
            if self.stopping:
                break
            # Pacing (the offered rate), not synchronisation.
            await asyncio.sleep(max(0.0, started + index / RATE - time.monotonic()))
            await slots.acquire()
            task = asyncio.create_task(self.post(index))
            task.add_done_callback(lambda _: slots.release())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            self.posted = index + 1
        await asyncio.gather(*tasks)


async def test_broker_stop_under_ingress_load_answers_503_and_loses_nothing(
    amqp_url: str,
    namespace: str,
    fake: FakeTexter,
    *,
    broker: Broker,
    broker_control: None,
    tmp_path: Path,
) -> None:
    topology = await broker.declare(chaos_topology(namespace))
    events = stream(open_chats(fake, CHATS), MAX_EVENTS, "load")
    env = worker_env(
        amqp_url, namespace, fake, tmp_path, PUBLISH_TIMEOUT="2s", WEBHOOK_RETRY_AFTER="1"
    )
    timeout = aiohttp.ClientTimeout(total=30)
    async with (
        worker_process(env, "all", tmp_path / "worker.log") as worker,
        aiohttp.ClientSession(timeout=timeout) as http,
    ):
        url = await worker.url()

        async def ready() -> bool:
            try:
                async with http.get(f"{url}/readyz") as resp:
                    return resp.status == 200
            except aiohttp.ClientError:
                return False

        await until(ready, 30, "/readyz 200 at start")
        load = Load(http, f"{url}/webhooks/texter", events)
        generator = asyncio.create_task(load.run())
        try:

            async def accepted(n: int) -> bool:
                if generator.done():
                    generator.result()  # surface a crash of the generator
                return load.count(202) >= n

            await until(lambda: accepted(BEFORE_STOP), 30, f"{BEFORE_STOP} webhooks accepted")
            stop_issued = time.monotonic()
            await rabbitmqctl("stop_app")
            stopped = time.monotonic()

            async def refused() -> bool:
                return load.count(503) >= 20

            await until(refused, 30, "503s while the broker is down")
            await rabbitmqctl("start_app")
            await rabbitmqctl("await_startup")
            started = time.monotonic()
            await until(ready, 60, "/readyz 200 once the broker is back")
            back = load.count(202)
            await until(lambda: accepted(back + AFTER_START), 60, "202s after the restart")
        finally:
            load.stopping = True
            await generator
        posted = load.posted

        # The sender retries what was refused, now that the broker is back.
        retried = [i for i, answers in load.answers.items() if answers[-1][1] != 202]
        for _ in range(5):
            pending = [i for i in retried if load.answers[i][-1][1] != 202]
            if not pending:
                break
            await asyncio.gather(*(load.post(i) for i in pending))
        sent = events[:posted]
        keys = [e.step_key for e in sent]
        await until_delivered(fake, keys, 90)
        await until_quiet(namespace, topology, 60)
        code, _ = await worker.terminate(15)
    assert code == 0, worker.tail()

    statuses = Counter(s for answers in load.answers.values() for _, s in answers)
    assert set(statuses) <= {202, 503}, f"answers other than 202/503: {statuses}"
    first_503 = min(t for a in load.answers.values() for t, s in a if s == 503)
    assert first_503 >= stop_issued, "a 503 before the broker was stopped"
    assert all(answers[-1][1] == 202 for answers in load.answers.values()), "a retry still 503"
    accepted_first = [i for i, answers in load.answers.items() if answers[0][1] == 202]
    refused_first = [i for i, answers in load.answers.items() if answers[0][1] == 503]
    seen = delivered(fake)
    lost = [events[i].step_key for i in accepted_first if seen[events[i].step_key] == 0]
    assert not lost, f"{len(lost)} events answered 202 were never processed: {lost[:5]}"
    by_key = tally(keys, seen)
    assert by_key.exact, f"sends by step key: {by_key}"
    assert await broker.bus.queue_depth(topology.dead_queue) == 0, "dead letters"
    down = [t for a in load.answers.values() for t, s in a if s == 503]
    print(
        f"\n[broker stop under ingress load] {posted} webhooks offered at {RATE:.0f}/s "
        f"({CONCURRENCY} connections); broker down {started - stop_issued:.1f}s "
        f"(stop_app took {stopped - stop_issued:.1f}s); answers: {statuses[202]} x 202, "
        f"{statuses[503]} x 503 (first {first_503 - stop_issued:.1f}s after stop_app, last "
        f"{max(down) - stop_issued:.1f}s), no other status; {len(accepted_first)} accepted on "
        f"the first try, {len(refused_first)} refused and accepted on a retry; "
        f"{len(keys)} sends for {len(keys)} step keys: 0 lost (202 without processing), "
        f"0 missing, 0 duplicated"
    )
