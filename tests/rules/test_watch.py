"""RULES_WATCH: a changed rules file is reloaded without a signal; a bad one keeps the old
rules; an unchanged one is left alone."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import aiohttp

from consumers.rules.holder import RulesHolder
from consumers.rules.watch import watch_rules
from tests.conftest import wait_for
from tests.ingress.harness import make_settings
from worker.bus.embedded import EmbeddedBus
from worker.metrics import Metrics
from worker.runtime import service

ONE = """\
rules:
  - name: first
    on: newIncomingMessage
    do:
      - labels: {add: [seen]}
"""
TWO = (
    ONE
    + """\
  - name: second
    on: chatResolved
    do:
      - labels: {add: [done]}
"""
)
BAD = "rules:\n  - name: broken\n    on: newIncomingMessage\n    do: [{no_such_action: {}}]\n"


class Ticks:
    """A sleep the test advances one tick at a time."""

    def __init__(self) -> None:
        self.go = asyncio.Queue[None]()
        self.asleep = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.asleep.set()
        await self.go.get()

    async def tick(self) -> None:
        """Let the watcher look once, and wait until it is back asleep."""
        async with asyncio.timeout(5):
            await self.asleep.wait()
            self.asleep.clear()
            self.go.put_nowait(None)
            await self.asleep.wait()


def _rewrite(path: Path, text: str) -> None:
    """Replace the file as a ConfigMap update does: a new file moved over the old one."""
    fresh = path.with_suffix(".new")
    fresh.write_text(text)
    os.replace(fresh, path)


async def test_a_changed_file_is_reloaded_and_a_bad_one_keeps_the_old_rules(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(ONE)
    holder = RulesHolder.load(path)
    ticks = Ticks()
    watcher = asyncio.create_task(watch_rules(holder, 10, ticks.sleep))
    try:
        await ticks.tick()
        assert holder.generation == 1  # unchanged: not reloaded

        _rewrite(path, TWO)
        await ticks.tick()
        assert holder.generation == 2
        assert [r.name for r in holder.current.rules] == ["first", "second"]

        _rewrite(path, BAD)
        await ticks.tick()
        assert holder.generation == 2  # the old rules stay in force
        assert [r.name for r in holder.current.rules] == ["first", "second"]

        path.unlink()
        await ticks.tick()
        assert holder.generation == 2

        path.write_text(ONE)
        await ticks.tick()
        assert (holder.generation, [r.name for r in holder.current.rules]) == (3, ["first"])
    finally:
        watcher.cancel()


async def test_the_service_watches_the_file_when_asked(tmp_path: Path, namespace: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(ONE)
    settings = make_settings(namespace, rules_file=path, rules_watch=0.05)
    async with (
        service(settings, Metrics.create(), bus=EmbeddedBus(), roles=frozenset({"rules"})) as run,
        aiohttp.ClientSession(),
    ):
        holder = run.rules
        assert holder is not None
        _rewrite(path, TWO)

        async def reloaded() -> bool:
            return holder.generation == 2

        await wait_for(reloaded, timeout=10)
