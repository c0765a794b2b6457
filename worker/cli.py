"""The `texter-worker` command (also `python -m worker`).

Each subcommand lives in its own module under `worker/commands/` and exposes
`register(subparsers)`; this file only assembles them and documents the environment.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Sequence

from worker import __version__
from worker.commands import config, demo, dlq, rules, run, simulator, subscribe
from worker.settings import VARIABLES

# Order here is the order in --help.
COMMANDS = (run, demo, config, rules, dlq, subscribe, simulator)


def _environment_help() -> str:
    lines = ["environment variables (read once at start; see docs/configuration.md):"]
    for var in VARIABLES:
        default = "unset" if var.default is None else var.default
        lines.append(f"  {var.name}  [default: {default}]")
        lines.extend(
            textwrap.wrap(var.help, 92, initial_indent="      ", subsequent_indent="      ")
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="texter-worker",
        description="Texter webhooks in, business rules applied, Texter updated: reliably.",
        epilog=_environment_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
