"""Every action option the schema accepts, table-driven: the exact Plan step each produces.

All on the sample newIncomingMessage: chat 6650f1a2b3c4d5e6f7a8b9c0, "Dana Cohen", contact
972501234567 on business number 972509876543, crmData.leadId 552310.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.rules.support import as_json, evaluate, ruleset

ONE_ACTION = """\
rules:
  - name: t
    on: newIncomingMessage
    do:
      - {action}
"""
CHAT = "6650f1a2b3c4d5e6f7a8b9c0"
CONTACT = "972501234567"
BUSINESS = "972509876543"

ROWS: list[tuple[str, dict[str, Any]]] = [
    # send_template: header and from, besides template/to/language/body
    (
        "send_template: {template: order_update, language: he, body: ['{{ chat.title }}', 42],"
        " header: {type: image, url: 'https://example.com/{{ chat.crmData.leadId }}.jpg'},"
        " from: '{{ chat.channelInfo.accountId }}'}",
        {
            "action": "send_template",
            "template": "order_update",
            "to": CONTACT,  # the default: the event's contact
            "language": "he",
            "body": ["Dana Cohen", "42"],
            "header": {"type": "image", "url": "https://example.com/552310.jpg"},
            "from": BUSINESS,
        },
    ),
    (
        "send_template: {template: invoice, to: '972500000001',"
        " header: {type: document, url: 'https://x.y/i.pdf', filename: 'invoice.pdf'}}",
        {
            "action": "send_template",
            "template": "invoice",
            "to": "972500000001",
            "header": {"type": "document", "url": "https://x.y/i.pdf", "filename": "invoice.pdf"},
        },
    ),
    # update_chat
    (
        "update_chat: {display_name: '{{ chat.title }} (VIP)'}",
        {"action": "update_chat", "display_name": "Dana Cohen (VIP)"},
    ),
    (
        "update_chat: {display_name: Dana, external_bot: true,"
        " crm_deep_link: 'https://crm.x.y/leads/{{ chat.crmData.leadId }}', chat_id: other}",
        {
            "action": "update_chat",
            "chat_id": "other",
            "display_name": "Dana",
            "external_bot": True,
            "crm_deep_link": "https://crm.x.y/leads/552310",
        },
    ),
    # assign: each agent identifier, the department alias, phone + channel, chat_id
    ("assign: {agent_uid: 'u-{{ chat.personId }}'}",
     {"action": "assign", "agent_uid": "u-6650f1a2b3c4d5e6f7a8b9c1"}),
    ("assign: {agent_crm_id: 'crm-7', department: sales}",
     {"action": "assign", "agent_crm_id": "crm-7", "department_id": "sales"}),
    ("assign: {agent_email: a@x.co.il, chat_id: '{{ chat._id }}'}",
     {"action": "assign", "agent_email": "a@x.co.il", "chat_id": CHAT}),
    (
        "assign: {phone: '{{ chat.channelInfo.id }}', department_id: support,"
        " channel: {name: whatsapp, accountId: '{{ chat.channelInfo.accountId }}'}}",
        {
            "action": "assign",
            "phone": CONTACT,
            "department_id": "support",
            "channel": {"name": "whatsapp", "accountId": BUSINESS},
        },
    ),
    # resolve
    ("resolve", {"action": "resolve"}),  # notify_client false: the default, omitted
    ("resolve: {notify_client: true}", {"action": "resolve", "notify_client": True}),
    ("resolve: {notify_client: false, chat_id: c2}", {"action": "resolve", "chat_id": "c2"}),
    # unsubscribe / resubscribe: phone defaults to the contact; account_id
    ("unsubscribe: {account_id: '{{ chat.channelInfo.accountId }}'}",
     {"action": "unsubscribe", "phone": CONTACT, "account_id": BUSINESS}),
    ("resubscribe: {phone: '972500000002', account_id: '972509876543'}",
     {"action": "resubscribe", "phone": "972500000002", "account_id": BUSINESS}),
    ("resubscribe", {"action": "resubscribe", "phone": CONTACT}),
    # labels: set [] clears
    ("labels: {set: []}", {"action": "labels", "set": []}),
    ("labels: {remove: '{{ chat.title | lower | replace(\" \", \"_\") }}'}",
     {"action": "labels", "remove": ["dana_cohen"]}),
    # send_message: contacts, location, media with a caption, context
    (
        "send_message: {contacts: [{name: {formatted_name: Sales},"
        " phones: [{phone: '+972500000003'}]}]}",
        {
            "action": "send_message",
            "type": "contacts",
            "contacts": [
                {"name": {"formatted_name": "Sales"}, "phones": [{"phone": "+972500000003"}]}
            ],
        },
    ),
    (
        "send_message: {location: {latitude: 32.08, longitude: 34.78, name: Office,"
        " address: '{{ chat.title }} branch'}}",
        {
            "action": "send_message",
            "type": "location",
            "location": {"latitude": 32.08, "longitude": 34.78, "name": "Office",
                         "address": "Dana Cohen branch"},
        },
    ),
    (
        "send_message: {media: [{mediaType: document, fileId: f1, caption: '{{ chat.title }}'}],"
        " context: '{{ message.channelInfo.id }}'}",
        {
            "action": "send_message",
            "type": "media",
            "media": [{"mediaType": "document", "fileId": "f1", "caption": "Dana Cohen"}],
            "context": "wamid.HBgMOTcyNTAxMjM0NTY3FQIAEhgUM0FCMTJDNDU2N0Q4OUUwRjEyMzQA",
        },
    ),
    # http: POST and its defaults (method, timeout) omitted; JSON values keep their types
    (
        "http: {url: 'https://x.y/{{ chat._id }}', json: [1, '{{ chat.title }}', true, null]}",
        {"action": "http", "url": f"https://x.y/{CHAT}", "json": [1, "Dana Cohen", True, None]},
    ),
    (
        "http: {url: 'https://x.y', method: put, headers: {X-Chat: '{{ chat._id }}'}, timeout: 1m}",
        {"action": "http", "url": "https://x.y", "method": "PUT", "headers": {"X-Chat": CHAT},
         "timeout": 60.0},
    ),
]  # fmt: skip


@pytest.mark.parametrize(("action", "step"), ROWS, ids=[row[0][:40] for row in ROWS])
def test_each_action_option_becomes_this_step(action: str, step: dict[str, Any]) -> None:
    result = evaluate(ruleset(ONE_ACTION.format(action=action)), "newIncomingMessage")
    assert result.errors == []
    [plan] = result.plans
    assert plan.chat_id == CHAT
    [got] = as_json(plan)["steps"]
    assert got == {**step, "idempotency_key": f"{plan.id}:0"}
