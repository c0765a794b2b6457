"""Error paths against the running fake: typed errors, retries, Retry-After, breaker, ambiguity.

Retries use the recording sleep from conftest: `sleep.waits` is what the client would have
waited. The breaker's clock is the FakeClock, so the cool-down passes when the test says so.
"""

from __future__ import annotations

import socket
from email.utils import formatdate

import pytest
from prometheus_client import CollectorRegistry

from simulator.server import FakeTexter
from worker.errors import (
    AmbiguousSendError,
    CircuitOpen,
    TexterBadRequest,
    TexterConnectionError,
    TexterNotFound,
    TexterRateLimited,
    TexterRejected,
    TexterServerError,
    TexterUnauthorized,
)
from worker.metrics import TexterMetrics
from worker.texter import ClientOptions, RetryConfig, TexterClient, open_client
from worker.texter.breaker import State
from worker.texter.requests import AssignChat, SendMessage, SendTemplate

from .conftest import OPTIONS, TOKEN, FakeClock, RecordingSleep


async def yossi(client: TexterClient) -> str:
    return (await client.search_chats("Yossi")).data[0].id


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(f"texter_worker_texter_{name}", labels) or 0.0


async def test_wrong_token_is_401_and_never_leaks(fake: FakeTexter) -> None:
    secret = "wrong-token-that-must-not-leak"
    async with open_client(fake.url, secret) as client:
        with pytest.raises(TexterUnauthorized) as caught:
            await client.list_labels()
        text = f"{caught.value} {caught.value!r} {client!r} {caught.value.__cause__!r}"
    assert caught.value.status == 401
    assert secret not in text
    assert TOKEN not in text
    assert len(fake.calls) == 1  # a 4xx is never retried


async def test_401_is_counted_apart_and_the_limit_exported(fake: FakeTexter) -> None:
    """Operators alert on a revoked token and on rate-limit utilisation from these."""
    registry = CollectorRegistry()
    metrics = TexterMetrics.create(registry)
    async with open_client(
        fake.url, "revoked-token", ClientOptions(rate_limit=7), metrics=metrics
    ) as client:
        with pytest.raises(TexterUnauthorized):
            await client.list_labels()
    assert sample(registry, "unauthorized_total", endpoint="list_labels") == 1
    assert sample(registry, "rate_limit_per_second") == 7
    assert sample(registry, "requests_total", endpoint="list_labels", status="4xx") == 1


async def test_unknown_chat_is_404(client: TexterClient, sleep: RecordingSleep) -> None:
    with pytest.raises(TexterNotFound) as caught:
        await client.get_chat("ffffffffffffffffffffffff")
    assert (caught.value.status, caught.value.endpoint) == (404, "get_chat")
    assert "chat not found" in caught.value.body
    assert sleep.waits == []


@pytest.mark.parametrize(
    ("request_body", "reason"),
    [
        (AssignChat(chat_id="x", agent_uid="a", agent_email="b@c"), "at most one"),
        (AssignChat(agent_email="tyler@example.com"), "exactly one of phone, chatId"),
        (AssignChat(phone="0547654321"), "agent identifier and/or departmentId"),
    ],
)
async def test_invalid_assign_is_400(
    client: TexterClient, request_body: AssignChat, reason: str
) -> None:
    with pytest.raises(TexterBadRequest, match=reason) as caught:
        await client.assign_chat(request_body)
    assert caught.value.status == 400


async def test_labels_need_exactly_one_operation(client: TexterClient) -> None:
    with pytest.raises(TexterBadRequest, match="exactly one of add, remove, set"):
        await client.manage_chat_labels(await yossi(client), add=["VIP"], remove=["x"])


async def test_send_outside_the_24_hour_window_is_400(client: TexterClient) -> None:
    dana = (await client.search_chats("Dana")).data[0].id
    with pytest.raises(TexterBadRequest, match="24-hour"):
        await client.send_text(dana, "hello?")


async def test_template_to_unsubscribed_phone_is_rejected(client: TexterClient) -> None:
    with pytest.raises(TexterRejected) as caught:
        await client.send_template(SendTemplate(template_name="weekly_offer", to="972531112233"))
    assert '"success": false' in caught.value.body


async def test_429_waits_as_told(
    client: TexterClient, fake: FakeTexter, sleep: RecordingSleep, registry: CollectorRegistry
) -> None:
    fake.set_faults(errors=2, error_status=429, error_retry_after="3")
    page = await client.list_labels()
    assert page.total == 4
    assert sleep.waits == [3.0, 3.0]
    assert [c.status for c in fake.calls] == [429, 429, 200]
    assert (
        sample(registry, "retries_total", endpoint="list_labels", reason="TexterRateLimited") == 2
    )


async def test_503_with_http_date_retry_after_even_for_a_send(
    client: TexterClient, fake: FakeTexter, sleep: RecordingSleep
) -> None:
    cid = await yossi(client)
    fake.calls.clear()
    fake.set_faults(errors=1, error_status=503, error_retry_after=formatdate(usegmt=True))
    await client.send_text(cid, "hi")  # 503 means "not processed": safe to send again
    assert len(sleep.waits) == 1
    assert 0 <= sleep.waits[0] <= 1
    assert [c.status for c in fake.calls] == [503, 200]


async def test_real_wait_honours_retry_after(fake: FakeTexter) -> None:
    """Without the injected sleep: the fake's own clock shows the client waited 1 s."""
    fake.set_faults(errors=1, error_status=429, error_retry_after="1")
    async with open_client(fake.url, TOKEN, OPTIONS) as client:
        await client.list_labels()
    first, second = fake.calls
    assert second.at - first.at >= 1.0


async def test_retry_after_beyond_the_cap_fails_without_waiting(
    client: TexterClient, fake: FakeTexter, sleep: RecordingSleep
) -> None:
    fake.set_faults(errors=1, error_status=429, error_retry_after="120")
    with pytest.raises(TexterRateLimited) as caught:
        await client.list_labels()
    assert caught.value.retry_after == 120
    assert sleep.waits == []


async def test_deadline_bounds_the_waits(fake: FakeTexter, sleep: RecordingSleep) -> None:
    options = ClientOptions(retry=RetryConfig(attempts=10, deadline=30.0))
    fake.set_faults(errors=10, error_status=429, error_retry_after="20")
    async with open_client(fake.url, TOKEN, options, sleep=sleep) as client:
        with pytest.raises(TexterRateLimited):
            await client.list_labels()
    assert sleep.waits == [20.0]  # a second 20 s wait would end past the 30 s deadline
    assert len(fake.calls) == 2


async def test_5xx_burst_is_retried_with_backoff(
    client: TexterClient, fake: FakeTexter, sleep: RecordingSleep
) -> None:
    cid = await yossi(client)
    fake.set_faults(errors=2, error_status=502)
    view = await client.get_chat(cid)
    assert view.title == "Yossi Levi"
    assert len(sleep.waits) == 2
    assert all(0 <= w <= 5 for w in sleep.waits)


async def test_5xx_storm_opens_the_breaker_then_a_probe_closes_it(
    client: TexterClient,
    fake: FakeTexter,
    clock: FakeClock,
    registry: CollectorRegistry,
) -> None:
    cid = await yossi(client)
    fake.calls.clear()
    fake.set_faults(errors=1000, error_status=500)
    with pytest.raises(TexterServerError) as caught:
        await client.get_chat(cid)  # 4 attempts, 4 failures
    assert caught.value.status == 500
    with pytest.raises(CircuitOpen):
        await client.get_chat(cid)  # the 5th failure opens it; the retry then fails fast
    assert len(fake.calls) == 5
    with pytest.raises(CircuitOpen) as open_error:
        await client.list_labels()
    assert len(fake.calls) == 5  # failed fast: Texter was not called
    assert open_error.value.retry_after == pytest.approx(30.0)
    assert client.breaker.state is State.OPEN
    assert sample(registry, "breaker_state") == 2
    clock.now += 30.0  # the cool-down passes (no sleeping)
    fake.set_faults()
    assert (await client.get_chat(cid)).title == "Yossi Levi"
    assert client.breaker.state is State.CLOSED
    assert sample(registry, "breaker_state") == 0
    assert sample(registry, "breaker_opened_total") == 1


async def test_4xx_never_opens_the_breaker(client: TexterClient) -> None:
    for _ in range(10):
        with pytest.raises(TexterNotFound):
            await client.get_chat("ffffffffffffffffffffffff")
    assert client.breaker.state is State.CLOSED


async def test_timeout_on_a_send_is_ambiguous_and_not_retried(
    fake: FakeTexter, sleep: RecordingSleep
) -> None:
    options = ClientOptions(timeout=0.3)
    async with open_client(fake.url, TOKEN, options, sleep=sleep) as client:
        cid = await yossi(client)
        fake.calls.clear()
        fake.set_faults(timeouts=1, hang=10)
        with pytest.raises(AmbiguousSendError) as caught:
            await client.send_message(cid, SendMessage(type="text", text="hi"))
    assert (caught.value.endpoint, caught.value.reason) == ("send_message", "timeout")
    assert [c.status for c in fake.calls_to("POST", "/messages/send")] == [None]  # still hanging
    assert sleep.waits == []


async def test_timeout_on_an_idempotent_call_is_retried(
    fake: FakeTexter, sleep: RecordingSleep
) -> None:
    options = ClientOptions(timeout=0.3)
    async with open_client(fake.url, TOKEN, options, sleep=sleep) as client:
        fake.set_faults(timeouts=1, hang=10)
        assert (await client.list_labels()).total == 4
    assert len(sleep.waits) == 1


async def test_connection_drop_on_a_send_is_ambiguous(
    client: TexterClient, fake: FakeTexter, sleep: RecordingSleep
) -> None:
    cid = await yossi(client)
    fake.calls.clear()
    fake.set_faults(drops=1)
    with pytest.raises(AmbiguousSendError, match="disconnected"):
        await client.send_template(SendTemplate(template_name="order_ready", to="972547654321"))
    assert len(fake.calls) == 1
    assert [c.fault for c in fake.calls] == ["drop"]
    assert sleep.waits == []
    fake.set_faults(drops=1)
    assert (await client.get_chat(cid)).title == "Yossi Levi"  # idempotent: retried


async def test_502_on_a_send_is_ambiguous(client: TexterClient, fake: FakeTexter) -> None:
    cid = await yossi(client)
    fake.set_faults(errors=1, error_status=502)
    with pytest.raises(AmbiguousSendError) as caught:
        await client.send_text(cid, "hi")
    assert caught.value.status == 502


async def test_refused_connection_is_retried_even_for_a_send(sleep: RecordingSleep) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/server/api/v2"
    async with open_client(url, TOKEN, OPTIONS, sleep=sleep) as client:
        with pytest.raises(TexterConnectionError, match="connect failed"):
            await client.send_text("6650f1a2b3c4d5e6f7a8b9d4", "hi")
    assert len(sleep.waits) == 3  # 4 attempts: nothing was sent, so repeating is safe


async def test_request_metrics(client: TexterClient, registry: CollectorRegistry) -> None:
    await client.list_labels()
    with pytest.raises(TexterNotFound):
        await client.get_label("nope")
    assert sample(registry, "requests_total", endpoint="list_labels", status="2xx") == 1
    assert sample(registry, "requests_total", endpoint="get_label", status="4xx") == 1
    assert sample(registry, "request_seconds_count", endpoint="get_label") == 1
    assert sample(registry, "rate_limit_wait_seconds_count") == 2
