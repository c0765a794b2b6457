"""Error paths against the running fake: typed errors, retries, Retry-After, breaker, ambiguity.

Retries use the recording sleep from conftest: `sleep.waits` is what the client would have
waited. The breaker's clock is the FakeClock, so the cool-down passes when the test says so.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from prometheus_client import CollectorRegistry

from simulator.server import FakeTexter
from worker.errors import (
    AmbiguousRequestError,
    AmbiguousSendError,
    CircuitOpen,
    TexterBadRequest,
    TexterBadResponse,
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
from worker.texter.endpoints import ALL
from worker.texter.requests import AssignChat, CreateTemplate, SendMessage, SendTemplate

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


@pytest.mark.parametrize("status", [429, 503])
async def test_http_date_retry_after_is_waited_exactly_even_for_a_send(
    fake: FakeTexter, sleep: RecordingSleep, status: int
) -> None:
    """The client's `now` is fixed; the fake asks to come back at an HTTP-date 7 s after it."""
    now = datetime(2025, 11, 10, 12, 0, 0, tzinfo=UTC)
    when = format_datetime(now + timedelta(seconds=7), usegmt=True)
    async with open_client(fake.url, TOKEN, OPTIONS, sleep=sleep, now=lambda: now) as client:
        cid = await yossi(client)
        fake.calls.clear()
        fake.set_faults(errors=1, error_status=status, error_retry_after=when)
        await client.send_text(cid, "hi")  # 429/503 mean "not processed": safe to send again
    assert sleep.waits == [7.0]
    assert [(c.status, c.fault) for c in fake.calls] == [(status, "error"), (200, "none")]


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


async def test_fixed_latency_is_felt_by_the_client(
    client: TexterClient, fake: FakeTexter, registry: CollectorRegistry
) -> None:
    fake.set_faults(latency=0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await client.list_labels()
    took = loop.time() - started
    (call,) = fake.calls
    assert call.answered_at is not None
    assert call.answered_at - call.at >= 0.2  # the fake held the answer back
    assert took >= 0.2
    assert sample(registry, "request_seconds_sum", endpoint="list_labels") >= 0.2


async def test_a_2xx_of_the_wrong_shape_is_a_bad_response(
    client: TexterClient, fake: FakeTexter, sleep: RecordingSleep
) -> None:
    fake.set_faults(bad_bodies=1)  # a JSON array where a label page (an object) belongs
    with pytest.raises(TexterBadResponse) as caught:
        await client.list_labels()
    assert (caught.value.endpoint, caught.value.status) == ("list_labels", 200)
    assert caught.value.body == fake.faults.bad_body
    assert "Expected `object`, got `array`" in str(caught.value)
    assert [c.fault for c in fake.calls] == ["bad_body"]  # permanent: not retried
    assert sleep.waits == []
    assert (await client.list_labels()).total == 4  # the fault was used up


async def test_a_body_that_is_not_json_is_a_bad_response(
    client: TexterClient, fake: FakeTexter
) -> None:
    fake.set_faults(bad_bodies=1, bad_body="<html>gateway</html>")
    with pytest.raises(TexterBadResponse, match="gateway"):
        await client.create_label("new", "New")
    assert "new" in fake.state.labels  # Texter did it; only the answer was unreadable


ACCOUNT = "972509876543"
Create = Callable[[TexterClient], Awaitable[object]]
# Every non-idempotent endpoint that is not a send: a repeat could create a duplicate.
CREATES: dict[str, Create] = {
    "create_label": lambda c: c.create_label("new", "New"),
    "create_template": lambda c: c.create_template(
        ACCOUNT, CreateTemplate(title="T", category="UTILITY", chat_status=1, usage="inbox")
    ),
    "submit_template": lambda c: c.submit_template(ACCOUNT, "order_ready", "en"),
    "create_quick_reply": lambda c: c.create_quick_reply(
        {"contents": [{"type": "text", "text": "hi"}], "target": [{"name": "whatsapp"}]}
    ),
    "import_subscription": lambda c: c.import_subscription({"name": "(SUB) Chat Resolved"}),
    "copy_scenario": lambda c: c.copy_scenario("f" * 24, from_version=1, new_name="copy"),
}


def test_the_create_table_covers_every_non_idempotent_non_send_endpoint() -> None:
    assert {e.name for e in ALL if not e.idempotent and not e.send} == set(CREATES)


@pytest.mark.parametrize(
    "faults",
    [{"drops": 1}, {"errors": 1, "error_status": 502}, {"errors": 1, "error_status": 500}],
    ids=["drop", "502", "500"],
)
@pytest.mark.parametrize("name", sorted(CREATES))
async def test_an_ambiguous_create_is_not_retried_and_not_called_a_send(
    client: TexterClient,
    fake: FakeTexter,
    sleep: RecordingSleep,
    name: str,
    faults: dict[str, int],
) -> None:
    fake.set_faults(**faults)
    with pytest.raises(AmbiguousRequestError) as caught:
        await CREATES[name](client)
    assert type(caught.value) is AmbiguousRequestError  # not AmbiguousSendError
    assert caught.value.endpoint == name
    assert len(fake.calls) == 1
    assert sleep.waits == []


async def test_a_timeout_on_a_create_is_ambiguous(fake: FakeTexter, sleep: RecordingSleep) -> None:
    async with open_client(fake.url, TOKEN, ClientOptions(timeout=0.3), sleep=sleep) as client:
        fake.set_faults(timeouts=1, hang=10)
        with pytest.raises(AmbiguousRequestError) as caught:
            await client.create_label("new", "New")
    assert type(caught.value) is AmbiguousRequestError
    assert (caught.value.endpoint, caught.value.reason) == ("create_label", "timeout")
    assert len(fake.calls) == 1
    assert sleep.waits == []
