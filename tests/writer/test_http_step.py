"""The `http` step's failures, against real sockets: what certainly sent nothing is transient,
what may have reached the other side is in doubt."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from consumers.writer.http_step import run_http
from consumers.writer.outcome import Kind, StepFailure
from worker.plans import Http


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def unanswered_connect() -> Iterator[int]:
    """A port whose accept queue is full: the kernel drops further SYNs, so connect hangs."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port: int = server.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):  # the handshake completes later
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for s in [*fillers, server]:
        s.close()


async def test_a_connect_that_hangs_is_transient(
    session: aiohttp.ClientSession, unanswered_connect: int
) -> None:
    step = Http(idempotency_key="k:0", url=f"http://127.0.0.1:{unanswered_connect}/x", timeout=30)
    with pytest.raises(StepFailure) as failed:
        await run_http(session, step, connect_timeout=0.3)
    assert failed.value.kind is Kind.TRANSIENT
    assert "connect failed" in str(failed.value)


async def test_no_answer_after_the_request_left_is_in_doubt(
    session: aiohttp.ClientSession,
) -> None:
    arrived, hung_up = asyncio.Event(), asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        arrived.set()
        await reader.read()  # never answers: reads until the client gives up and hangs up
        writer.close()
        await writer.wait_closed()
        hung_up.set()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        step = Http(idempotency_key="k:0", url=f"http://127.0.0.1:{port}/x", timeout=0.5)
        with pytest.raises(StepFailure) as failed:
            await run_http(session, step, connect_timeout=5)
        assert failed.value.kind is Kind.IN_DOUBT
        assert arrived.is_set()
        async with asyncio.timeout(10):
            await hung_up.wait()
    finally:
        server.close()
        await server.wait_closed()
