"""What the demo watches: the service's own structured log lines, its metrics, the fake
Texter's call log and the calls the rules' `http` steps made. The log lines are the product's
account of what it did; the demo only collects and prints them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, MutableMapping
from typing import Any

import structlog
from prometheus_client import Counter, Histogram

from simulator.faults import Call
from simulator.server import FakeTexter
from worker.bus import Bus, Topology
from worker.demo.world import Catcher, External
from worker.metrics import Metrics

Event = dict[str, Any]
INTERESTING = {
    "webhook",
    "rules.event",
    "rules.dead_letter",
    "rules.runaway",
    "writer.step",
    "writer.plan_done",
    "writer.step_failed",
    "writer.plan_parked",
    "writer.dead_letter",
}


class Observer:
    def __init__(self, metrics: Metrics, fake: FakeTexter, catcher: Catcher) -> None:
        self.metrics, self.fake, self.catcher = metrics, fake, catcher
        self.events: list[Event] = []
        self._seen_events = 0
        self._seen_calls = 0
        self._seen_external = 0

    @contextlib.contextmanager
    def capturing_logs(self) -> Iterator[None]:
        """Route structlog into this observer (library logs: errors only, to stderr); the
        previous logging configuration is back when the block ends."""

        def keep(_: Any, __: str, event: MutableMapping[str, Any]) -> Any:
            if event.get("event") in INTERESTING:
                self.events.append(dict(event))
            raise structlog.DropEvent

        # aiormq logs every failed connect attempt as an error; the demo reports the outcome
        # of connecting (one line) itself.
        quieter = {"": logging.ERROR, "aiormq.connection": logging.CRITICAL}
        before = {name: logging.getLogger(name).level for name in quieter}
        structlog.configure(
            processors=[structlog.contextvars.merge_contextvars, keep],
            wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        )
        for name, level in quieter.items():
            logging.getLogger(name).setLevel(level)
        try:
            yield
        finally:
            structlog.reset_defaults()
            for name, level in before.items():
                logging.getLogger(name).setLevel(level)

    def new_events(self) -> list[Event]:
        fresh = self.events[self._seen_events :]
        self._seen_events = len(self.events)
        return fresh

    def new_calls(self) -> list[Call]:
        fresh = self.fake.calls[self._seen_calls :]
        self._seen_calls = len(self.fake.calls)
        return fresh

    def new_external(self) -> list[External]:
        fresh = self.catcher.received[self._seen_external :]
        self._seen_external = len(self.catcher.received)
        return fresh

    def _busy(self) -> bool:
        m = self.metrics
        accepted = m.ingress.requests.labels("accepted")._value.get()
        handled = _histogram_count(m.rules.seconds)
        planned = _total(m.rules.plans)
        finished = (
            m.writer.plans.labels("done")._value.get()
            + m.writer.plans.labels("dead_letter")._value.get()
        )
        return bool(accepted != handled or planned != finished)

    async def settle(self, bus: Bus, topology: Topology, timeout: float = 30.0) -> None:
        """Wait until every webhook (echoes included) and every Plan has been handled."""
        queues = (
            *topology.rules_queues,
            *topology.writer_queues,
            *(q.name for q in topology.queues if ".delay." in q.name),
        )
        quiet = 0
        async with asyncio.timeout(timeout):
            while quiet < 3:  # three quiet looks in a row: nothing left in flight
                await self.fake.emitter.drain()
                depth = sum([await bus.queue_depth(q) for q in queues])
                quiet = 0 if depth or self._busy() else quiet + 1
                await asyncio.sleep(0.02)


def _total(counter: Counter) -> float:
    return sum(
        s.value for metric in counter.collect() for s in metric.samples if s.name.endswith("_total")
    )


def _histogram_count(histogram: Histogram) -> float:
    return sum(
        s.value
        for metric in histogram.collect()
        for s in metric.samples
        if s.name.endswith("_count")
    )
