"""The RabbitMQ node stopped and started (rabbitmqctl stop_app / start_app) while the worker is in
the middle of a stream: the same process reconnects, its consumers come back, and every event's
send exists exactly once at the fake. /readyz says 503 while the broker is gone, 200 after.

Acceptance (issue 5): "Restart RabbitMQ in the middle of a stream: the worker recovers without a
restart of its own and finishes with zero missing and zero duplicated effects."
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from simulator.server import FakeTexter
from tests.chaos.conftest import Broker
from tests.chaos.support import (
    assert_exactly_once,
    chaos_topology,
    delivered,
    open_chats,
    publish_events,
    rabbitmqctl,
    stream,
    until,
    until_delivered,
    until_quiet,
    worker_env,
    worker_process,
)

pytestmark = [pytest.mark.slow, pytest.mark.broker_control]

EVENTS = 800
CHATS = 40
STOP_AFTER = 100  # sends the fake accepted before the broker goes away


async def test_broker_restart_mid_stream_recovers_in_process_and_sends_each_once(
    amqp_url: str,
    namespace: str,
    fake: FakeTexter,
    *,
    broker: Broker,
    broker_control: None,
    tmp_path: Path,
) -> None:
    topology = await broker.declare(chaos_topology(namespace))
    events = stream(open_chats(fake, CHATS), EVENTS, "br")
    keys, texts = [e.step_key for e in events], [e.reply for e in events]
    fake.set_faults(latency=0.005)
    env = worker_env(amqp_url, namespace, fake, tmp_path)
    await publish_events(broker.bus, topology, events)

    async with (
        worker_process(env, "all", tmp_path / "worker.log") as worker,
        aiohttp.ClientSession() as http,
    ):
        url = await worker.url()

        async def readyz() -> int:
            try:
                async with http.get(f"{url}/readyz") as resp:
                    return resp.status
            except aiohttp.ClientError:
                return 0  # counted as neither 200 nor 503: the wait goes on

        async def status_is(expected: int) -> bool:
            return await readyz() == expected

        await until(lambda: status_is(200), 30, "/readyz 200 at start")

        async def mid_stream() -> bool:
            return len(delivered(fake)) >= STOP_AFTER

        await until(mid_stream, 60, f"{STOP_AFTER} sends before the broker stops")
        before_stop = len(delivered(fake))
        await rabbitmqctl("stop_app")
        at_stop = len(delivered(fake))  # stop_app takes a moment: sends go on meanwhile
        await until(lambda: status_is(503), 30, "/readyz 503 while the broker is down")
        assert at_stop < EVENTS, "the broker stopped too late to be mid-stream"

        await rabbitmqctl("start_app")
        await rabbitmqctl("await_startup")
        await until(lambda: status_is(200), 60, "/readyz 200 once the broker is back")
        assert worker.proc.returncode is None, "the worker must recover without a restart"
        at_restart = len(delivered(fake))

        async def progress() -> bool:
            return len(delivered(fake)) > at_restart or at_restart == EVENTS

        await until(progress, 20, "a send after the broker came back (consumers restored?)")
        await until_delivered(fake, keys, 60)
        await until_quiet(namespace, topology, 60)
        reconnects = len(worker.events("bus.reconnected"))
        code, _ = await worker.terminate(15)
    assert code == 0, worker.tail()
    assert reconnects >= 1, "the worker never logged a reconnect"

    dead = await broker.bus.queue_depth(topology.dead_queue)
    assert dead == 0, f"{dead} dead letters"
    assert_exactly_once(fake, keys, texts)
    calls = sum(delivered(fake).values())
    skipped = len(worker.events("bus.settle_failed"))
    print(
        f"\n[broker restart] {EVENTS} events, {before_stop} sent when stop_app was issued, "
        f"{at_stop} when it returned, "
        f"{reconnects} reconnects, {skipped} acks lost to the restart, same pid "
        f"{worker.pid} throughout; {calls} sends accepted at the fake for {len(set(keys))} "
        f"step keys: 0 missing, 0 duplicated"
    )
