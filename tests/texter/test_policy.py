"""The retry policy and Retry-After parsing: pure, table-driven."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from worker.texter.policy import NoAnswer, Verdict, decide, parse_retry_after, status_class

NOW = datetime(2025, 11, 10, 12, 0, 0, tzinfo=UTC)
CF, TO, DC = NoAnswer.CONNECT_FAILED, NoAnswer.TIMEOUT, NoAnswer.DISCONNECTED


@pytest.mark.parametrize(
    ("outcome", "idempotent", "retry_after", "verdict", "wait"),
    [
        (200, False, None, Verdict.SUCCESS, None),
        (201, True, None, Verdict.SUCCESS, None),
        # nothing was sent: safe for every call
        (CF, False, None, Verdict.RETRY, None),
        (CF, True, None, Verdict.RETRY, None),
        # may have been processed: only idempotent calls repeat
        (TO, True, None, Verdict.RETRY, None),
        (TO, False, None, Verdict.AMBIGUOUS, None),
        (DC, True, None, Verdict.RETRY, None),
        (DC, False, None, Verdict.AMBIGUOUS, None),
        (500, True, None, Verdict.RETRY, None),
        (502, True, None, Verdict.RETRY, None),
        (504, True, None, Verdict.RETRY, None),
        (500, False, None, Verdict.AMBIGUOUS, None),
        (502, False, None, Verdict.AMBIGUOUS, None),
        (504, False, None, Verdict.AMBIGUOUS, None),
        # the server says it did not process it: safe for every call, after Retry-After
        (429, False, 3.0, Verdict.RETRY, 3.0),
        (429, True, None, Verdict.RETRY, None),
        (503, False, 2.0, Verdict.RETRY, 2.0),
        (408, False, None, Verdict.RETRY, None),
        (429, True, 61.0, Verdict.TRANSIENT, 61.0),  # beyond the cap: fail, do not wait
        (503, True, 600.0, Verdict.TRANSIENT, 600.0),
        # other 4xx: permanent
        (400, True, None, Verdict.PERMANENT, None),
        (401, True, None, Verdict.PERMANENT, None),
        (403, False, None, Verdict.PERMANENT, None),
        (404, True, None, Verdict.PERMANENT, None),
        (422, True, None, Verdict.PERMANENT, None),
    ],
)
def test_decide(
    outcome: int | NoAnswer,
    idempotent: bool,
    retry_after: float | None,
    verdict: Verdict,
    wait: float | None,
) -> None:
    decision = decide(outcome, idempotent=idempotent, retry_after=retry_after, retry_after_max=60)
    assert (decision.verdict, decision.wait) == (verdict, wait)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("0", 0.0),
        ("7", 7.0),
        (" 120 ", 120.0),
        ("Mon, 10 Nov 2025 12:00:30 GMT", 30.0),
        ("Mon, 10 Nov 2025 11:59:00 GMT", 0.0),  # in the past: go now
        ("soon", None),
        ("-5", None),
        ("1.5", None),  # RFC 9110 delta-seconds are whole numbers
        ("", None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, NOW) == seconds


@pytest.mark.parametrize(
    ("outcome", "label"),
    [
        (200, "2xx"),
        (204, "2xx"),
        (302, "3xx"),
        (404, "4xx"),
        (503, "5xx"),
        (TO, "timeout"),
        (CF, "connection_error"),
        (DC, "connection_error"),
    ],
)
def test_status_class(outcome: int | NoAnswer, label: str) -> None:
    assert status_class(outcome) == label
