"""Authentication is pure: table-driven over the three places a token may travel."""

from __future__ import annotations

import pytest

from producers.ingress.auth import is_authorized

SECRET = b"0123456789abcdef-secret"
GOOD = SECRET.decode()


@pytest.mark.parametrize(
    ("headers", "query", "expected"),
    [
        ({"Authorization": f"Bearer {GOOD}"}, {}, True),
        ({"Authorization": f"bearer {GOOD}"}, {}, True),
        ({"X-Webhook-Token": GOOD}, {}, True),
        ({}, {"token": GOOD}, True),
        ({"Authorization": "Bearer wrong"}, {"token": GOOD}, True),
        ({}, {}, False),
        ({"Authorization": "Bearer wrong"}, {}, False),
        ({"Authorization": GOOD}, {}, False),  # no scheme
        ({"Authorization": f"Basic {GOOD}"}, {}, False),
        ({"X-Webhook-Token": GOOD[:-1]}, {}, False),
        ({"X-Webhook-Token": GOOD + "x"}, {}, False),
        ({}, {"token": ""}, False),
        ({"X-Webhook-Token": "שלום\udcff"}, {}, False),  # odd encodings never raise
    ],
)
def test_token_locations(headers: dict[str, str], query: dict[str, str], expected: bool) -> None:
    assert is_authorized(headers, query, SECRET) is expected


def test_no_secret_configured_accepts_everything() -> None:
    assert is_authorized({}, {}, None)
