"""Our own writes come back as webhooks. This module says which memory keys a write leaves,
and which keys an incoming event needs to be recognised as the echo of our writes.

The writer stores `echo_keys(chat, step)` for ECHO_WINDOW after each successful step; the rules
consumer asks `echo_checks(event)` and treats the event as an echo only when *every* change it
reports is one of ours: each added label was added by us, each removed one removed by us, the
department it is pending for is the one we assigned, and so on. An agent's own change in the
same chat (another label, taking the chat) is therefore never mistaken for an echo.

Texter facts used (see the API reference): the assign endpoint sets the chat PENDING, so our
assign echoes as `chatPending`; `chatAssigned` (ASSIGNED) comes from an agent taking the chat,
never from the API, so it is never an echo. Sends are matched per chat only (an outgoing
message within the window of one of our sends counts as ours).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from worker.plans import (
    Assign,
    Labels,
    Resolve,
    Resubscribe,
    SendMessage,
    SendTemplate,
    Step,
    Unsubscribe,
    UpdateChat,
)

# One tuple per change in the event: satisfied when any of its keys is in memory.
Checks = list[tuple[str, ...]]


def _k(chat: str, *parts: str) -> str:
    return ":".join(("echo", chat, *parts))


_FIXED: dict[type[Any], tuple[str, ...]] = {
    Resolve: ("resolve",),
    SendMessage: ("send",),
    SendTemplate: ("send",),
    Unsubscribe: ("subscription", "off"),
    Resubscribe: ("subscription", "on"),
}


def echo_keys(chat: str, step: Step) -> list[str]:
    """The keys a successful step leaves behind (none for changes Texter does not echo)."""
    if isinstance(step, Labels):
        return _label_keys(chat, step)
    parts = _step_parts(step)
    return [] if parts is None else [_k(chat, *parts)]


def _step_parts(step: Step) -> tuple[str, ...] | None:
    if isinstance(step, Assign):
        return ("pending", step.department_id or "-")
    if isinstance(step, UpdateChat):  # only the external bot flag is echoed as a webhook
        return None if step.external_bot is None else ("bot", "on" if step.external_bot else "off")
    return _FIXED.get(type(step))


def _label_keys(chat: str, step: Labels) -> list[str]:
    if step.set_ is not None:  # set: these labels may appear, anything may disappear
        return [_k(chat, "label+", label) for label in step.set_] + [_k(chat, "label-", "*")]
    added = [_k(chat, "label+", label) for label in step.add or ()]
    return added + [_k(chat, "label-", label) for label in step.remove or ()]


def echo_checks(event_name: str, data: Mapping[str, Any], chat: str) -> Checks | None:
    """What must be in memory for this event to be our echo; None: it cannot be one."""
    if event_name in ("chatLabelsUpdated", "chatSpecificLabelAdded"):
        return _label_checks(chat, data)
    simple = {
        "chatResolved": "resolve",
        "chatResolvedByAgent": "resolve",
        "chatResolvedByBot": "resolve",
        "externalBotEnabled": "bot:on",
        "externalBotDisabled": "bot:off",
        "chatSubscribed": "subscription:on",
        "chatUnsubscribed": "subscription:off",
    }
    if event_name in simple:
        return [(_k(chat, simple[event_name]),)]
    if event_name == "chatPending":
        department = _get(data, "chat", "departmentId")
        return [(_k(chat, "pending", department if isinstance(department, str) else "-"),)]
    if event_name == "newMessage" and _get(data, "message", "direction") == "outgoing":
        return [(_k(chat, "send"),)]
    return None


def _label_checks(chat: str, data: Mapping[str, Any]) -> Checks | None:
    added, removed = _strings(data.get("addedLabels")), _strings(data.get("removedLabels"))
    if not added and not removed:
        return None
    checks: Checks = [(_k(chat, "label+", label),) for label in added]
    checks += [(_k(chat, "label-", label), _k(chat, "label-", "*")) for label in removed]
    return checks


def _strings(value: Any) -> Sequence[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _get(data: Mapping[str, Any], outer: str, inner: str) -> Any:
    obj = data.get(outer)
    return obj.get(inner) if isinstance(obj, Mapping) else None
