"""The shared-state side of running one step: the send-once ledger and the echo memory.

    may_run        done before? → skip. Non-idempotent: claim the key (IN_DOUBT → StepFailure)
    remember_echo  the keys by which the rules recognise the webhook this write causes
    give_back      release the claim of a send that certainly did not happen
    mark_done      record a step that succeeded

Every call goes through `guarded`: retried in place while the backend is unavailable, then
`StateDown`. What each StateDown leaves behind is always on the safe side (docs/writer.md):
a claim that raised granted nothing; a claim that could not be given back stays claimed (later
in doubt, never sent twice); a done-mark that could not be written leaves the key claimed, and
the consumer continues the Plan after the step (`StateDown.step_ran`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

import structlog

from consumers.writer.guarded import Sleep, StateDown, StateRetry, guarded
from consumers.writer.outcome import Kind, StepFailure
from consumers.writer.steps import needs_ledger
from worker.plans import Step, action_of
from worker.state.echo import echo_keys
from worker.state.ledger import ClaimResult, EntryState, SendLedger
from worker.state.memory import SharedMemory

log = structlog.get_logger(__name__)
T = TypeVar("T")


class Once:
    def __init__(
        self,
        ledger: SendLedger,
        memory: SharedMemory,
        echo_window: float,
        retry: StateRetry,
        sleep: Sleep,
    ) -> None:
        self._ledger, self._memory, self._echo_window = ledger, memory, echo_window
        self._retry, self._sleep = retry, sleep

    async def _state(self, operation: str, call: Callable[[], Awaitable[T]]) -> T:
        return await guarded(operation, call, self._retry, self._sleep)

    async def may_run(self, step: Step) -> bool:
        """False when the step is done already; raise IN_DOUBT when a send may have happened.
        StateDown: the ledger could not answer (a claim that raised granted nothing)."""
        key = step.idempotency_key
        if not needs_ledger(step):
            held = await self._state("state", partial(self._ledger.state, key))
            return held is not EntryState.DONE
        claim = await self._state("claim", partial(self._ledger.claim, key))
        if claim is ClaimResult.IN_DOUBT:
            raise StepFailure(
                Kind.IN_DOUBT,
                "an earlier attempt claimed this send and never "
                "confirmed it: it may have been sent; check the chat",
            )
        return claim is ClaimResult.CLAIMED

    async def remember_echo(self, chat: str | None, step: Step) -> None:
        """Leave the keys by which the rules recognise the webhook this write causes. If the
        call then fails, the keys only expire unused (a change nobody else makes in the window)."""
        if chat is None:
            return
        for key in echo_keys(chat, step):
            put = partial(self._memory.put, key, step.idempotency_key, self._echo_window)
            await self._state("remember_echo", put)

    async def give_back(self, step: Step) -> None:
        """Release the claim of a send that certainly did not happen. If the ledger cannot, the
        key stays claimed: a later attempt finds it in doubt and dead-letters it for a person
        (although nothing was sent: the price of never sending twice, as after a crash)."""
        if not needs_ledger(step):
            return
        key = step.idempotency_key
        try:
            await self._state("release", partial(self._ledger.release, key))
        except StateDown as down:
            log.error(
                "writer.claim_kept",
                step_key=key,
                error=down.error,
                detail="not sent, but the claim could not be released: a later attempt will "
                "find this step in doubt (dlq resolve --not-sent, then replay)",
            )

    async def mark_done(self, step: Step) -> None:
        """Record a step that succeeded. StateDown(step_ran=True) when the ledger cannot: the
        rest of the Plan continues after the step, and a send's key stays claimed (in doubt
        for a redelivery of the original Plan), so the send is never repeated."""
        key = step.idempotency_key
        try:
            await self._state("done", partial(self._ledger.done, key))
        except StateDown as down:
            log.error(
                "writer.done_not_recorded",
                action=action_of(step),
                step_key=key,
                error=down.error,
                detail="the step succeeded; the ledger could not record it",
            )
            raise StateDown(down.operation, down.error, step_ran=True) from down
