"""Every way a step can fail, in the three kinds the writer acts on.

TRANSIENT  nothing happened and trying later may work (429, 503, connect failed, breaker
           open, timeouts of idempotent calls): the rest of the Plan waits on a delay tier
PERMANENT  the same request will fail again (4xx, template rejected, window closed):
           dead letter `permanent`
IN_DOUBT   a non-idempotent request may have taken effect (timeout or connection lost after
           it was sent): never repeated blindly, dead letter `in_doubt`
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from worker.errors import (
    AmbiguousRequestError,
    TexterPermanentError,
    TexterTransientError,
)


class Kind(enum.Enum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    IN_DOUBT = "in_doubt"


@dataclass(frozen=True)
class StepFailure(Exception):  # a verdict the writer acts on, not a library error
    kind: Kind
    error: str
    retry_after: float | None = None

    def __str__(self) -> str:
        return self.error


def classify(exc: Exception) -> StepFailure:
    """The verdict on an exception raised while running a step."""
    if isinstance(exc, StepFailure):
        return exc
    if isinstance(exc, AmbiguousRequestError):
        return StepFailure(Kind.IN_DOUBT, str(exc))
    if isinstance(exc, TexterTransientError):
        return StepFailure(Kind.TRANSIENT, str(exc), exc.retry_after)
    if isinstance(exc, TexterPermanentError):
        return StepFailure(Kind.PERMANENT, str(exc))
    raise exc  # a bug, not a Texter outcome: let the dispatcher reject the Plan loudly
