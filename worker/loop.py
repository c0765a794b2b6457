"""The event loop the service runs on: uvloop when it is there (EVENT_LOOP=auto), else asyncio.

uvloop (libuv) runs the same asyncio code with less CPU per event: in bench/ingress.py it
accepts ~15-20% more webhooks per core (docs/performance.md). It is a dependency on Linux and
macOS; elsewhere `auto` falls back to asyncio's own loop. EVENT_LOOP=asyncio forces that.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from worker.errors import ConfigError

T = TypeVar("T")
LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def loop_factory(choice: str) -> LoopFactory | None:
    """The factory for EVENT_LOOP's choice; None means asyncio's default loop."""
    if choice == "asyncio":
        return None
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        if choice == "uvloop":
            raise ConfigError(
                ["EVENT_LOOP: uvloop is not installed (pip install uvloop)"]
            ) from None
        return None
    factory: LoopFactory = uvloop.new_event_loop
    return factory


def run(main: Coroutine[Any, Any, T], choice: str) -> T:
    """asyncio.run(main) on the chosen loop."""
    with asyncio.Runner(loop_factory=loop_factory(choice)) as runner:
        return runner.run(main)
