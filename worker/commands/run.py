"""`texter-worker run`: the long-running service, stopped gracefully by SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

import structlog

from worker import loop as event_loop
from worker.commands import EXIT_CONFIG, Subparsers, load_settings_or_exit
from worker.errors import BusError, ConfigError, RulesError
from worker.logs import configure_logging
from worker.runtime import ROLES, RunningService, run_until
from worker.settings import Settings

log = structlog.get_logger(__name__)
EXIT_UNAVAILABLE = 3


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "run",
        help="run the service (webhook ingress, rules, writer) until SIGTERM",
        description=(
            "Serve POST /webhooks/texter, /healthz, /readyz and /metrics and consume events "
            "with the rules until SIGTERM or SIGINT, then stop gracefully: readiness fails, "
            "intake stops, in-flight work finishes (up to SHUTDOWN_TIMEOUT), connections "
            "close, exit 0. SIGHUP reloads RULES_FILE (a bad file keeps the old rules)."
        ),
    )
    p.add_argument(
        "--role",
        choices=("all", *ROLES),
        default="all",
        help="what this process runs: ingress (webhooks to the bus), rules (events to Plans), "
        "writer (Plans to Texter), or all (default). Scale each part separately by running "
        "several processes.",
    )
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    settings = load_settings_or_exit()
    configure_logging(settings.log_level, settings.log_format, pii=settings.log_pii, final=True)
    roles = frozenset(ROLES if args.role == "all" else (args.role,))
    try:
        event_loop.run(_main(settings, roles), settings.event_loop)
    except ConfigError as exc:  # e.g. the writer without TEXTER_BASE_URL / TEXTER_API_TOKEN
        for problem in exc.problems:
            print(f"texter-worker: configuration error: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    except RulesError as exc:
        for problem in exc.problems:
            print(f"texter-worker: rules: {problem}", file=sys.stderr)
        print(
            f"texter-worker: refusing to start; check with `texter-worker rules check {exc.path}`",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    except FileNotFoundError as exc:
        print(
            f"texter-worker: RULES_FILE: {exc.filename} not found (start from "
            "rules.example.yaml, or run --role ingress)",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    except BusError as exc:
        log.error("service.failed", error=str(exc))
        print(f"texter-worker: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    return 0


async def _main(settings: Settings, roles: frozenset[str]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _on_signal, stop, sig)

    # SIGHUP's default action kills the process: take it over before anything starts.
    started: list[RunningService] = []
    loop.add_signal_handler(signal.SIGHUP, _on_sighup, started)
    await run_until(settings, stop, roles, started.append)


def _on_sighup(started: list[RunningService]) -> None:
    holder = started[0].rules if started else None
    if holder is None:
        log.warning("rules.reload_ignored", detail="no rules loaded (starting, or not this role)")
        return
    holder.reload()


def _on_signal(stop: asyncio.Event, sig: signal.Signals) -> None:
    log.info("signal.received", signal=sig.name)
    stop.set()
