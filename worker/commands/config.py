"""`texter-worker config`: validate the environment and print the effective settings."""

from __future__ import annotations

import argparse

from worker.commands import Subparsers, load_settings_or_exit


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "config",
        help="check the environment and print the effective settings (secrets masked)",
        description="Validate every variable as `run` would; exit 2 with one line per problem.",
    )
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    settings = load_settings_or_exit()
    for name, value in settings.public_items():
        print(f"{name.upper()}={value}")
    return 0
