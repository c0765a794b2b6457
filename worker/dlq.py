"""The dead-letter box: list, show, replay, purge and resolve what sits in `<ns>.dead`.

Used by `texter-worker dlq` (straight on RabbitMQ) and by the admin HTTP API (inside a service
on the embedded transport, whose dead letters live in its memory). Both see the same results.

Replay never loses a dead letter: each selected one is published back where it came from and
waits for the broker's confirm; only the confirmed ones are then taken off the queue. A publish
that fails leaves its dead letter in place (reported as failed). A crash between the confirm and
the take leaves a dead letter that was already replayed: replaying it again is safe, because
Plans keep their idempotency keys and the send-once ledger skips what was sent.

A Plan goes back to the writer as a fresh attempt (attempt 1, no not_before) with its steps and
their idempotency keys unchanged; an event goes back to its exchange and shard, with the message
id it had before it died (the rules derive Plan ids and step keys from it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace

import msgspec
import structlog

from worker.bus import Bus, Delivery, Message, Topology
from worker.deadletters import DeadLetter, dead_letter_id, living_headers, original_message_id
from worker.errors import BusError, WorkerError
from worker.plans import decode_plan, encode_plan
from worker.state.ledger import SendLedger, resolve

log = structlog.get_logger(__name__)

SCAN_LIMIT = 10_000  # dead letters examined per operation; run it again for more
TAKE_ROUNDS = 5  # sweeps to remove replayed dead letters (see `_remove`)
Progress = Callable[[str, int, int], None]  # (operation, done, total)
Found = list[tuple[DeadLetter, Delivery]]


class DeadLetterNotFound(WorkerError, LookupError):
    def __init__(self, dead_id: str) -> None:
        self.dead_id = dead_id
        super().__init__(f"no dead letter {dead_id} (list them with `dlq list`)")


class NotResolvable(WorkerError, ValueError):
    """The dead letter is not an in-doubt send, or there is no ledger to record the answer in."""


class NotReplayable(WorkerError):
    """The dead letter does not say where it came from."""


class Selection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which dead letters an operation applies to: those matching every filter given.
    With no filter it selects nothing, unless `all` says everything."""

    ids: tuple[str, ...] = ()
    reason: str | None = None
    older_than: float | None = None  # seconds
    all: bool = False

    @property
    def empty(self) -> bool:
        return not (self.ids or self.reason or self.older_than is not None or self.all)

    def matches(self, entry: DeadLetter, now: float) -> bool:
        if self.ids and entry.id not in self.ids:
            return False
        if self.reason is not None and entry.reason != self.reason:
            return False
        if self.older_than is not None:
            # Unknown age is never "old enough": purging by age must not guess.
            return entry.at is not None and now - entry.at >= self.older_than
        return True


class Listing(msgspec.Struct, frozen=True):
    entries: tuple[DeadLetter, ...]
    matching: int  # how many match the filter (entries holds at most `limit` of them)
    total: int  # dead letters in the queue


class Shown(msgspec.Struct, frozen=True):
    entry: DeadLetter
    headers: dict[str, str | int | bool]
    body: str  # pretty JSON when the body is JSON, else the text (undecodable bytes replaced)


class ReplayReport(msgspec.Struct, frozen=True):
    replayed: tuple[str, ...]
    failed: dict[str, str]  # id -> why; these are still in the dead-letter queue
    missing: tuple[str, ...]  # ids asked for and not found
    # Replayed, but could not be taken off the queue (yet): replaying them again is harmless.
    left_in_queue: tuple[str, ...] = ()


class PurgeReport(msgspec.Struct, frozen=True):
    removed: tuple[DeadLetter, ...]
    missing: tuple[str, ...]


class ResolveReport(msgspec.Struct, frozen=True):
    id: str
    step_key: str
    sent: bool
    state: str | None  # the ledger's state of the key now: done, claimed, or None (free)


class DeadLetterBox:
    def __init__(
        self,
        bus: Bus,
        topology: Topology,
        ledger: SendLedger | None = None,
        *,
        publish_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        progress: Progress | None = None,
    ) -> None:
        self._bus, self._topology, self._ledger = bus, topology, ledger
        self._timeout = publish_timeout
        self._clock, self._sleep = clock, sleep
        self._progress = progress

    async def list(self, reason: str | None = None, limit: int = 50) -> Listing:
        scanned = await self._scan()
        matching = [e for e, _ in scanned if reason is None or e.reason == reason]
        return Listing(tuple(matching[:limit]), len(matching), len(scanned))

    async def show(self, dead_id: str) -> Shown:
        entry, delivery = await self._find(dead_id)
        msg = delivery.message
        return Shown(entry, dict(msg.headers), _readable(msg.body))

    async def replay(self, selection: Selection) -> ReplayReport:
        chosen, missing = await self._select(selection)
        confirmed: set[str] = set()
        failed: dict[str, str] = {}
        for done, (entry, delivery) in enumerate(chosen, 1):
            try:
                await self._send_back(entry, delivery)
            except (BusError, NotReplayable) as exc:
                failed[entry.id] = str(exc)
                log.warning("dlq.replay_failed", id=entry.id, error=str(exc))
            else:
                confirmed.add(entry.id)
            self._report("replay", done, len(chosen))
        # Only now: a dead letter leaves the queue after its copy was confirmed.
        left = await self._remove(confirmed)
        replayed = tuple(e.id for e, _ in chosen if e.id in confirmed)
        log.info("dlq.replayed", replayed=len(replayed), failed=len(failed), left=len(left))
        return ReplayReport(replayed, failed, missing, tuple(sorted(left)))

    async def purge(self, selection: Selection) -> PurgeReport:
        if selection.empty:
            raise ValueError("purge needs ids, a reason, an age, or all")
        now = self._clock()
        taken = await self._bus.take(
            self._topology.dead_queue,
            lambda d: selection.matches(DeadLetter.of(d), now),
            SCAN_LIMIT,
        )
        removed = _unique(DeadLetter.of(d) for d in taken)
        self._report("purge", len(removed), len(removed))
        log.info("dlq.purged", removed=len(removed))
        return PurgeReport(removed, _missing(selection, removed))

    async def resolve(self, dead_id: str, *, sent: bool) -> ResolveReport:
        """Record what an operator found in the chat of an in-doubt send: sent (a replay skips
        the step) or not sent (a replay sends it). The dead letter stays: replay it next."""
        entry, _ = await self._find(dead_id)
        if entry.reason != "in_doubt" or entry.step_key is None:
            raise NotResolvable(f"{dead_id} is {entry.reason}, not an in_doubt send")
        if self._ledger is None:
            raise NotResolvable("no send-once ledger here to record the answer in")
        state = await resolve(self._ledger, entry.step_key, sent=sent)
        log.info("dlq.resolved", id=dead_id, step_key=entry.step_key, sent=sent)
        return ResolveReport(dead_id, entry.step_key, sent, state.value if state else None)

    # --- internals ----------------------------------------------------------------------------

    async def _scan(self) -> Found:
        deliveries = await self._bus.browse(self._topology.dead_queue, SCAN_LIMIT)
        return [(DeadLetter.of(d), d) for d in deliveries]

    async def _find(self, dead_id: str) -> tuple[DeadLetter, Delivery]:
        for entry, delivery in await self._scan():
            if entry.id == dead_id:
                return entry, delivery
        raise DeadLetterNotFound(dead_id)

    async def _select(self, selection: Selection) -> tuple[Found, tuple[str, ...]]:
        if selection.empty:
            raise ValueError("replay needs ids, a reason, or all")
        now = self._clock()
        chosen: dict[str, tuple[DeadLetter, Delivery]] = {}
        for entry, delivery in await self._scan():
            # Identical copies (at-least-once dead-lettering) share an id: replay one.
            if selection.matches(entry, now):
                chosen.setdefault(entry.id, (entry, delivery))
        picked = list(chosen.values())
        return picked, _missing(selection, [e for e, _ in picked])

    async def _remove(self, ids: set[str]) -> set[str]:
        """Take these dead letters off the queue; return the ids not found.

        Sweep again, with a short backoff, for the ones a sweep did not see: on RabbitMQ the
        messages a browse returned to the queue are counted back a moment later, and a sweep
        in that moment sees the queue short (or empty)."""
        left = set(ids)
        for round_ in range(TAKE_ROUNDS):
            if not left:
                break
            if round_:
                await self._sleep(0.05 * 2**round_)
            taken = await self._bus.take(self._topology.dead_queue, _with_ids(left), SCAN_LIMIT)
            left -= {dead_letter_id(d) for d in taken}
        return left

    async def _send_back(self, entry: DeadLetter, delivery: Delivery) -> None:
        exchange, message = self.replay_message(entry, delivery)
        await self._bus.publish(exchange, message, timeout=self._timeout)

    def replay_message(self, entry: DeadLetter, delivery: Delivery) -> tuple[str, Message]:
        """Where the dead letter goes back to, and as what."""
        msg = delivery.message
        headers = living_headers(msg.headers)
        headers["x-replays"] = entry.replays + 1
        headers.pop("x-received-at-ms", None)  # a replay would count as a days-long latency
        body, exchange = msg.body, entry.exchange
        if self._is_plan(entry):
            body, exchange = _fresh_attempt(msg.body), self._topology.commands_exchange
        if exchange is None:
            raise NotReplayable(f"{entry.id} does not say where it came from")
        message = replace(
            msg,
            body=body,
            routing_key=entry.routing_key,
            message_id=original_message_id(msg),
            headers=headers,
        )
        return exchange, message

    def _is_plan(self, entry: DeadLetter) -> bool:
        return entry.type == "plan" or entry.exchange == self._topology.commands_exchange

    def _report(self, operation: str, done: int, total: int) -> None:
        if self._progress is not None and (done % 100 == 0 or done == total):
            self._progress(operation, done, total)


def _fresh_attempt(body: bytes) -> bytes:
    """The Plan as a first attempt, steps and idempotency keys unchanged. A body that does not
    decode goes back as it is (a newer writer may read it; else it dies again as poison)."""
    try:
        plan = decode_plan(body)
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError, RecursionError):
        return body
    return encode_plan(msgspec.structs.replace(plan, attempt=1, not_before=None))


def _readable(body: bytes) -> str:
    try:
        return msgspec.json.format(body, indent=2).decode()
    except (msgspec.DecodeError, RecursionError):  # not JSON, or nested too deep to indent
        return body.decode("utf-8", "replace")


def _with_ids(ids: set[str]) -> Callable[[Delivery], bool]:
    return lambda d: dead_letter_id(d) in ids


def _unique(entries: Iterable[DeadLetter]) -> tuple[DeadLetter, ...]:
    return tuple({e.id: e for e in entries}.values())


def _missing(selection: Selection, found: Iterable[DeadLetter]) -> tuple[str, ...]:
    seen = {e.id for e in found}
    return tuple(i for i in selection.ids if i not in seen)
