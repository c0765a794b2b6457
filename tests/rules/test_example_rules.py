"""rules.example.yaml over the bundled sample events: which rules match, and the exact Plans."""

from __future__ import annotations

from typing import Any

import pytest

from consumers.rules import RuleSet, load_rules
from simulator.samples import webhook_names
from tests.rules.support import EXAMPLE, NOW, NOW_ISO, as_json, evaluate, expected_plan

# Which example rules each sample event matches, in rule order (every other event: none).
MATCHES = {
    "channelHealthProblemCreated": ["channel-alert"],
    "chatAssigned": ["agent-intro"],
    "chatLabelsUpdated": ["vip-crm"],
    "chatResolvedByAgent": ["survey-after-resolve"],
    "chatSpecificLabelAdded": ["vip-crm"],
    "externalBotDisabled": ["bot-handoff"],
    "messageFailed": ["delivery-failed"],
    "newIncomingMessage": ["appointments"],
    "newMatchedMessage": ["human-handoff"],
    "newMediaMessage": ["receipt-photos"],
}

# Rules no sample triggers, checked on a sample with one field changed.
VARIANTS: list[tuple[str, str, dict[str, Any]]] = [
    ("sales-leads", "newIncomingMessage", {"message__text": "כמה עולה? מה המחיר של טיפול"}),
    ("opt-out", "newIncomingMessage", {"message__text": " הסר "}),
    ("opt-in", "newIncomingMessage", {"message__text": "START"}),
    (
        "ai-stop-word",
        "newIncomingMessage",
        {"chat__externalBot": True, "message__text": "אני רוצה נציג בבקשה"},
    ),
]

CHAT = {
    "newIncomingMessage": "6650f1a2b3c4d5e6f7a8b9c0",
    "newMatchedMessage": "6650f1a2b3c4d5e6f7a8b9e7",
    "newMediaMessage": "6650f1a2b3c4d5e6f7a8ba01",
    "chatLabelsUpdated": "6650f1a2b3c4d5e6f7a8ba20",
    "chatSpecificLabelAdded": "6650f1a2b3c4d5e6f7a8ba30",
    "chatAssigned": "6650f1a2b3c4d5e6f7a8b9d4",
    "chatResolvedByAgent": "6650f1a2b3c4d5e6f7a8ba50",
    "externalBotDisabled": "6650f1a2b3c4d5e6f7a8ba90",
    "messageFailed": "6650f1a2b3c4d5e6f7a8ba10",
    "channelHealthProblemCreated": None,
}
CUSTOMER_SERVICE = {"action": "assign", "department_id": "customer_service"}


def _vip(phone: str, chat: str, labels: str) -> list[dict[str, Any]]:
    return [
        {"action": "update_crm", "data": {"vip": True, "vipSince": NOW_ISO}},
        {"action": "assign", "agent_email": "vip-desk@example.co.il"},
        {
            "action": "http",
            "method": "PUT",
            "url": f"https://crm.example.com/api/contacts/{phone}/vip",
            "json": {"vip": True, "chatId": chat, "labels": labels},
            "headers": {"X-Source": "texter-worker"},
            "timeout": 5.0,
        },
    ]


# (rule, sample event, patches, expected steps without their idempotency keys)
PLANS: list[tuple[str, str, dict[str, Any], list[dict[str, Any]]]] = [
    ("appointments", "newIncomingMessage", {}, [
        {"action": "labels", "add": ["appointment"]},
        CUSTOMER_SERVICE,
        {"action": "send_message", "type": "text",
         "text": "היי Dana Cohen, קיבלנו את בקשתך לתור. נציג יחזור אליך בהקדם."},
    ]),
    ("sales-leads", "newIncomingMessage", VARIANTS[0][2], [
        {"action": "labels", "add": ["lead"]},
        {"action": "assign", "department_id": "sales"},
        {"action": "send_message", "type": "media", "media": [
            {"mediaType": "image", "url": "https://example.com/price-list.jpg",
             "caption": "המחירון שלנו / Our price list"}]},
        {"action": "send_message", "type": "buttons",
         "text": "Thanks Dana Cohen! How should a sales rep reach you?",
         "buttons": [{"title": "Call me", "payload": "call_me"},
                     {"title": "בוואטסאפ", "payload": "whatsapp_me"}]},
    ]),
    ("human-handoff", "newMatchedMessage", {}, [
        CUSTOMER_SERVICE,
        {"action": "send_message", "type": "list", "text": "במה נוכל לעזור?", "list": {
            "button": "תפריט",
            "sections": [{"title": "נושאים", "rows": [
                {"title": "הזמנה קיימת", "payload": "existing_order"},
                {"title": "Something else", "payload": "other"}]}]}},
    ]),
    ("opt-out", "newIncomingMessage", VARIANTS[1][2], [
        {"action": "unsubscribe", "phone": "972501234567"},
        {"action": "labels", "set": ["unsubscribed"]},
        {"action": "send_message", "type": "text",
         "text": "הוסרת מרשימת התפוצה. לחזרה שלחו: הצטרף"},
        {"action": "resolve"},
    ]),
    ("opt-in", "newIncomingMessage", VARIANTS[2][2], [
        {"action": "resubscribe", "phone": "972501234567"},
        {"action": "labels", "remove": ["unsubscribed"]},
        {"action": "send_message", "type": "text", "text": "Welcome back! / ברוכים השבים!"},
    ]),
    ("receipt-photos", "newMediaMessage", {}, [
        {"action": "labels", "add": ["receipt"]},
        {"action": "update_crm",
         "data": {"lastReceiptFileId": "6911ee01f0e1d2c3b4a59687", "lastReceiptAt": NOW_ISO}},
        {"action": "send_message", "type": "text", "text": "תודה, קיבלנו את הקבלה 🙏",
         "context": "wamid.HBgMOTcyNTMzNDU2Nzg5FQIAEhgUM0FGRTEyMzQ1Njc4OUFCQ0RFRjAA"},
    ]),
    ("vip-crm", "chatLabelsUpdated", {},
     _vip("972502223344", "6650f1a2b3c4d5e6f7a8ba20", "hot_lead,VIP")),
    ("vip-crm", "chatSpecificLabelAdded", {},
     _vip("972504445566", "6650f1a2b3c4d5e6f7a8ba30", "new_lead,VIP")),
    ("agent-intro", "chatAssigned", {}, [
        {"action": "update_chat", "crm_deep_link": "https://crm.example.com/orders/15033"},
        {"action": "send_message", "type": "text",
         "text": "שלום Yossi Levi, כאן מיכל לוי. אני מטפל/ת בפנייה שלך."},
    ]),
    ("survey-after-resolve", "chatResolvedByAgent", {}, [
        {"action": "send_template", "template": "feedback_survey", "to": "972508889900",
         "language": "he", "body": ["Gil Katz"]},
    ]),
    ("ai-stop-word", "newIncomingMessage", VARIANTS[3][2], [
        {"action": "update_chat", "external_bot": False},
        CUSTOMER_SERVICE,
    ]),
    ("bot-handoff", "externalBotDisabled", {}, [
        CUSTOMER_SERVICE,
        {"action": "send_message", "type": "text", "text": "מעבירים אותך לנציג אנושי, רגע אחד 🙏"},
    ]),
    ("delivery-failed", "messageFailed", {}, [
        {"action": "labels", "add": ["delivery_failed"]},
        {"action": "update_crm", "data": {"lastDeliveryError": "(#131026) Message undeliverable"}},
    ]),
    ("channel-alert", "channelHealthProblemCreated", {}, [
        {"action": "http", "url": "https://hooks.example.com/ops-alerts", "json": {
            "text": "WhatsApp 972509876543: The Business has not passed business verification.",
            "instruction": "Visit business settings and start or resolve the business "
                           "verification request.",
            "send_impaired": "true"}},
        {"action": "send_template", "template": "ops_alert", "to": "972500000000",
         "language": "en",
         "body": ["whatsapp_business_has_limited_messaging_availability", "972509876543"]},
    ]),
]  # fmt: skip


@pytest.fixture(scope="module")
def example() -> RuleSet:
    return load_rules(EXAMPLE)


@pytest.mark.parametrize("event", webhook_names())
def test_which_example_rules_match_each_sample(example: RuleSet, event: str) -> None:
    result = evaluate(example, event)
    assert result.matched_rules == MATCHES.get(event, [])
    assert result.errors == []


@pytest.mark.parametrize(("rule", "event", "patches"), VARIANTS, ids=[v[0] for v in VARIANTS])
def test_rules_no_sample_triggers_match_their_variant(
    example: RuleSet, rule: str, event: str, patches: dict[str, Any]
) -> None:
    assert evaluate(example, event, **patches).matched_rules == [rule]


@pytest.mark.parametrize(
    ("rule", "event", "patches", "steps"), PLANS, ids=[f"{p[0]}-{p[1]}" for p in PLANS]
)
def test_the_exact_plan_of_each_example_rule(
    example: RuleSet, rule: str, event: str, patches: dict[str, Any], steps: list[dict[str, Any]]
) -> None:
    result = evaluate(example, event, **patches)
    [plan] = [as_json(p) for p in result.plans if p.rule == rule]
    assert plan == expected_plan(rule, event, steps, CHAT[event])


def test_every_rule_of_the_example_has_a_plan_test_and_every_action_is_used(
    example: RuleSet,
) -> None:
    tested = {rule for rule, *_ in PLANS}
    enabled = {rule.name for rule in example.rules if rule.enabled}
    assert tested == enabled
    actions = {step.action for rule in example.rules for step in rule.steps}
    assert actions == {
        "assign", "resolve", "update_crm", "update_chat", "labels", "send_message",
        "send_template", "unsubscribe", "resubscribe", "http",
    }  # fmt: skip


def test_opt_out_stops_later_rules(example: RuleSet) -> None:
    result = evaluate(example, "newIncomingMessage", message__text="הסר")
    assert result.stopped_at == "opt-out"


def test_the_disabled_rule_never_runs(example: RuleSet) -> None:
    night = NOW.replace(hour=23)
    assert "after-hours" not in evaluate(example, "newIncomingMessage", now=night).matched_rules
    assert example.get("after-hours") is not None


def test_options_the_consumer_enforces(example: RuleSet) -> None:
    survey, failed = example.get("survey-after-resolve"), example.get("delivery-failed")
    assert survey is not None
    assert failed is not None
    assert survey.once_per_chat == 24 * 3600
    assert survey.ignore_own_writes is True
    assert failed.ignore_own_writes is False
    assert failed.once_per_chat is None
