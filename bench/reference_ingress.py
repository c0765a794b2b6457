"""The minimal reference ingress `bench/ingress.py` compares ours with: the raw ceiling.

    .venv/bin/python bench/reference_ingress.py --queue NAME [--port 0] [--uvloop]

An aiohttp handler that decodes the envelope (eventName, eventData left raw) and publishes the
body persistent, with a publisher confirm, to one durable quorum queue (declared here), then
answers 202. Nothing else: no auth, no size check beyond aiohttp's, no dedup key, no metrics,
no logs. Logs one JSON line `{"event": "http.listening", "url": ...}` on stderr when ready;
stops on SIGTERM. The benchmark deletes the queue.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

import aio_pika
import msgspec
from aio_pika.abc import AbstractExchange
from aiohttp import web

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


class Envelope(msgspec.Struct):
    eventName: str  # noqa: N815 - the wire name
    eventData: msgspec.Raw  # noqa: N815


_decode = msgspec.json.Decoder(Envelope).decode
EXCHANGE = web.AppKey("exchange", AbstractExchange)
QUEUE = web.AppKey("queue", str)


async def webhook(request: web.Request) -> web.Response:
    body = await request.read()
    try:
        _decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return web.Response(status=400)
    message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
    await request.app[EXCHANGE].publish(message, routing_key=request.app[QUEUE])
    return web.Response(status=202)


async def main(url: str, queue: str, port: int) -> None:
    connection = await aio_pika.connect(url)
    channel = await connection.channel(publisher_confirms=True)
    await channel.declare_queue(queue, durable=True, arguments={"x-queue-type": "quorum"})
    app = web.Application()
    app[EXCHANGE], app[QUEUE] = channel.default_exchange, queue
    app.router.add_post("/webhooks/texter", webhook)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    host, bound = runner.addresses[0][:2]
    listening = {"event": "http.listening", "url": f"http://{host}:{bound}"}
    sys.stderr.write(json.dumps(listening) + "\n")
    sys.stderr.flush()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
    await connection.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--amqp-url", default=AMQP_URL)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop (if installed)")
    args = parser.parse_args()
    coro = main(args.amqp_url, args.queue, args.port)
    if args.uvloop:
        import uvloop  # type: ignore[import-not-found,unused-ignore]

        uvloop.run(coro)
    else:
        asyncio.run(coro)
