"""The writer consumer: one Plan at a time per shard, its steps in order, each effect once.

For each step, with the send-once ledger:
    done before (a redelivery)            → skipped, counted
    non-idempotent: claim its key         → CLAIMED: run it; DONE: skip; IN_DOUBT: dead letter
    remember the echo it will cause       (before the call: the webhook can beat its answer)
    run it                                → success: mark done
                                            transient: release the claim, park the rest
                                            permanent: release the claim, dead letter
                                            in doubt: keep the claim, dead letter `in_doubt`

"Park the rest" publishes a continuation (the remaining steps, attempt + 1, not_before) to the
next delay tier; it returns to this shard's queue when the tier's TTL ends. Completed steps are
never in it. Every publish waits for its confirm before the Plan is acked.

The ledger and the memory may be unavailable (`StateUnavailable`): each call is retried in
place (`once.py`, `guarded.py`); if the backend stays down, the steps not yet run are parked for
one tier with the same attempt number, never dead-lettered. A step that ran but whose done-mark
could not be written is not in that continuation, and its key stays claimed (a redelivery of the
original finds it in doubt): it is never sent twice.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import msgspec
import structlog
from msgspec import structs
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from consumers.writer.guarded import Sleep, StateDown, StateRetry
from consumers.writer.once import Once
from consumers.writer.outcome import Kind, StepFailure, classify
from consumers.writer.steps import StepRunner
from worker.bus import Bus, Delivery, Message, Requeue
from worker.bus.topology import Topology
from worker.deadletters import Why, dead_letter_message, living_headers
from worker.errors import BusError
from worker.metrics import WriterMetrics
from worker.plans import Plan, Step, action_of, decode_plan, encode_plan
from worker.state.ledger import SendLedger
from worker.state.memory import SharedMemory

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class WriterConfig:
    publish_timeout: float
    echo_window: float
    state_retry: StateRetry = field(default_factory=StateRetry)


class WriterConsumer:
    def __init__(
        self,
        *,
        bus: Bus,
        topology: Topology,
        runner: StepRunner,
        ledger: SendLedger,
        memory: SharedMemory,
        config: WriterConfig,
        metrics: WriterMetrics | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._bus, self._topology, self._runner = bus, topology, runner
        self._config = config
        self._metrics, self._clock, self._sleep = metrics, clock, sleep
        self._jitter = jitter
        self._once = Once(ledger, memory, config.echo_window, config.state_retry, sleep)

    async def handle(self, delivery: Delivery) -> None:
        try:
            plan = decode_plan(delivery.message.body)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError, RecursionError) as exc:
            # RecursionError: nested deeper than the decoder goes (a hostile or broken producer)
            await self._dead(delivery, None, Why("poison", f"not a valid Plan: {exc}", "writer"))
            return
        ids = {
            "plan_id": plan.id,
            "event_id": plan.cause_event_id,
            "chat_id": plan.chat_id,
            "rule": plan.rule,
            "attempt": plan.attempt,
        }
        structlog.contextvars.bind_contextvars(**ids)
        try:
            await self._handle(delivery, plan)
        finally:
            structlog.contextvars.unbind_contextvars(*ids)

    async def _handle(self, delivery: Delivery, plan: Plan) -> None:
        wait = self._wait_left(plan)
        if wait > 0:  # early (a Retry-After longer than its tier, or a producer's not_before)
            await self._park(delivery, plan, wait, plan.attempt, "parked")
            return
        for index, step in enumerate(plan.steps):
            try:
                await self._step(delivery, plan, step)
            except StepFailure as failure:
                await self._fail(delivery, plan, index, failure)
                return
            except StateDown as down:
                rest = index + 1 if down.step_ran else index  # a step that ran is never rerun
                await self._wait_for_state(delivery, plan, rest, down)
                return
        self._count_plan("done")
        log.info("writer.plan_done", steps=len(plan.steps))

    def _wait_left(self, plan: Plan) -> float:
        if plan.not_before is None:
            return 0.0
        return plan.not_before.timestamp() - self._clock()

    async def _step(self, delivery: Delivery, plan: Plan, step: Step) -> None:
        """Run one step once; raise StepFailure with the verdict when it fails, StateDown when
        the ledger or the memory stayed unavailable."""
        key, action = step.idempotency_key, action_of(step)
        if not await self._once.may_run(step):
            self._count_step(action, "skipped")
            log.info(
                "writer.step",
                action=action,
                step_key=key,
                outcome="skipped",
                detail="done before (a redelivery or a replay)",
            )
            return
        try:
            # Before the call: Texter may deliver the echo webhook before the call even returns.
            await self._once.remember_echo(getattr(step, "chat_id", None) or plan.chat_id, step)
        except StateDown:
            await self._once.give_back(step)  # nothing was sent
            raise
        started = time.perf_counter()
        try:
            await self._runner.run(step, plan.chat_id)
        except Exception as exc:  # classify() re-raises what is not a Texter outcome
            failure = classify(exc)
            if failure.kind is not Kind.IN_DOUBT:
                await self._once.give_back(step)  # nothing happened: a later attempt may send
            self._count_step(action, failure.kind.value)
            raise failure from exc
        finally:
            if self._metrics:
                self._metrics.step_seconds.labels(action).observe(time.perf_counter() - started)
        try:
            await self._once.mark_done(step)
        finally:
            self._count_step(action, "done")  # it happened, recorded or not
        log.info(
            "writer.step",
            action=action,
            step_key=key,
            outcome="done",
            seconds=round(time.perf_counter() - started, 4),
        )
        self._observe_end_to_end(delivery)

    async def _fail(self, delivery: Delivery, plan: Plan, index: int, failure: StepFailure) -> None:
        rest = _rest_of(plan, index)
        step = plan.steps[index]
        log.warning(
            "writer.step_failed",
            kind=failure.kind.value,
            action=action_of(step),
            error=failure.error,
            step_key=step.idempotency_key,
        )
        if failure.kind is Kind.TRANSIENT:
            await self._retry_later(delivery, rest, failure)
            return
        why = Why(
            failure.kind.value,
            failure.error,
            "writer",
            rule=plan.rule,
            step=rest.first_step,
            attempts=plan.attempt,
            step_key=step.idempotency_key,
        )
        await self._dead(delivery, rest, why)

    async def _retry_later(self, delivery: Delivery, rest: Plan, failure: StepFailure) -> None:
        delays = self._topology.delays_ms
        if rest.attempt > len(delays):
            why = Why(
                "retries_exhausted",
                failure.error,
                "writer",
                rule=rest.rule,
                step=rest.first_step,
                attempts=rest.attempt,
                step_key=rest.steps[0].idempotency_key,
            )
            await self._dead(delivery, rest, why)
            return
        wait = max(delays[rest.attempt - 1] / 1000, failure.retry_after or 0.0)
        # Up to 10% later, never earlier: Plans parked on one Retry-After do not all return at
        # the same instant and hit the limit together again.
        wait *= 1 + self._jitter() * 0.1
        await self._park(delivery, rest, wait, rest.attempt + 1, "retry_later")

    async def _wait_for_state(
        self, delivery: Delivery, plan: Plan, index: int, down: StateDown
    ) -> None:
        """The state backend stayed down: park the steps not yet run for one tier of the
        current attempt, keeping the attempt number (the Plan did nothing wrong, so a long
        outage never exhausts its retries). Nothing left to run: the Plan is done."""
        log.warning("writer.state_unavailable", operation=down.operation, error=down.error)
        if index == len(plan.steps):
            self._count_plan("done")
            log.info("writer.plan_done", steps=len(plan.steps))
            return
        delays = self._topology.delays_ms
        if not delays:  # no delay tiers: the queue holds it (delivery limit applies)
            raise Requeue
        wait = delays[min(plan.attempt, len(delays)) - 1] / 1000 * (1 + self._jitter() * 0.1)
        await self._park(delivery, _rest_of(plan, index), wait, plan.attempt, "state_unavailable")

    async def _park(
        self, delivery: Delivery, plan: Plan, wait: float, attempt: int, outcome: str
    ) -> None:
        """Publish the Plan to the delay tier that fits `wait`; it comes back to its shard."""
        not_before = datetime.fromtimestamp(self._clock() + wait, UTC)
        continuation = structs.replace(plan, attempt=attempt, not_before=not_before)
        tier = _tier_for(self._topology.delays_ms, wait)
        message = _plan_message(delivery, continuation)
        await self._publish(self._topology.delay_exchange(tier), message)
        self._count_plan(outcome)
        log.info(
            "writer.plan_parked",
            wait=round(wait, 3),
            next_attempt=attempt,
            tier_ms=self._topology.delays_ms[tier - 1],
        )

    async def _dead(self, delivery: Delivery, plan: Plan | None, why: Why) -> None:
        source = (
            delivery if plan is None else replace(delivery, message=_plan_message(delivery, plan))
        )
        log.warning("writer.dead_letter", reason=why.reason, error=why.error)
        self._count_plan("dead_letter")
        if self._metrics:
            self._metrics.dead_letters.labels(why.reason).inc()
        await self._publish(self._topology.dead_exchange, dead_letter_message(source, why))

    async def _publish(self, exchange: str, message: Message) -> None:
        """Confirmed publish, retried in place while the bus is down (this shard waits)."""
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(BusError),
            wait=wait_exponential_jitter(multiplier=0.1, max=5),
            sleep=self._sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                await self._bus.publish(exchange, message, timeout=self._config.publish_timeout)

    def _count_plan(self, outcome: str) -> None:
        if self._metrics:
            self._metrics.plans.labels(outcome).inc()

    def _count_step(self, action: str, outcome: str) -> None:
        if self._metrics:
            self._metrics.steps.labels(action, outcome).inc()

    def _observe_end_to_end(self, delivery: Delivery) -> None:
        received = delivery.message.headers.get("x-received-at-ms")
        if self._metrics and isinstance(received, int):
            self._metrics.end_to_end_seconds.observe(max(0.0, self._clock() - received / 1000))


def _tier_for(delays_ms: tuple[int, ...], wait: float) -> int:
    """The 1-based delay tier for a wait: the shortest tier at least as long, else the longest.
    A tier shorter than needed is fine: the Plan comes back early and is parked again."""
    for tier, ms in enumerate(delays_ms, start=1):
        if ms / 1000 >= wait:
            return tier
    return len(delays_ms)


def _rest_of(plan: Plan, index: int) -> Plan:
    """The Plan from `steps[index]` on, numbered as in the Plan first published."""
    if index == 0:
        return plan
    return structs.replace(plan, steps=plan.steps[index:], step_offset=plan.first_step + index)


def _plan_message(cause: Delivery, plan: Plan) -> Message:
    """The Plan as a message on the same shard (routing key), with the cause's headers, minus
    the broker's record of earlier deaths (a delay tier's expiry is not a failure, and a dead
    letter must be described by its own death), plus the Plan's chat for `dlq list`."""
    headers = living_headers(cause.message.headers)
    if plan.chat_id is not None:
        headers["x-chat-id"] = plan.chat_id
    return Message(
        body=encode_plan(plan),
        routing_key=cause.message.routing_key,
        message_id=f"{plan.id}:a{plan.attempt}",
        type="plan",
        headers=headers,
        timestamp=cause.message.timestamp,
    )
