"""`texter-worker subscribe` and `texter-worker subscriptions list`: manage Texter webhooks.

Subscriptions are Texter scenarios imported from the 19 "(SUB)" templates bundled in
worker/texter/subscriptions/, with the webhook URL filled in. Needs TEXTER_BASE_URL (or
TEXTER_PROJECT) and TEXTER_API_TOKEN with the scenario scopes (see docs/texter-client.md).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys

from worker.commands import Subparsers, load_settings_or_exit
from worker.errors import ConfigError, TexterError
from worker.settings import Settings
from worker.texter import open_client_from_settings
from worker.texter.models import Scenario
from worker.texter.subscriptions import Created, event_names, subscribe

EXIT_TEXTER = 1
EXIT_CONFIG = 2
# The ingress reads its secret from ?token=; never echo it back.
_TOKEN_IN_URL = re.compile(r"([?&](?:token|secret|key)=)[^&#]*", re.IGNORECASE)


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "subscribe",
        help="import Texter's (SUB) webhook subscriptions pointing at a URL",
        description="Import one subscription per event (default: all 19) and print the ids. "
        "Running it twice creates duplicates: check `subscriptions list` first.",
    )
    p.add_argument(
        "--url", required=True, help="webhook URL, e.g. https://host/webhooks/texter?token=..."
    )
    p.add_argument(
        "--event",
        action="append",
        choices=event_names(),
        metavar="NAME",
        help="an eventName to subscribe to (repeatable; default: all)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="fill a template placeholder: word1, word2 (newMatchedMessage), "
        "targetLabelId (chatSpecificLabelAdded); unfilled ones are imported inactive",
    )
    p.add_argument("--status", choices=("active", "inactive", "draft"), default="active")
    p.set_defaults(handler=handle_subscribe)

    s = sub.add_parser("subscriptions", help="show the Texter subscriptions (scenarios)")
    actions = s.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="list every scenario: id, status, name, webhook URL")
    s.set_defaults(handler=handle_list)


def _settings() -> Settings:
    # These commands never receive webhooks, so the ingress secret is not required here.
    return load_settings_or_exit({"WEBHOOK_ALLOW_UNAUTHENTICATED": "true"})


def _values(pairs: list[str]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"texter-worker: --set expects NAME=VALUE, got {pair!r}")
        values[name] = value
    return values


def handle_subscribe(args: argparse.Namespace) -> int:
    settings = _settings()
    values = _values(args.set)
    try:
        created = asyncio.run(_subscribe(settings, args.url, args.event, values, args.status))
    except (ConfigError, TexterError, ValueError) as exc:
        return _fail(exc)
    for item in created:
        note = (
            f"  (inactive: fill {', '.join(sorted(item.unfilled))} with --set)"
            if item.unfilled
            else ""
        )
        print(f"{item.scenario_id}  {item.as_status:8}  {item.event}{note}")
    return 0


async def _subscribe(
    settings: Settings, url: str, events: list[str] | None, values: dict[str, str], status: str
) -> list[Created]:
    async with open_client_from_settings(settings) as client:
        return await subscribe(client, url, events, values=values, as_status=status)


def handle_list(args: argparse.Namespace) -> int:
    settings = _settings()
    try:
        scenarios = asyncio.run(_list(settings))
    except (ConfigError, TexterError) as exc:
        return _fail(exc)
    for scenario in scenarios:
        print(f"{scenario.id}  {scenario.status:8}  {scenario.name}  {_webhook_url(scenario)}")
    print(f"{len(scenarios)} scenario(s)")
    return 0


async def _list(settings: Settings) -> list[Scenario]:
    async with open_client_from_settings(settings) as client:
        return (await client.list_subscriptions()).scenarios


def _webhook_url(scenario: Scenario) -> str:
    revisions = [scenario.active_revision, *scenario.inactive_revisions, *scenario.drafts]
    for revision in filter(None, revisions):
        for action in revision.get("actions") or []:
            url = (action.get("params") or {}).get("url")
            if action.get("name") == "request" and isinstance(url, str):
                return _TOKEN_IN_URL.sub(r"\1***", url)
    return "-"


def _fail(exc: Exception) -> int:
    if isinstance(exc, ConfigError):
        for problem in exc.problems:
            print(f"texter-worker: configuration error: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"texter-worker: {exc}", file=sys.stderr)
    return EXIT_TEXTER
