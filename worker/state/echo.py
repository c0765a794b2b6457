"""Our own writes come back as webhooks. This module names the echo each write causes.

The writer remembers `echo_key(chat, effect)` for ECHO_WINDOW after each successful step
(`effect_of_step`); the rules consumer asks whether an incoming event is such an echo
(`effect_of_event`) and then skips the rules with `ignore_own_writes`.

The match is per chat and kind of change, not per message: an agent's reply within the window of
one of our sends is also taken for an echo. That errs on the side of not acting twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Step action → the kind of change Texter reports back.
_STEP_EFFECTS = {
    "assign": "assign",
    "labels": "labels",
    "resolve": "resolve",
    "send_message": "send",
    "send_template": "send",
    "update_chat": "update_chat",
    "unsubscribe": "subscription",
    "resubscribe": "subscription",
}

# Webhook eventName → the kind of change it reports.
_EVENT_EFFECTS = {
    "chatAssigned": "assign",
    "chatPending": "assign",  # Texter sets PENDING on an API assign
    "chatLabelsUpdated": "labels",
    "chatSpecificLabelAdded": "labels",
    "chatResolved": "resolve",
    "chatResolvedByAgent": "resolve",
    "chatResolvedByBot": "resolve",
    "externalBotEnabled": "update_chat",
    "externalBotDisabled": "update_chat",
    "chatSubscribed": "subscription",
    "chatUnsubscribed": "subscription",
}


def effect_of_step(action: str) -> str | None:
    """The change a step makes that Texter echoes back, or None (CRM data, external http)."""
    return _STEP_EFFECTS.get(action)


def effect_of_event(event_name: str, event_data: Mapping[str, Any]) -> str | None:
    """The change an event reports, when it could be the echo of one of our writes."""
    if event_name == "newMessage":
        message = event_data.get("message")
        outgoing = isinstance(message, Mapping) and message.get("direction") == "outgoing"
        return "send" if outgoing else None
    return _EVENT_EFFECTS.get(event_name)


def echo_key(chat_id: str, effect: str) -> str:
    return f"echo:{chat_id}:{effect}"
