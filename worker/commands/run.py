"""`texter-worker run`: the long-running service, stopped gracefully by SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

import structlog

from worker.commands import Subparsers, load_settings_or_exit
from worker.errors import BusError
from worker.logs import configure_logging
from worker.runtime import run_until
from worker.settings import Settings

log = structlog.get_logger(__name__)
EXIT_UNAVAILABLE = 3


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "run",
        help="run the service: webhook ingress on HTTP_HOST:HTTP_PORT, publishing to the bus",
        description=(
            "Serve POST /webhooks/texter, /healthz, /readyz and /metrics until SIGTERM or "
            "SIGINT, then stop gracefully: readiness fails, intake stops, in-flight requests "
            "finish (up to SHUTDOWN_TIMEOUT), connections close, exit 0."
        ),
    )
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    settings = load_settings_or_exit()
    configure_logging(settings.log_level, settings.log_format)
    try:
        asyncio.run(_main(settings))
    except BusError as exc:
        log.error("service.failed", error=str(exc))
        print(f"texter-worker: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    return 0


async def _main(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _on_signal, stop, sig)
    await run_until(settings, stop)


def _on_signal(stop: asyncio.Event, sig: signal.Signals) -> None:
    log.info("signal.received", signal=sig.name)
    stop.set()
