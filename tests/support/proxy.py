"""A TCP proxy on loopback that can hold the server's bytes or cut the link, for fault tests.

Put it between the worker and RabbitMQ to make a broker that delays confirms (`hold()`: bytes
from the broker are kept until `release()`) or that goes away and comes back (`cut()` closes
every connection and refuses new ones until `restore()`). The broker itself is never touched.
"""

from __future__ import annotations

import asyncio
import contextlib


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._released = asyncio.Event()
        self._released.set()
        self.held = asyncio.Event()  # set once server bytes arrive while holding
        self.refusing = False

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    def hold(self) -> None:
        """Keep every byte the server sends until release()."""
        self.held.clear()
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    async def cut(self) -> None:
        """Drop every connection now and refuse new ones: the broker 'goes down'."""
        self.refusing = True
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self.refusing = False

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self.refusing:
            client_w.transport.abort()
            return
        try:
            server_r, server_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.transport.abort()
            return
        self._writers.update({client_w, server_w})
        up = asyncio.create_task(self._pump(client_r, server_w, downstream=False))
        down = asyncio.create_task(self._pump(server_r, client_w, downstream=True))
        self._tasks.update({up, down})
        await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        for task in (up, down):
            task.cancel()
        for writer in (client_w, server_w):
            writer.transport.abort()
            self._writers.discard(writer)

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, downstream: bool
    ) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while chunk := await reader.read(65536):
                if downstream and not self._released.is_set():
                    self.held.set()
                    await self._released.wait()
                writer.write(chunk)
                await writer.drain()

    async def close(self) -> None:
        await self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
