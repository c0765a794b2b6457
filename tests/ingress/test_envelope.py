"""The envelope check and dedup keys: pure, over every bundled event and many bad bodies."""

from __future__ import annotations

import json

import pytest

from producers.ingress.envelope import Accepted, Rejected, parse_webhook
from simulator.samples import webhook_body, webhook_names

ALL = webhook_names()


def _expected_identity(doc: dict) -> str:  # type: ignore[type-arg]
    """The documented rule (docs/events.md), written out independently of the code."""
    name, data = doc["eventName"], doc["eventData"]
    if "message" in data:
        return f"{name}:{data['message']['_id']}"
    if name == "messageStatusChanged":
        return f"{name}:{','.join(data['externalId'])}:{data['messageStatus']}"
    if name == "messageFailed":
        return f"{name}:{','.join(data['externalId'])}:{data['timestamp']}"
    if "problem" in data:
        state = "resolved" if "resolvedAt" in data["problem"] else "open"
        return f"{name}:{data['problem']['_id']}:{state}"
    return f"{name}:{data['chat']['_id']}:{data['chat']['updatedAt']}"


def test_all_nineteen_events_are_bundled() -> None:
    assert len(ALL) == 19


@pytest.mark.parametrize("name", ALL)
def test_every_documented_event_gets_its_identity_key(name: str) -> None:
    body = webhook_body(name)
    doc = json.loads(body)
    parsed = parse_webhook(body)
    assert isinstance(parsed, Accepted)
    assert parsed.event_name == name
    assert parsed.known
    assert not parsed.identity_fallback
    assert parsed.dedup_key == _expected_identity(doc)
    chat = doc["eventData"].get("chat") or {}
    assert parsed.chat_id == chat.get("_id")
    assert parsed.ordering_key == (parsed.chat_id or doc["eventData"]["problem"]["_id"])


def test_same_delivery_twice_gets_the_same_key_and_changes_get_new_ones() -> None:
    body = webhook_body("chatAssigned")
    first, again = parse_webhook(body), parse_webhook(body)
    doc = json.loads(body)
    doc["eventData"]["chat"]["updatedAt"] = "2030-01-01T00:00:00.000Z"
    later = parse_webhook(json.dumps(doc).encode())
    assert isinstance(first, Accepted)
    assert isinstance(again, Accepted)
    assert isinstance(later, Accepted)
    assert first.dedup_key == again.dedup_key != later.dedup_key


def test_message_event_chat_id_falls_back_to_parent_chat() -> None:
    body = b'{"eventName":"newMessage","eventData":{"message":{"_id":"m1","parent_chat":"c9"}}}'
    parsed = parse_webhook(body)
    assert isinstance(parsed, Accepted)
    assert (parsed.dedup_key, parsed.chat_id, parsed.ordering_key) == ("newMessage:m1", "c9", "c9")


def test_status_values_written_as_strings_are_accepted() -> None:
    body = (
        b'{"eventName":"messageStatusChanged","eventData":{"messageStatus":"3",'
        b'"externalId":"wamid.X","chat":{"_id":"c1"}}}'
    )
    parsed = parse_webhook(body)
    assert isinstance(parsed, Accepted)
    assert parsed.dedup_key == "messageStatusChanged:wamid.X:3"


@pytest.mark.parametrize(
    "body",
    [
        b'{"eventName":"brandNewThing","eventData":{"chat":{"_id":"c1","updatedAt":"t"}}}',
        b'{"eventName":"x","eventData":{},"extra":[1,2,3]}',
    ],
)
def test_unknown_events_are_accepted_and_keyed_by_body_hash(body: bytes) -> None:
    parsed = parse_webhook(body)
    assert isinstance(parsed, Accepted)
    assert not parsed.known
    assert parsed.dedup_key.startswith("sha256:")
    assert not parsed.identity_fallback


def test_known_event_with_unreadable_identity_is_accepted_with_hash_key() -> None:
    body = b'{"eventName":"chatPending","eventData":{"chat":{"_id":12345}}}'
    parsed = parse_webhook(body)
    assert isinstance(parsed, Accepted)
    assert parsed.known
    assert parsed.identity_fallback
    assert parsed.dedup_key.startswith("sha256:")


def test_overlong_identity_is_hashed_to_fit_amqp_message_id() -> None:
    body = json.dumps({"eventName": "newMessage", "eventData": {"message": {"_id": "m" * 500}}})
    parsed = parse_webhook(body.encode())
    assert isinstance(parsed, Accepted)
    assert parsed.dedup_key.startswith("sha256:")
    assert len(parsed.dedup_key) < 255


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "body is not valid JSON"),
        (b"not json", "body is not valid JSON"),
        (b"\xff\xfe", "body is not valid JSON"),
        (b'{"eventName": "x", ', "body is not valid JSON"),
        (b"[]", "body must be a JSON object"),
        (b'"eventName"', "body must be a JSON object"),
        (b"{}", "eventName must be a non-empty string"),
        (b'{"eventName": 7, "eventData": {}}', "eventName must be a non-empty string"),
        (b'{"eventName": "", "eventData": {}}', "eventName must be a non-empty string"),
        (b'{"eventName": "chatPending"}', "eventData must be an object"),
        (b'{"eventName": "chatPending", "eventData": []}', "eventData must be an object"),
        (b'{"eventName": "chatPending", "eventData": null}', "eventData must be an object"),
    ],
)
def test_bad_bodies_are_rejected_with_a_reason(body: bytes, reason: str) -> None:
    assert parse_webhook(body) == Rejected(reason)


def test_deeply_nested_body_is_rejected_not_crashing() -> None:
    body = b'{"eventName":"x","eventData":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert isinstance(parse_webhook(body), Rejected)
