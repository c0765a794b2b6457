"""Every exception texter-worker raises on purpose, in one tree.

    WorkerError
    ├── ConfigError                 bad environment or files at start; carries every problem
    ├── BusError                    the message bus could not take a message
    │   ├── BusUnavailable          not connected, or the connection dropped mid-publish
    │   ├── PublishNotConfirmed     no confirm within the deadline: the outcome is unknown
    │   ├── PublishRejected         the broker nacked the publish (e.g. a full queue)
    │   └── Unroutable              a mandatory publish matched no queue (topology missing)
    ├── TexterError                 the Texter API client (worker/texter/); never carries the token
    │   ├── TexterTransientError    worth trying again later; `retry_after` hints when (or None)
    │   │   ├── TexterConnectionError   no answer: connect failed, timeout or connection lost
    │   │   ├── TexterServerError       5xx after the in-process retries; carries status and body
    │   │   ├── TexterRateLimited       429 (or a Retry-After beyond the cap / the deadline)
    │   │   └── CircuitOpen             the breaker is open: failed fast without calling Texter
    │   ├── TexterPermanentError    the same request will fail again; do not retry it
    │   │   ├── TexterHTTPError         4xx other than 408/429; carries status and body
    │   │   │   ├── TexterBadRequest        400/422: the request was invalid
    │   │   │   ├── TexterUnauthorized      401/403: bad token or missing scope
    │   │   │   └── TexterNotFound          404: no such chat/label/template/...
    │   │   ├── TexterRejected          2xx with `success: false` (e.g. template to an opt-out)
    │   │   └── TexterBadResponse       2xx whose body is not what the reference describes
    │   └── AmbiguousRequestError   a non-idempotent call may or may not have taken effect
    │       └── AmbiguousSendError      ... and it was a send (message or template): never
    │                                   repeat it blindly, check the chat first
    ├── RulesError                  the rules file cannot be used; carries every `file:line` problem
    └── StateError                  shared state (rules memory, send-once ledger; worker/state/)
        └── StateUnavailable        the backend (Redis, the SQLite file) failed; a write's outcome
                                    is unknown, so the caller must not ack on its strength

Third-party exceptions (aiormq, aio-pika, aiohttp, redis, sqlite3) are translated into these at
the boundary, with `raise ... from`, so nothing above a transport, the client or a state backend
catches a library error.
"""

from __future__ import annotations


class WorkerError(Exception):
    """Base of every error texter-worker raises on purpose."""


class ConfigError(WorkerError):
    """One or more settings are invalid. `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


# --- message bus --------------------------------------------------------------------------------


class BusError(WorkerError):
    """The bus could not take a message. Safe to answer 503: nothing is promised yet."""


class BusUnavailable(BusError):
    """The broker is not connected, or the connection was lost during the publish."""


class PublishNotConfirmed(BusError):
    """The broker did not confirm within the deadline. The message may or may not be stored."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        super().__init__(f"no publisher confirm within {timeout:g}s")


class PublishRejected(BusError):
    """The broker answered the publish with a negative acknowledgement."""


class Unroutable(BusError):
    """A mandatory publish reached no queue: the topology is missing or the routing key is wrong."""

    def __init__(self, exchange: str, routing_key: str) -> None:
        self.exchange = exchange
        self.routing_key = routing_key
        super().__init__(f"no queue bound to exchange {exchange!r} for key {routing_key!r}")


# --- Texter API client ------------------------------------------------------------------------
# Owned by worker/texter/. Every Texter failure a caller can see is one of these.


class TexterError(WorkerError):
    """Base of every error of the Texter API client. Never carries the API token."""

    def __init__(self, message: str, *, endpoint: str) -> None:
        self.endpoint = endpoint
        super().__init__(f"{endpoint}: {message}")


def _snippet(body: str, limit: int = 500) -> str:
    return body if len(body) <= limit else body[:limit] + "..."


class TexterTransientError(TexterError):
    """Texter could not be reached or was overloaded; the call may succeed later."""

    def __init__(self, message: str, *, endpoint: str, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message, endpoint=endpoint)


class TexterConnectionError(TexterTransientError):
    """No HTTP answer: the connection failed, timed out or was lost (safe calls only)."""


class TexterServerError(TexterTransientError):
    """Texter answered 5xx (or 408) and the in-process retries did not help."""

    def __init__(
        self, *, endpoint: str, status: int, body: str, retry_after: float | None = None
    ) -> None:
        self.status = status
        self.body = body
        super().__init__(
            f"HTTP {status}: {_snippet(body)}", endpoint=endpoint, retry_after=retry_after
        )


class TexterRateLimited(TexterTransientError):
    """Texter answered 429 and the client could not wait as asked (cap, deadline or attempts)."""

    def __init__(self, *, endpoint: str, status: int, retry_after: float | None) -> None:
        self.status = status
        wait = "unspecified" if retry_after is None else f"{retry_after:g}s"
        super().__init__(
            f"HTTP {status}, Retry-After {wait}", endpoint=endpoint, retry_after=retry_after
        )


class CircuitOpen(TexterTransientError):
    """The circuit breaker is open after repeated failures; no request was made."""

    def __init__(self, *, endpoint: str, retry_after: float) -> None:
        super().__init__(
            f"circuit open, next probe in {retry_after:.1f}s",
            endpoint=endpoint,
            retry_after=retry_after,
        )


class TexterPermanentError(TexterError):
    """Repeating the same request will not help."""


class TexterHTTPError(TexterPermanentError):
    """A 4xx answer (other than 408/429). `body` is the response text, trimmed."""

    def __init__(self, *, endpoint: str, status: int, body: str) -> None:
        self.status = status
        self.body = body
        super().__init__(f"HTTP {status}: {_snippet(body)}", endpoint=endpoint)


class TexterBadRequest(TexterHTTPError):
    """400/422: Texter refused the request as invalid."""


class TexterUnauthorized(TexterHTTPError):
    """401/403: the token is wrong, revoked, or lacks a scope the endpoint needs."""


class TexterNotFound(TexterHTTPError):
    """404: the chat, label, template, ... does not exist."""


class TexterRejected(TexterPermanentError):
    """A 2xx answer saying `success: false` (e.g. a template send to an unsubscribed phone)."""

    def __init__(self, *, endpoint: str, body: str) -> None:
        self.body = body
        super().__init__(f"success: false: {_snippet(body)}", endpoint=endpoint)


class TexterBadResponse(TexterPermanentError):
    """A 2xx answer whose body does not have the documented shape."""

    def __init__(self, *, endpoint: str, status: int, body: str, why: str) -> None:
        self.status = status
        self.body = body
        super().__init__(f"unexpected response ({why}): {_snippet(body)}", endpoint=endpoint)


class AmbiguousRequestError(TexterError):
    """A non-idempotent call failed after the request was written (timeout, connection lost,
    or 5xx other than 503): it may or may not have taken effect, so it is not retried."""

    def __init__(self, *, endpoint: str, reason: str, status: int | None = None) -> None:
        self.reason = reason
        self.status = status
        super().__init__(f"outcome unknown ({reason}); not retried", endpoint=endpoint)


class AmbiguousSendError(AmbiguousRequestError):
    """A message or template send may or may not have reached the contact."""


# --- rules ----------------------------------------------------------------------------------------
# Raised by consumers/rules/ when a rules file is loaded. Failures of one rule on one event are
# not exceptions: the engine returns them as data, so the other rules still run.


class RulesError(WorkerError):
    """The rules file has errors. `problems` holds one `FILE:LINE: severity: message` line per
    problem found (warnings included), in file order."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: the rules file has errors: " + "; ".join(problems))


# --- shared state ---------------------------------------------------------------------------------
# Raised by worker/state/ backends; redis and sqlite3 errors never travel further up.


class StateError(WorkerError):
    """Shared state (the rules' memory, the send-once ledger) could not be used."""


class StateUnavailable(StateError):
    """The state backend failed during `operation` (e.g. Redis unreachable, the SQLite file
    unwritable). A write may or may not have been applied: treat the message as not settled."""

    def __init__(self, *, backend: str, operation: str, reason: str) -> None:
        self.backend = backend
        self.operation = operation
        self.reason = reason
        super().__init__(f"{backend} state backend failed during {operation}: {reason}")
