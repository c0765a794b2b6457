"""Webhook authentication with a shared secret, in any of the three places Texter can put it.

Texter's scenario `request` action cannot sign requests, so the secret travels as
`Authorization: Bearer <secret>`, `X-Webhook-Token: <secret>` or `?token=<secret>` (for senders
that cannot set headers). Every candidate is compared in constant time.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

BEARER = "bearer "


def _candidates(headers: Mapping[str, str], query: Mapping[str, str]) -> list[str]:
    found = []
    authorization = headers.get("Authorization", "")
    if authorization[: len(BEARER)].lower() == BEARER:
        found.append(authorization[len(BEARER) :].strip())
    if "X-Webhook-Token" in headers:
        found.append(headers["X-Webhook-Token"].strip())
    if "token" in query:
        found.append(query["token"])
    return found


def _equal(presented: str, secret: bytes) -> bool:
    # Bytes, because compare_digest refuses non-ASCII str; odd input simply does not match.
    return hmac.compare_digest(presented.encode("utf-8", "surrogateescape"), secret)


def is_authorized(
    headers: Mapping[str, str], query: Mapping[str, str], secret: bytes | None
) -> bool:
    """True when no secret is configured, or any presented token equals it."""
    if secret is None:
        return True
    # Compare every candidate (no short-circuit), so timing does not tell which one matched.
    results = [_equal(token, secret) for token in _candidates(headers, query)]
    return any(results)
