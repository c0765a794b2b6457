"""The outbound Texter API client: endpoints, rate limit, retry policy, circuit breaker.

Import from here: `open_client`, `open_client_from_settings`, `TexterClient`, `ClientOptions`,
`RetryConfig`, and the request/response Structs in `worker.texter.requests` / `.models`.
Errors are in `worker.errors` (the TexterError section).
"""

from worker.texter.client import (
    ClientOptions,
    TexterClient,
    credentials,
    open_client,
    open_client_from_settings,
)
from worker.texter.transport import RetryConfig

__all__ = [
    "ClientOptions",
    "RetryConfig",
    "TexterClient",
    "credentials",
    "open_client",
    "open_client_from_settings",
]
