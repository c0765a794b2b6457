"""What each role starts inside the service (`run --role`): rules and writer consumers, and
the shared state and clients they need. Every resource goes on the service's exit stack, so it
stops in reverse order: consumers first (handlers in progress finish), then clients, then state.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import aiohttp

from consumers.rules.consumer import RulesConsumer
from consumers.rules.guard import Budget, LoopGuard
from consumers.rules.holder import RulesHolder
from consumers.rules.watch import watch_rules
from consumers.writer.consumer import WriterConfig, WriterConsumer
from consumers.writer.steps import StepRunner
from worker.bus import Bus, Consumer, Handler, Topology
from worker.metrics import Metrics
from worker.settings import Settings
from worker.state.factory import open_memory, open_state
from worker.state.ledger import SendLedger, housekeeping
from worker.state.memory import SharedMemory
from worker.texter.client import open_client_from_settings

RULES_PREFETCH = 16
HOUSEKEEPING_EVERY = 60.0


@dataclass
class RoleContext:
    stack: AsyncExitStack
    settings: Settings
    metrics: Metrics
    bus: Bus
    topology: Topology
    clock: Callable[[], float]
    memory: SharedMemory | None = None  # injected by tests, else opened from the settings
    ledger: SendLedger | None = None
    consumers: list[Consumer] = field(default_factory=list)  # for /readyz


async def open_shared_state(ctx: RoleContext, roles: frozenset[str]) -> None:
    """The rules memory (rules, writer) and the send-once ledger (writer), from the settings
    unless injected."""
    s, ns = ctx.settings, ctx.settings.bus_namespace
    if "writer" in roles and ctx.ledger is None:
        memory, ledger = await ctx.stack.enter_async_context(
            open_state(s, namespace=ns, metrics=ctx.metrics.state)
        )
        ctx.ledger = ledger
        # `is not None`: an empty LocalMemory is falsy (it has a length)
        ctx.memory = ctx.memory if ctx.memory is not None else memory
        task = asyncio.create_task(
            housekeeping(ledger, ctx.metrics.state, every=HOUSEKEEPING_EVERY)
        )
        ctx.stack.push_async_callback(_cancel, task)
    if ctx.memory is None and roles & {"rules", "writer"}:
        ctx.memory = await ctx.stack.enter_async_context(
            open_memory(s, namespace=ns, metrics=ctx.metrics.state)
        )


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _consume(
    ctx: RoleContext, queues: tuple[str, ...], handler: Handler, prefetch: int
) -> list[Consumer]:
    consumers = [await ctx.bus.consume(q, handler, prefetch=prefetch) for q in queues]
    ctx.stack.push_async_callback(_stop_all, consumers, ctx.settings.shutdown_timeout)
    ctx.consumers.extend(consumers)
    return consumers


async def _stop_all(consumers: list[Consumer], grace: float) -> None:
    """All at once: every consumer stops taking messages, then the handlers in progress finish
    under one deadline. (One by one, the others would keep starting new work meanwhile.)"""
    await asyncio.gather(*(consumer.cancel(grace) for consumer in consumers))


async def start_rules(ctx: RoleContext, holder: RulesHolder) -> None:
    s = ctx.settings
    assert ctx.memory is not None, "open_shared_state first"
    consumer = RulesConsumer(
        bus=ctx.bus,
        topology=ctx.topology,
        holder=holder,
        guard=LoopGuard(ctx.memory, Budget(s.chat_budget, s.chat_budget_window)),
        publish_timeout=s.publish_timeout,
        metrics=ctx.metrics.rules,
        clock=ctx.clock,
    )
    await _consume(ctx, ctx.topology.rules_queues, consumer.handle, RULES_PREFETCH)
    if s.rules_watch > 0:
        watcher = asyncio.create_task(watch_rules(holder, s.rules_watch), name="rules-watch")
        ctx.stack.push_async_callback(_cancel, watcher)


async def start_writer(ctx: RoleContext) -> None:
    s = ctx.settings
    assert ctx.memory is not None, "open_shared_state first"
    assert ctx.ledger is not None, "open_shared_state first"
    client = await ctx.stack.enter_async_context(
        open_client_from_settings(s, metrics=ctx.metrics.texter)  # ConfigError without Texter
    )
    # External `http` steps get their own session: the Texter token cannot leak into them.
    http = await ctx.stack.enter_async_context(aiohttp.ClientSession())
    consumer = WriterConsumer(
        bus=ctx.bus,
        topology=ctx.topology,
        runner=StepRunner(client, http),
        ledger=ctx.ledger,
        memory=ctx.memory,
        config=WriterConfig(publish_timeout=s.publish_timeout, echo_window=s.echo_window),
        metrics=ctx.metrics.writer,
        clock=ctx.clock,
    )
    await _consume(ctx, ctx.topology.writer_queues, consumer.handle, s.writer_prefetch)
