"""`texter-worker dlq list|show|replay|purge|resolve`: inspect and act on dead letters.

With AMQP_URL set the command talks to RabbitMQ itself. Without it the dead letters live inside
the running service (embedded transport), so it asks that service's admin API: `--url`
(default http://127.0.0.1:$HTTP_PORT) with ADMIN_TOKEN as the bearer token. `--url` also works
with RabbitMQ, e.g. from a machine without broker access. See docs/dead-letters.md.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol

import structlog

from producers.admin import AdminClient, AdminError, client_session
from worker.bus import Topology, build_topology
from worker.bus.factory import open_bus
from worker.commands import EXIT_CONFIG, Subparsers, load_settings_or_exit
from worker.deadletters import DeadLetter
from worker.dlq import (
    DeadLetterBox,
    DeadLetterNotFound,
    Listing,
    NotResolvable,
    PurgeReport,
    ReplayReport,
    ResolveReport,
    Selection,
    Shown,
)
from worker.errors import BusError, StateError
from worker.logs import configure_logging
from worker.settings import Settings
from worker.state.factory import open_state

EXIT_FAILED = 1  # something asked for was not found or not done
EXIT_UNAVAILABLE = 3  # the broker, the ledger or the admin API could not be reached
ERROR_WIDTH = 60
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


class Dlq(Protocol):
    """What both `DeadLetterBox` (direct) and `AdminClient` (HTTP) offer."""

    async def list(self, reason: str | None = None, limit: int = 50) -> Listing: ...
    async def show(self, dead_id: str) -> Shown: ...
    async def replay(self, selection: Selection) -> ReplayReport: ...
    async def purge(self, selection: Selection) -> PurgeReport: ...
    async def resolve(self, dead_id: str, *, sent: bool) -> ResolveReport: ...


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "dlq",
        help="list, show, replay, purge and resolve dead letters",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url", help="a running service's admin API (default without AMQP_URL: local HTTP_PORT)"
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    _add_reading(actions, common)
    _add_changing(actions, common)
    p.set_defaults(handler=handle)


def _add_reading(actions: Subparsers, common: argparse.ArgumentParser) -> None:
    ls = actions.add_parser("list", parents=[common], help="a table of the dead letters")
    ls.add_argument("--reason", help="only this reason (poison, permanent, in_doubt, ...)")
    ls.add_argument("--limit", type=_positive, default=50, help="show at most N (default 50)")
    show = actions.add_parser("show", parents=[common], help="one dead letter in full")
    show.add_argument("id", metavar="ID")


def _add_changing(actions: Subparsers, common: argparse.ArgumentParser) -> None:
    rp = actions.add_parser(
        "replay", parents=[common], help="send dead letters back (Plans as a fresh attempt)"
    )
    rp.add_argument("ids", nargs="*", metavar="ID")
    rp.add_argument("--reason", help="every dead letter with this reason")
    rp.add_argument("--all", action="store_true", help="every dead letter")
    pg = actions.add_parser(
        "purge", parents=[common], help="delete dead letters matching every filter (asks nothing)"
    )
    pg.add_argument("ids", nargs="*", metavar="ID")
    pg.add_argument("--older-than", type=_age, metavar="AGE", help="e.g. 30m, 12h, 7d")
    pg.add_argument("--reason", help="only this reason")
    pg.add_argument("--all", action="store_true", help="every dead letter")
    rs = actions.add_parser(
        "resolve", parents=[common], help="record whether an in_doubt send reached the chat"
    )
    rs.add_argument("id", metavar="ID")
    answer = rs.add_mutually_exclusive_group(required=True)
    answer.add_argument("--sent", dest="sent", action="store_true", help="it was sent")
    answer.add_argument("--not-sent", dest="sent", action="store_false", help="it was not")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _age(text: str) -> float:
    match = _AGE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected an age like 30m, 12h or 7d, got {text!r}")
    return float(match[1]) * _AGE_UNITS[match[2]]


def handle(args: argparse.Namespace) -> int:
    # These commands never receive webhooks, so the ingress secret is not required here.
    settings = load_settings_or_exit({"WEBHOOK_ALLOW_UNAUTHENTICATED": "true"})
    url = args.url or (None if settings.amqp_url else _local_url(settings))
    if url is not None and settings.admin_token is None:
        print(
            "texter-worker: ADMIN_TOKEN is not set; it must be the running service's token "
            "(the admin API is off without one)",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    with _quiet_logging(settings):
        try:
            return asyncio.run(_run(settings, url, args))
        except (DeadLetterNotFound, NotResolvable, ValueError) as exc:
            return _fail(exc, EXIT_FAILED)
        except AdminError as exc:
            code = EXIT_CONFIG if exc.status == 401 else EXIT_FAILED
            return _fail(exc, EXIT_UNAVAILABLE if exc.status in (0, 503) else code)
        except (BusError, StateError) as exc:
            return _fail(exc, EXIT_UNAVAILABLE)


def _local_url(settings: Settings) -> str:
    if settings.http_port == 0:
        raise SystemExit("texter-worker: HTTP_PORT is 0 (a random port): give --url")
    return f"http://127.0.0.1:{settings.http_port}"


def _fail(exc: Exception, code: int) -> int:
    print(f"texter-worker: {exc}", file=sys.stderr)
    return code


@contextmanager
def _quiet_logging(settings: Settings) -> Iterator[None]:
    """Only errors on stderr while the command runs: stdout is the command's output, and what
    went wrong in an operation is in its report. The previous set-up is restored after, for
    callers that run several commands in one process (tests)."""
    saved, root = structlog.get_config(), logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("debug" if settings.log_level == "debug" else "error", settings.log_format)
    try:
        yield
    finally:
        structlog.configure(**saved)
        root.handlers[:], root.level = handlers, level


@asynccontextmanager
async def _open(settings: Settings, url: str | None, *, ledger: bool) -> AsyncIterator[Dlq]:
    async with AsyncExitStack() as stack:
        if url is not None:
            session = await stack.enter_async_context(client_session())
            yield AdminClient(session, url, settings.admin_token or "")
            return
        bus = await stack.enter_async_context(open_bus(settings))
        topology = build_topology(
            settings.bus_namespace, settings.bus_shards, delays=settings.delay_schedule
        )
        await bus.declare(_dead_letters_only(topology))
        send_ledger = None
        if ledger:  # only resolve needs it: do not create a ledger file to list dead letters
            state = open_state(settings, namespace=settings.bus_namespace)
            _, send_ledger = await stack.enter_async_context(state)
        yield DeadLetterBox(
            bus,
            topology,
            send_ledger,
            publish_timeout=settings.publish_timeout,
            progress=_progress,
        )


def _dead_letters_only(topology: Topology) -> Topology:
    """The dead-letter exchange and queue alone: a tool must not create (or clash with) the
    service's other queues, whose arguments are the service's business."""
    dead = topology.dead_exchange
    return replace(
        topology,
        exchanges=tuple(e for e in topology.exchanges if e.name == dead),
        queues=tuple(q for q in topology.queues if q.name == topology.dead_queue),
    )


def _progress(operation: str, done: int, total: int) -> None:
    print(f"{operation}: {done}/{total}", file=sys.stderr)


async def _run(settings: Settings, url: str | None, args: argparse.Namespace) -> int:
    async with _open(settings, url, ledger=args.action == "resolve") as dlq:
        if args.action == "list":
            return _print_listing(await dlq.list(args.reason, args.limit), args.reason)
        if args.action == "show":
            return _print_shown(await dlq.show(args.id))
        if args.action == "replay":
            selection = Selection(ids=tuple(args.ids), reason=args.reason, all=args.all)
            return _print_replay(await dlq.replay(selection))
        if args.action == "purge":
            selection = Selection(
                ids=tuple(args.ids), reason=args.reason, older_than=args.older_than, all=args.all
            )
            return _print_purge(await dlq.purge(selection))
        return _print_resolve(await dlq.resolve(args.id, sent=args.sent))


# --- output ---------------------------------------------------------------------------------


def _when(at: float | None) -> str:
    return "-" if at is None else datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _trim(text: str | None, width: int) -> str:
    one_line = " ".join((text or "-").split())
    return one_line if len(one_line) <= width else one_line[: width - 1] + "…"


def _row(e: DeadLetter) -> list[str]:
    step = "-" if e.step is None else str(e.step)
    cells = [_when(e.at), e.id, e.reason, e.chat or "-", e.rule or "-", step]
    return [*cells, _trim(e.error, ERROR_WIDTH)]


def _print_listing(listing: Listing, reason: str | None) -> int:
    rows = [["TIME (UTC)", "ID", "REASON", "CHAT", "RULE", "STEP", "ERROR"]]
    rows += [_row(e) for e in listing.entries]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join([*(c.ljust(w) for c, w in zip(r, widths, strict=False)), r[-1]]))
    which = f" with reason {reason}" if reason else ""
    print(
        f"{len(listing.entries)} of {listing.matching} dead letter(s){which} shown; "
        f"{listing.total} in the queue"
    )
    return 0


def _print_shown(shown: Shown) -> int:
    for name, value in _fields(shown.entry):
        text = _when(shown.entry.at) + " UTC" if name == "at" else value
        print(f"{name}: {'-' if text is None else text}")
    print("headers:")
    for name in sorted(shown.headers):
        print(f"  {name}: {shown.headers[name]}")
    print("body:")
    print(shown.body)
    return 0


def _fields(entry: DeadLetter) -> list[tuple[str, object]]:
    return [(name, getattr(entry, name)) for name in entry.__struct_fields__]


def _print_missing(missing: tuple[str, ...]) -> None:
    for dead_id in missing:
        print(f"not found  {dead_id}")


def _print_replay(report: ReplayReport) -> int:
    for dead_id in report.replayed:
        print(f"replayed   {dead_id}")
    for dead_id, error in report.failed.items():
        print(f"FAILED     {dead_id}: {error} (still in the dead-letter queue)")
    for dead_id in report.left_in_queue:
        print(f"NOTE       {dead_id}: replayed, but still in the dead-letter queue (harmless)")
    _print_missing(report.missing)
    print(f"{len(report.replayed)} replayed, {len(report.failed)} failed")
    return EXIT_FAILED if report.failed or report.missing else 0


def _print_purge(report: PurgeReport) -> int:
    for e in report.removed:
        print(f"removed    {e.id}  {_when(e.at)}  {e.reason}  {e.chat or '-'}")
    _print_missing(report.missing)
    print(f"{len(report.removed)} removed")
    return EXIT_FAILED if report.missing else 0


def _print_resolve(report: ResolveReport) -> int:
    what = "sent: a replay skips it" if report.sent else "not sent: a replay sends it"
    print(f"{report.id}: step {report.step_key} recorded as {what}")
    print(f"ledger state now: {report.state or 'free'}")
    print(f"next: texter-worker dlq replay {report.id}")
    return 0
