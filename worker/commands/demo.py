"""`texter-worker demo`: the scripted tour, with nothing else installed."""

from __future__ import annotations

import argparse
import asyncio
import signal
from dataclasses import replace

from worker.commands import Subparsers, load_settings_or_exit
from worker.demo import run_demo
from worker.logs import configure_logging
from worker.settings import Settings


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "demo",
        help="the whole service on a fake Texter, with a scripted day in the inbox",
        description=(
            "Run ingress, rules (rules.example.yaml) and writer on the embedded transport (or "
            "RabbitMQ with --rabbitmq) against a seeded fake Texter, play a scripted day of "
            "contacts and agents, and print what arrived, what the rules decided and which "
            "Texter calls were made."
        ),
    )
    p.add_argument(
        "--rabbitmq",
        action="store_true",
        help="use the broker at AMQP_URL instead of the embedded transport",
    )
    p.add_argument(
        "--keep-running",
        action="store_true",
        help="stay up after the tour so you can explore (Ctrl-C stops)",
    )
    p.add_argument("--port", type=int, default=0, help="HTTP port (default: any free port)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    # The demo makes its own webhook secret; it needs no configuration besides AMQP_URL.
    overrides = {
        "WEBHOOK_ALLOW_UNAUTHENTICATED": "true",
        "HTTP_PORT": str(args.port),
        "LOG_LEVEL": "warning",
    }
    settings = load_settings_or_exit(overrides)
    if not args.rabbitmq:
        settings = replace(settings, amqp_url=None)
    elif settings.amqp_url is None:
        print("texter-worker demo: --rabbitmq needs AMQP_URL")
        return 2
    configure_logging("warning", "console")
    return asyncio.run(_main(settings, args.keep_running))


def _finish(stop: asyncio.Future[None]) -> None:
    if not stop.done():
        stop.set_result(None)


async def _main(settings: Settings, keep_running: bool) -> int:
    stop: asyncio.Future[None] | None = None
    if keep_running:
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, _finish, stop)
    return await run_demo(settings, print, stop)
