"""`texter-worker demo`: the scripted tour, with nothing else installed."""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import signal
import sys
from dataclasses import replace

from worker.commands import EXIT_CONFIG, Subparsers, load_settings_or_exit
from worker.commands.run import EXIT_UNAVAILABLE
from worker.demo import run_demo
from worker.errors import BusError, ConfigError
from worker.logs import configure_logging
from worker.settings import Settings

# The demo is interactive: an unreachable broker should say so in seconds, not after the
# service's 30 s default. AMQP_CONNECT_TIMEOUT, when set, still wins.
DEMO_CONNECT_TIMEOUT = "5s"


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "demo",
        help="the whole service on a fake Texter, with a scripted day in the inbox",
        description=(
            "Run ingress, rules (rules.example.yaml) and writer on the embedded transport (or "
            "RabbitMQ with --rabbitmq) against a seeded fake Texter, play a scripted day of "
            "contacts and agents, and print what arrived, what the rules decided, the steps "
            "the writer ran and the Texter calls they made."
        ),
    )
    p.add_argument(
        "--rabbitmq",
        action="store_true",
        help="use the broker at AMQP_URL instead of the embedded transport (the demo gives up "
        f"connecting after AMQP_CONNECT_TIMEOUT, {DEMO_CONNECT_TIMEOUT} unless set)",
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
        "AMQP_CONNECT_TIMEOUT": os.environ.get("AMQP_CONNECT_TIMEOUT") or DEMO_CONNECT_TIMEOUT,
    }
    settings = load_settings_or_exit(overrides)
    if not args.rabbitmq:
        settings = replace(settings, amqp_url=None)
    elif settings.amqp_url is None:
        print(
            "texter-worker demo: --rabbitmq needs AMQP_URL "
            "(e.g. AMQP_URL=amqp://guest:guest@127.0.0.1:5672/)",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    configure_logging("warning", "console")
    try:
        return asyncio.run(_main(settings, args.keep_running))
    except ConfigError as exc:  # e.g. --port already in use
        for problem in exc.problems:
            print(f"texter-worker demo: configuration error: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    except BusError as exc:  # --rabbitmq and the broker cannot be reached
        print(
            f"texter-worker demo: {exc} (AMQP_CONNECT_TIMEOUT={settings.amqp_connect_timeout:g}s)",
            file=sys.stderr,
        )
        return EXIT_UNAVAILABLE


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
    # Flushed line by line: the account is live even when stdout is a pipe.
    return await run_demo(settings, functools.partial(print, flush=True), stop)
