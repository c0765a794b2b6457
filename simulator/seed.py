"""Seed data for demos and tests: two agents, a few labels, three chats, two templates.

Phones, names and ids are invented. Chat "Yossi" wrote a minute ago (inside the 24-hour
window), "Dana" wrote two days ago (outside it), "Avi" is unsubscribed from templates.
"""

from __future__ import annotations

from simulator.state import ASSIGNED, DAY_MS, PENDING, Agent, Chat, State

ACCOUNT = "972509876543"


def seed(state: State) -> dict[str, Chat]:
    """Fill `state` with the demo data; returns the chats by first name."""
    state.agents += [
        Agent("7c2e91d4-3b5a-4f68-9e0d-12ab34cd56ef", "michal@example.co.il", "Michal", "1042"),
        Agent("4d170fc7-5cd6-4496-98e4-f4f03a11456e", "tyler@example.com", "Tyler", "1043"),
    ]
    for label_id, name, color in (
        ("hot_lead", "HOT LEAD", "#2CCCE4"),
        ("VIP", "VIP", "#dce775"),
        ("billing", "Billing", "#F47373"),
    ):
        state.labels[label_id] = {"id": label_id, "name": name, "color": color}
    state.labels["failed_message"] = {
        "id": "failed_message",
        "name": "Failed to send",
        "color": "#e80303",
        "system": True,
    }
    chats = {
        "yossi": _chat(state, "972547654321", "Yossi Levi", "Hi, is my order ready?", 60_000),
        "dana": _chat(state, "972521234567", "Dana Cohen", "Thanks!", 2 * DAY_MS),
        "avi": _chat(state, "972531112233", "Avi Mizrahi", "Stop", 3 * DAY_MS),
    }
    chats["dana"].status = ASSIGNED
    chats["dana"].agent = state.agents[0]
    chats["dana"].labels = ["VIP"]
    chats["avi"].status = PENDING
    chats["avi"].department_id = "customer_service"
    state.opt_out(chats["avi"].phone, None)  # from every account
    _templates(state)
    return chats


def _chat(state: State, phone: str, title: str, text: str, ago_ms: int) -> Chat:
    chat = state.add_chat(phone, title, account_id=ACCOUNT)
    message = state.add_message(chat, "incoming", {"type": "text", "text": text})
    stamp = state.clock() - ago_ms  # back-date it so the 24-hour window is as described
    message["timestamp"] = chat.last_incoming_ms = chat.last_message_ms = stamp
    return chat


def _templates(state: State) -> None:
    for name, usage, text in (
        ("order_ready", "inbox", "Hi {{1}}, order {{2}} is ready for pickup"),
        ("weekly_offer", "bulk", "This week only: {{1}}"),
    ):
        state.templates[(ACCOUNT, name)] = {
            "_id": state.new_id(),
            "name": name,
            "title": name.replace("_", " ").capitalize(),
            "usage": usage,
            "chatStatus": 1,
            "created": state.clock(),
            "departments": [],
            "isDefault": False,
            "channelInfo": {"name": "whatsapp", "accountId": ACCOUNT},
            "provider_template": {
                "name": name,
                "category": "UTILITY" if usage == "inbox" else "MARKETING",
                "localizations": [
                    {
                        "language": "en",
                        "status": "APPROVED",
                        "components": [{"type": "BODY", "text": text}],
                    }
                ],
                "metadata": {},
            },
            "localizationDrafts": {},
            "defaults": {},
        }
