"""Subcommands of `texter-worker`, one module each, each with `register(subparsers)`."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from worker.errors import ConfigError
from worker.settings import Settings

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    Subparsers = argparse._SubParsersAction

EXIT_CONFIG = 2


def load_settings_or_exit(overrides: dict[str, str] | None = None) -> Settings:
    """Settings from the environment; on bad values print one line per problem and exit 2."""
    env = {**os.environ, **(overrides or {})}
    try:
        return Settings.from_env(env)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"texter-worker: configuration error: {problem}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None
