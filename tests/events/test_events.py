"""Every documented event decodes into its typed Struct; unknown ones are kept raw."""

from __future__ import annotations

import json

import msgspec
import pytest

from simulator.samples import webhook_body, webhook_names
from worker import events as ev


@pytest.mark.parametrize("name", webhook_names())
def test_every_fixture_decodes_into_its_struct(name: str) -> None:
    event = ev.decode_event(webhook_body(name))
    assert type(event) is ev.EVENT_TYPES[name]


def test_typed_fields_carry_the_values() -> None:
    e = ev.decode_event(webhook_body("newIncomingMessage"))
    assert isinstance(e, ev.NewIncomingMessage)
    msg, chat = e.event_data.message, e.event_data.chat
    assert msg.id == "6911b1e4c2a9d8f0e3b4a5c6"
    assert msg.parent_chat == chat.id == "6650f1a2b3c4d5e6f7a8b9c0"  # type: ignore[union-attr]
    assert msg.direction == "incoming"
    assert msg.text == "היי, אני רוצה לקבוע תור למחר בבוקר"
    assert chat is not None
    assert chat.channel_info is not None
    assert chat.channel_info.account_id == "972509876543"
    assert chat.last_message_timestamp == 1762767012000
    assert chat.crm_data == {"leadId": 552310}

    a = ev.decode_event(webhook_body("chatAssigned"))
    assert isinstance(a, ev.ChatAssigned)
    assert a.event_data.agent is not None
    assert a.event_data.agent.email == "michal@example.co.il"

    lbl = ev.decode_event(webhook_body("chatLabelsUpdated"))
    assert isinstance(lbl, ev.ChatLabelsUpdated)
    assert lbl.event_data.added_labels == ["VIP"]

    p = ev.decode_event(webhook_body("channelHealthProblemResolved"))
    assert isinstance(p, ev.ChannelHealthProblemResolved)
    assert p.event_data.problem.resolved_at == 1762779769000
    assert p.event_data.problem.impaired_functionality == {"send": True, "receive": False}


def test_unknown_fields_are_ignored_and_numbers_as_strings_accepted() -> None:
    doc = json.loads(webhook_body("messageStatusChanged"))
    doc["eventData"]["messageStatus"] = "3"
    doc["eventData"]["timestamp"] = "1762772638000"
    doc["eventData"]["brandNew"] = {"x": 1}
    doc["eventData"]["chat"]["somethingNew"] = [1, 2]
    e = ev.decode_event(json.dumps(doc).encode())
    assert isinstance(e, ev.MessageStatusChanged)
    assert e.event_data.message_status == 3
    assert e.event_data.timestamp == 1762772638000


def test_unknown_event_is_kept_raw() -> None:
    e = ev.decode_event(b'{"eventName":"setExternalTrue","projectId":"p","eventData":{"a":[1]}}')
    assert e == ev.UnknownEvent(event_name="setExternalTrue", event_data={"a": [1]})


def test_known_event_with_wrong_shape_raises_for_the_consumer_to_dead_letter() -> None:
    with pytest.raises(msgspec.ValidationError):
        ev.decode_event(b'{"eventName":"chatPending","eventData":{"chat":{"title":"no id"}}}')
