"""The fake's request checks, as the reference states them: pure, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from simulator import validation as v


@pytest.mark.parametrize(
    ("body", "ok"),
    [
        ({"add": ["VIP"]}, True),
        ({"remove": ["VIP"]}, True),
        ({"set": []}, True),  # clears all labels
        ({"set": ["a", "b"]}, True),
        ({}, False),
        ({"add": ["a"], "remove": ["b"]}, False),
        ({"add": ["a"], "set": []}, False),
        ({"add": []}, False),
        ({"remove": []}, False),
        ({"add": "VIP"}, False),
        ({"add": [1]}, False),
        (["VIP"], False),
    ],
)
def test_labels_body(body: Any, ok: bool) -> None:
    assert (v.check_labels(body) is None) == ok


@pytest.mark.parametrize(
    ("body", "ok"),
    [
        ({"phone": "0521234567", "agentEmail": "a@b"}, True),
        ({"chatId": "x", "agentUid": "u"}, True),
        ({"chatId": "x", "departmentId": "sales"}, True),
        ({"chatId": "x", "departmentId": "sales", "agentCrmId": "7"}, True),
        ({"chatId": "x", "phone": "1", "agentUid": "u"}, False),  # both targets
        ({"agentUid": "u"}, False),  # no target
        ({"chatId": "x"}, False),  # no assignee
        ({"chatId": "x", "departmentId": None}, False),
        ({"chatId": "x", "agentUid": "u", "agentEmail": "a@b"}, False),  # two agents
        ({"chatId": "x", "agentEmail": "a@b", "agentCrmId": "7", "departmentId": "d"}, False),
    ],
)
def test_assign_body(body: dict[str, Any], ok: bool) -> None:
    assert (v.check_assign(body) is None) == ok


@pytest.mark.parametrize(
    ("body", "ok"),
    [
        ({"type": "text", "text": "hi"}, True),
        ({"type": "media", "media": [{"mediaType": "image", "url": "https://x/a.jpg"}]}, True),
        ({"type": "text"}, False),
        ({"type": "text", "text": ""}, False),
        ({"type": "text", "text": "x" * 4097}, False),
        ({"type": "special", "text": "x"}, False),
        ({"type": "list", "text": "x"}, False),
    ],
)
def test_send_message_body(body: dict[str, Any], ok: bool) -> None:
    assert (v.check_send_message(body) is None) == ok


@pytest.mark.parametrize(
    ("body", "ok"),
    [
        ({"templateName": "order_ready", "to": "972521234567"}, True),
        ({"templateName": "bad name!", "to": "1"}, False),
        ({"templateName": "t"}, False),
    ],
)
def test_send_template_body(body: dict[str, Any], ok: bool) -> None:
    assert (v.check_send_template(body) is None) == ok


@pytest.mark.parametrize(
    ("body", "creating", "ok"),
    [
        ({"id": "vip", "name": "VIP"}, True, True),
        ({"id": "vip", "name": "VIP", "color": "#a83236"}, True, True),
        ({"id": "vip", "name": "VIP", "color": "red"}, True, False),
        ({"id": "", "name": "VIP"}, True, False),
        ({"name": "x" * 101}, True, False),
        ({"color": "#ABCDEF"}, False, True),
    ],
)
def test_label_body(body: dict[str, Any], creating: bool, ok: bool) -> None:
    assert (v.check_label(body, creating=creating) is None) == ok


@pytest.mark.parametrize(
    ("body", "ok"),
    [
        ({"phone": "0521234567"}, True),
        ({"phone": "0521234567", "accountId": "972509876543"}, True),
        ({"phone": "1234"}, False),
        ({"phone": "0521234567", "accountId": ""}, False),
        ({"phone": "0521234567", "accountId": 972509876543}, False),
        ([], False),
    ],
)
def test_opt_out_body(body: Any, ok: bool) -> None:
    assert (v.check_opt_out(body) is None) == ok


@pytest.mark.parametrize(
    ("phone", "normal"),
    [
        ("0521234567", "972521234567"),
        ("+972-52-123-4567", "972521234567"),
        ("972521234567", "972521234567"),
    ],
)
def test_normalize_phone(phone: str, normal: str) -> None:
    assert v.normalize_phone(phone) == normal
