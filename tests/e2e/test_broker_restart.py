"""The real RabbitMQ node stopped and started under a running ingress (rabbitmqctl).

Acceptance: while the broker is down the ingress answers 503 (never 2xx); once it is back the
same process answers 202 again, and everything acknowledged is in the (durable) queues.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from simulator.samples import webhook_body
from tests.conftest import wait_for
from tests.ingress.harness import make_settings, running_ingress
from worker.bus.rabbitmq import RabbitBus

pytestmark = [pytest.mark.broker_control, pytest.mark.slow]
RABBITMQCTL = shutil.which("rabbitmqctl")


def _ctl(*args: str) -> None:
    assert RABBITMQCTL is not None
    subprocess.run([RABBITMQCTL, *args], check=True, capture_output=True, timeout=120)


@pytest.fixture
def broker_control(amqp_url: str) -> Iterator[None]:
    if RABBITMQCTL is None or ("127.0.0.1" not in amqp_url and "localhost" not in amqp_url):
        pytest.skip("NO RABBITMQ CONTROL: needs rabbitmqctl and a local broker")
    try:
        _ctl("status")
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"NO RABBITMQ CONTROL: rabbitmqctl status failed ({exc})")
    yield
    _ctl("start_app")  # whatever happened, leave the broker running
    _ctl("await_startup")


async def _run(*args: str) -> None:
    await asyncio.to_thread(_ctl, *args)


async def test_broker_stop_and_start_under_a_running_ingress(
    amqp_url: str, namespace: str, broker_control: None
) -> None:
    bus = await RabbitBus.connect(amqp_url, connect_timeout=5)
    try:
        async with running_ingress(make_settings(namespace), bus) as ing:
            first = await ing.post(webhook_body("chatPending"))
            assert first.status == 202
            await _run("stop_app")

            async def not_ready() -> bool:
                return (await ing.get("/readyz"))[0] == 503

            await wait_for(not_ready)
            down = await ing.post(webhook_body("chatResolved"))
            assert down.status == 503
            assert down.headers["Retry-After"] == "5"

            await _run("start_app")
            await _run("await_startup")

            async def ready() -> bool:
                return (await ing.get("/readyz"))[0] == 200

            await wait_for(ready, timeout=60)
            second = await ing.post(webhook_body("chatResolved"))
            assert second.status == 202

            ids = set()
            for queue in ing.topology.rules_queues:
                while (d := await bus.get(queue)) is not None:
                    ids.add(d.message.message_id)
            assert ids == {first.json["id"], second.json["id"]}
            await bus.delete(ing.topology)
    finally:
        await bus.close()
