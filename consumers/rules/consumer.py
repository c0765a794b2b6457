"""The rules consumer: events off `<ns>.rules.<n>`, Plans onto `<ns>.commands`, then the ack.

For each event, in this order (a crash anywhere means a redelivery, which repeats the same steps
with the same ids, so nothing is planned twice under two names):

1. decode it; a body that is not an event is dead-lettered as `poison`;
2. ask the guard which rules to hold back (echo of our own write, once_per_chat already used);
3. evaluate the rules (pure) at the event's receive time (`x-received-at-ms`, kept on
   redelivery), so a redelivery evaluated later builds the same Plans byte for byte;
4. claim once_per_chat windows, charge the chat's budget;
5. publish each admitted Plan and wait for its confirm; a bus failure is retried in place, so
   this shard's later events wait behind it (per-chat order) instead of overtaking it;
6. dead-letter rule failures (`rule_error`, the event) and over-budget Plans (`budget_exceeded`,
   the Plan) with their reasons; 7. return, and the dispatcher acks.

The shared state (steps 2 and 4) failing (`StateUnavailable`: Redis down) is an outage, not a
fault of the event: it is retried in place with the same bounded backoff as the bus, never
dead-lettered; stopping the consumer meanwhile leaves the event unacked for redelivery.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import structlog
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from consumers.rules.context import decode_raw_event
from consumers.rules.engine import EvaluationResult
from consumers.rules.guard import Admission, LoopGuard
from consumers.rules.holder import RulesHolder
from worker.bus import Bus, Delivery, Message, shard_of
from worker.bus.topology import Topology, routing_key
from worker.deadletters import Why, dead_letter_message
from worker.errors import BusError, StateUnavailable
from worker.events import EVENT_NAMES
from worker.metrics import RulesMetrics
from worker.plans import Plan, encode_plan
from worker.retrying import first_try_free

log = structlog.get_logger(__name__)
Sleep = Callable[[float], Awaitable[None]]
T = TypeVar("T")
RECEIVED_AT = "x-received-at-ms"  # set by the ingress (docs/events.md), kept on redelivery


class RulesConsumer:
    def __init__(
        self,
        *,
        bus: Bus,
        topology: Topology,
        holder: RulesHolder,
        guard: LoopGuard,
        publish_timeout: float,
        metrics: RulesMetrics | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._bus, self._topology, self._holder, self._guard = bus, topology, holder, guard
        self._timeout = publish_timeout
        self._metrics = metrics
        self._clock = clock
        self._sleep = sleep

    async def handle(self, delivery: Delivery) -> None:
        started = time.perf_counter()
        msg = delivery.message
        structlog.contextvars.bind_contextvars(event_id=msg.message_id, event_name=msg.type)
        try:
            await self._handle(delivery)
        finally:
            structlog.contextvars.unbind_contextvars("event_id", "event_name")
            if self._metrics:
                self._metrics.seconds.observe(time.perf_counter() - started)

    async def _handle(self, delivery: Delivery) -> None:
        try:
            name, data = decode_raw_event(delivery.message.body)
        except ValueError as exc:
            await self._dead(
                delivery, Why("poison", str(exc), "rules", attempts=delivery.delivery_count + 1)
            )
            return
        if self._metrics:
            self._metrics.events.labels(name if name in EVENT_NAMES else "other").inc()
        chat_id = _chat_id(delivery, data)
        dedup_key = delivery.message.message_id
        now = self._event_time(delivery)
        result, admission = await self._decide(name, data, chat_id, dedup_key, now)
        for plan in admission.admitted:
            await self._publish(
                self._topology.commands_exchange, self._plan_message(delivery, plan)
            )
            if self._metrics:  # counted once the broker has it, not before
                self._metrics.plans.labels(plan.rule or "").inc()
        await self._dead_letter_failures(delivery, result, admission)
        log.info(
            "rules.event",
            chat_id=chat_id,
            matched=result.matched_rules,
            plans=[p.rule for p in admission.admitted],
            errors=len(result.errors),
            skipped=admission.held,
            stopped_at=result.stopped_at,
        )

    def _event_time(self, delivery: Delivery) -> datetime:
        """When the ingress received the event: the same on every redelivery, so time-based
        conditions and `now_iso` in templates do not change when it is evaluated again. The
        consumer's clock only when the header is absent or unusable (a foreign publisher, a
        dead letter replayed by the CLI)."""
        received = delivery.message.headers.get(RECEIVED_AT)
        if isinstance(received, int) and not isinstance(received, bool) and received > 0:
            try:
                return datetime.fromtimestamp(received / 1000, UTC)
            except (OverflowError, OSError, ValueError):
                pass
        return datetime.fromtimestamp(self._clock(), UTC)

    async def _decide(
        self, name: str, data: dict[str, Any], chat_id: str | None, dedup_key: str, now: datetime
    ) -> tuple[EvaluationResult, Admission]:
        rules = self._holder.current  # one rule set for the whole event, retries included
        skip = await self._with_state(
            "skipped_rules",
            lambda: self._guard.skipped_rules(
                rules, name, data, chat_id=chat_id, dedup_key=dedup_key
            ),
        )
        started = time.perf_counter()
        result = rules.evaluate(
            name, data, dedup_key=dedup_key, chat_id=chat_id, now=now, skip=skip
        )
        if self._metrics:
            self._metrics.evaluation_seconds.observe(time.perf_counter() - started)
        # The budget window is the consumer's own clock: a redelivery gets the verdict of its
        # first delivery anyway (the guard remembers it by Plan id).
        admission = await self._with_state(
            "admit", lambda: self._guard.admit(rules, result.plans, self._clock())
        )
        admission.held = {**skip, **dict.fromkeys(admission.once_blocked, "once_per_chat")}
        self._count(result, admission, skip)
        return result, admission

    def _count(self, result: EvaluationResult, admission: Admission, skip: dict[str, str]) -> None:
        m = self._metrics
        if m is None:
            return
        for rule in result.matched_rules:
            m.matches.labels(rule).inc()
        for failure in result.errors:
            m.errors.labels(failure.rule).inc()
        for reason in [*skip.values(), *("once_per_chat" for _ in admission.once_blocked)]:
            m.skipped.labels(reason).inc()

    async def _dead_letter_failures(
        self, delivery: Delivery, result: EvaluationResult, admission: Admission
    ) -> None:
        for failure in result.errors:
            why = Why(
                "rule_error",
                failure.describe(),
                "rules",
                rule=failure.rule,
                step=failure.step_index,
            )
            await self._dead(delivery, why)
        for plan in admission.over_budget:
            log.error(
                "rules.runaway",
                chat_id=plan.chat_id,
                rule=plan.rule,
                detail="per-chat budget exceeded: Plan dead-lettered, not run",
            )
            as_delivery = Delivery(
                self._plan_message(delivery, plan), delivery.queue, self._topology.commands_exchange
            )
            await self._dead(
                as_delivery,
                Why("budget_exceeded", "per-chat step budget exceeded", "rules", rule=plan.rule),
            )

    def _plan_message(self, cause: Delivery, plan: Plan) -> Message:
        headers: dict[str, str | int | bool] = {
            "x-rule": plan.rule or "",
            "x-cause-event": plan.cause_event_id or "",
        }
        if plan.chat_id is not None:
            headers["x-chat-id"] = plan.chat_id
        received = cause.message.headers.get("x-received-at-ms")
        if isinstance(received, int):
            headers["x-received-at-ms"] = received  # end-to-end latency is measured from here
        return Message(
            body=encode_plan(plan),
            routing_key=routing_key(shard_of(plan.chat_id or plan.id, self._topology.shards)),
            message_id=plan.id,
            type="plan",
            headers=headers,
            timestamp=self._clock(),
        )

    async def _dead(self, delivery: Delivery, why: Why) -> None:
        log.warning("rules.dead_letter", reason=why.reason, error=why.error, rule=why.rule)
        await self._publish(self._topology.dead_exchange, dead_letter_message(delivery, why))
        if self._metrics:  # like plans_total: once the broker has it
            self._metrics.dead_letters.labels(why.reason).inc()

    async def _publish(self, exchange: str, message: Message) -> None:
        """Publish and wait for the confirm; retry in place until the bus takes it (or the
        consumer is stopped, which leaves the event unacked for redelivery)."""

        async def publish() -> None:
            await self._bus.publish(exchange, message, timeout=self._timeout)

        await self._retry_in_place("rules.publish_retry", BusError, publish)

    async def _with_state(self, operation: str, call: Callable[[], Awaitable[T]]) -> T:
        """A guard call on the shared state, retried in place while the backend is down: the
        event is neither dead-lettered nor acked for an outage. The guard's writes are keyed by
        Plan id, so repeating a call that half-succeeded claims nothing twice (a budget charge
        may count twice: the safe side)."""
        return await self._retry_in_place(
            "rules.state_retry", StateUnavailable, call, operation=operation
        )

    async def _retry_in_place(
        self,
        event: str,
        errors: type[Exception],
        call: Callable[[], Awaitable[T]],
        **context: str,
    ) -> T:
        """Until `call` succeeds, with exponential backoff and jitter capped at 5 s. No attempt
        limit: an outage of the bus or the state stalls this shard (later events of its chats
        wait, in order) instead of losing or reordering anything; cancelling the consumer at
        shutdown ends it, and the unacked event is delivered again. The first try builds no
        retry machinery (worker/retrying.py)."""

        def retrying() -> AsyncRetrying:
            return AsyncRetrying(
                retry=retry_if_exception_type(errors),
                wait=wait_exponential_jitter(multiplier=0.1, max=5),
                sleep=self._sleep,
                before_sleep=lambda state: log.warning(
                    event,
                    attempt=state.attempt_number,
                    error=repr(state.outcome.exception() if state.outcome else None),
                    **context,
                ),
                reraise=True,
            )

        return await first_try_free(call, errors, retrying)


def _chat_id(delivery: Delivery, data: Mapping[str, Any]) -> str | None:
    header = delivery.message.headers.get("x-chat-id")
    if isinstance(header, str) and header:
        return header
    chat = data.get("chat")
    if isinstance(chat, Mapping) and isinstance(chat.get("_id"), str):
        return str(chat["_id"])
    return None
