"""`texter-worker run` against the real broker, stopped by SIGTERM while a load generator posts.

Acceptance: the process exits 0 and every request that got 202 is in the queues, once.
"""

from __future__ import annotations

import asyncio
import json
import signal
from dataclasses import dataclass, field

import aiohttp
import pytest

from tests.e2e.process import worker_process
from worker.bus import build_topology
from worker.bus.rabbitmq import RabbitBus

SECRET = "sigterm-test-secret-0123456789"
pytestmark = pytest.mark.slow


@dataclass
class Load:
    accepted: set[str] = field(default_factory=set)
    other: dict[int, int] = field(default_factory=dict)
    refused: int = 0
    sent: int = 0
    warmed_up: asyncio.Event = field(default_factory=asyncio.Event)
    target: int = 300  # accepted before SIGTERM: the signal lands mid-stream


def _body(n: int) -> bytes:
    return json.dumps(
        {
            "eventName": "chatPending",
            "eventData": {"chat": {"_id": f"chat{n % 50}", "updatedAt": f"t{n}"}},
        }
    ).encode()


async def _post_loop(url: str, load: Load, worker_id: int, stop: asyncio.Event) -> None:
    headers = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"}
    n = worker_id
    async with aiohttp.ClientSession() as http:
        while not stop.is_set():
            n += 100
            load.sent += 1
            try:
                async with http.post(url, data=_body(n), headers=headers) as resp:
                    if resp.status == 202:
                        load.accepted.add((await resp.json())["id"])
                        if len(load.accepted) >= load.target:
                            load.warmed_up.set()
                    else:
                        load.other[resp.status] = load.other.get(resp.status, 0) + 1
            except aiohttp.ClientError:
                load.refused += 1
                if load.refused > 200:  # the server is gone for good
                    return


async def test_sigterm_under_load_exits_0_and_keeps_every_accepted_event(
    amqp_url: str, namespace: str
) -> None:
    env = {
        "AMQP_URL": amqp_url,
        "WEBHOOK_SECRET": SECRET,
        "BUS_NAMESPACE": namespace,
        "SHUTDOWN_TIMEOUT": "10s",
    }
    load, stop = Load(), asyncio.Event()
    async with worker_process(env, "run", "--role", "ingress") as worker:
        listening = await worker.read_until("http.listening")
        url = f"{listening['url']}/webhooks/texter"
        logs = asyncio.create_task(worker.drain_logs())
        posters = [asyncio.create_task(_post_loop(url, load, i, stop)) for i in range(16)]
        await asyncio.wait_for(load.warmed_up.wait(), 30)
        worker.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(worker.proc.wait(), 30)
        stop.set()
        await asyncio.gather(*posters)
        await logs
    assert code == 0, worker.lines[-10:]
    assert load.other == {}  # nothing but 202 or a closed connection
    assert any(line.get("event") == "shutdown.complete" for line in worker.lines)

    stored = await _drain(amqp_url, namespace)
    assert load.accepted <= stored, f"{len(load.accepted - stored)} accepted events were lost"
    assert len(stored) == len(load.accepted), "a request without a 202 was stored"
    print(f"\naccepted {len(load.accepted)}, stored {len(stored)}, refused {load.refused}")


async def _drain(amqp_url: str, namespace: str) -> set[str]:
    topology = build_topology(namespace, 4)
    bus = await RabbitBus.connect(amqp_url, connect_timeout=5)
    ids: list[str] = []
    try:
        for queue in topology.rules_queues:
            while (d := await bus.get(queue)) is not None:
                ids.append(d.message.message_id)
        await bus.delete(topology)
    finally:
        await bus.close()
    assert len(ids) == len(set(ids)), "an event was stored twice"
    return set(ids)
