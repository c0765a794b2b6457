"""`texter-worker simulator`: run the fake Texter API on its own (demos, manual tests)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal

from simulator.server import FakeTexter
from worker.commands import Subparsers


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "simulator",
        help="run a fake Texter API (in-memory, with fault injection and webhooks)",
        description="Serves the Texter API under http://HOST:PORT/server/api/v2 and a control "
        "endpoint under /_control (see docs/simulator.md). Stop with Ctrl-C.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    p.add_argument("--port", type=int, default=8081)
    p.add_argument(
        "--token",
        default=os.environ.get("TEXTER_API_TOKEN", "dev-token"),
        help="API token clients must send (default: $TEXTER_API_TOKEN, else dev-token)",
    )
    p.add_argument("--no-seed", action="store_true", help="start empty (no demo chats)")
    p.add_argument("--webhook-url", help="POST the webhooks Texter would send to this URL")
    p.add_argument(
        "--webhook-token",
        default=os.environ.get("WEBHOOK_SECRET"),
        help="sent as Authorization: Bearer with each webhook (default: $WEBHOOK_SECRET)",
    )
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


async def _serve(args: argparse.Namespace) -> None:
    fake = FakeTexter(
        token=args.token,
        host=args.host,
        port=args.port,
        seed=not args.no_seed,
        webhook_url=args.webhook_url,
        webhook_token=args.webhook_token,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with fake:
        print(f"fake Texter API at {fake.url} (control: {fake.origin}/_control)", flush=True)
        if args.webhook_url:
            print(f"emitting webhooks to {args.webhook_url}", flush=True)
        await stop.wait()
