"""Every exception texter-worker raises on purpose, in one tree.

    WorkerError
    ├── ConfigError                 bad environment or files at start; carries every problem
    ├── BusError                    the message bus could not take a message
    │   ├── BusUnavailable          not connected, or the connection dropped mid-publish
    │   ├── PublishNotConfirmed     no confirm within the deadline: the outcome is unknown
    │   ├── PublishRejected         the broker nacked the publish (e.g. a full queue)
    │   └── Unroutable              a mandatory publish matched no queue (topology missing)
    └── TexterError                 the Texter API client (worker/texter/), see its section below

Third-party exceptions (aiormq, aio-pika, aiohttp) are translated into these at the boundary,
with `raise ... from`, so nothing above a transport or the client catches a library error.
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
