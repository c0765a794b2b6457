"""A running ingress for many hypothesis examples: the real composition root on the embedded bus,
served on loopback from its own event loop in a background thread, built once per module.

The client speaks raw HTTP/1.1 over a socket, so a test controls every byte on the wire: header
values that are not UTF-8, no Content-Length, chunked bodies, compressed bodies. Each request
uses its own connection (`Connection: close`) and reads the answer to the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    AsyncExitStack,
    contextmanager,
)
from dataclasses import dataclass
from typing import Any, TypeVar

from tests.fuzz.support import service_recursion_limit
from tests.ingress.harness import PATH, SECRET, Ingress, make_settings, running_ingress
from worker.bus.embedded import EmbeddedBus

T = TypeVar("T")
TIMEOUT = 10.0


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


class LiveIngress:
    """`open_service()` is entered on the background loop; it yields an Ingress, or anything with
    an `.ingress` (the rules pipeline of tests/rules_consumer/harness.py)."""

    def __init__(self, open_service: Callable[[], AbstractAsyncContextManager[Any]]) -> None:
        self._open = open_service
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._stack = AsyncExitStack()
        self.service: Any = None
        self.port = 0

    @property
    def ingress(self) -> Ingress:
        found = getattr(self.service, "ingress", self.service)
        assert isinstance(found, Ingress)
        return found

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        self.service = self.run(self._stack.enter_async_context(self._open()))
        self.port = int(self.ingress.running.url.rsplit(":", 1)[1])

    def stop(self) -> None:
        try:
            self.run(self._stack.aclose())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(TIMEOUT)
            self._loop.close()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the service's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(TIMEOUT)

    # --- the bus -------------------------------------------------------------------------------

    def stored(self) -> int:
        """Messages waiting in every queue of the topology."""
        return self.run(self.ingress.stored())

    def take_all(self) -> list[bytes]:
        """Remove every stored message; their bodies."""
        ingress = self.ingress

        async def take() -> list[bytes]:
            bodies = []
            for queue in ingress.topology.queues:
                while (got := await ingress.bus.get(queue.name)) is not None:
                    bodies.append(got.message.body)
            return bodies

        return self.run(take())

    # --- HTTP ------------------------------------------------------------------------------------

    def request(
        self,
        body: bytes,
        *,
        headers: list[tuple[bytes, bytes]] | None = None,
        token: bytes | None = SECRET.encode(),
        target: bytes = PATH.encode(),
        method: bytes = b"POST",
        framing: str = "length",
    ) -> Response:
        """One request; `framing` is "length" (Content-Length), "chunked" or "none"."""
        lines = [
            method + b" " + target + b" HTTP/1.1",
            b"Host: 127.0.0.1",
            b"Connection: close",
            b"Content-Type: application/json",
        ]
        if token is not None:
            lines.append(b"Authorization: Bearer " + token)
        lines += [name + b": " + value for name, value in headers or []]
        if framing == "length":
            lines.append(b"Content-Length: " + str(len(body)).encode())
            payload = body
        elif framing == "chunked":
            lines.append(b"Transfer-Encoding: chunked")
            payload = b"".join(
                b"%x\r\n%s\r\n" % (len(part), part)
                for part in (body[i : i + 4096] for i in range(0, len(body), 4096))
            )
            payload += b"0\r\n\r\n"
        else:
            payload = b""
        raw = b"\r\n".join(lines) + b"\r\n\r\n" + payload
        return self._exchange(raw)

    def get(self, path: str) -> Response:
        return self._exchange(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        )

    def _exchange(self, raw: bytes) -> Response:
        with (
            service_recursion_limit(),
            socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT) as sock,
        ):
            # The server may answer early (413) and close: its answer is still readable.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(raw)  # no half-close: aiohttp takes EOF as the client leaving
            return read_response(sock)


def read_response(sock: socket.socket) -> Response:
    """Read one answer to its end (Content-Length or chunked), without waiting for the server
    to close: after an early 413 it may linger, reading a body that never comes."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before an HTTP answer: {data[:200]!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.split(b"\r\n")
    parts = status_line.split(b" ", 2)
    assert len(parts) >= 2, f"not HTTP: {data[:200]!r}"
    assert parts[0].startswith(b"HTTP/1."), f"not HTTP: {data[:200]!r}"
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(b":")
        headers[name.decode("latin-1").strip().lower()] = value.decode("latin-1").strip()
    if headers.get("transfer-encoding") == "chunked":
        while not body.endswith(b"0\r\n\r\n") and (chunk := sock.recv(65536)):
            body += chunk
        body = _dechunk(body)
    else:
        length = int(headers.get("content-length", "0"))
        while len(body) < length and (chunk := sock.recv(65536)):
            body += chunk
    return Response(int(parts[1]), headers, body)


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return bytes(out)


@contextmanager
def live(open_service: Callable[[], AbstractAsyncContextManager[Any]]) -> Iterator[LiveIngress]:
    running = LiveIngress(open_service)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def live_ingress(max_bytes: int) -> AbstractContextManager[LiveIngress]:
    """The ingress alone (role `ingress`) on a fresh embedded bus."""

    def open_service() -> AbstractAsyncContextManager[Ingress]:
        settings = make_settings(f"fuzz-{uuid.uuid4().hex[:12]}", webhook_max_bytes=max_bytes)
        return running_ingress(settings, EmbeddedBus())

    return live(open_service)
