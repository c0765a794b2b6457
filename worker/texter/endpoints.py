"""Every Texter endpoint the client calls, as data: name, method, path, retry safety, source.

`name` is the `endpoint` metric label and appears in errors, so the label set is closed.
`idempotent` says whether repeating the call can do something twice: only idempotent calls are
retried after an ambiguous failure. `send` marks the two calls that message a contact.
`verified` is False where the path is not in the reference but inferred from its siblings
(GAPS.md §1); those methods say so in their docstrings and in docs/texter-client.md.
Endpoints whose path is unknown (channel health problems, activate/inactivate/delete
subscription, drafts, revisions, components, scenario runs) are deliberately absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str  # relative to the API root, with {placeholders}
    idempotent: bool
    send: bool = False
    verified: bool = True

    def url_path(self, **params: str) -> str:
        """The path with each placeholder filled in, percent-encoded as one path segment."""
        return self.path.format(**{k: quote(v, safe="") for k, v in params.items()})


def _e(name: str, method: str, path: str, *, idempotent: bool, **kw: bool) -> Endpoint:
    return Endpoint(name, method, path, idempotent, **kw)


# Chats
ASSIGN_CHAT = _e("assign_chat", "POST", "/chats/assign", idempotent=True)
GET_CHAT = _e("get_chat", "GET", "/chats/{chat_id}", idempotent=True)
RESOLVE_CHAT = _e("resolve_chat", "POST", "/chats/{chat_id}/resolve", idempotent=True)
# notifyClient=true sends the resolution message to the contact: then it is a send.
RESOLVE_CHAT_NOTIFY = _e(
    "resolve_chat", "POST", "/chats/{chat_id}/resolve", idempotent=False, send=True
)
SEARCH_CHATS = _e("search_chats", "GET", "/chats/search", idempotent=True)
UPDATE_CHAT = _e("update_chat", "PATCH", "/chats/{chat_id}", idempotent=True)
UPDATE_CRM_DATA = _e("update_crm_data", "POST", "/chats/{chat_id}/crm-data", idempotent=True)
CHAT_LABELS = _e("chat_labels", "POST", "/chats/{chat_id}/labels", idempotent=True)
# Files: every call makes a new link, but an extra link is harmless.
SHARE_FILE = _e("share_file", "POST", "/files/share/{file_id}", idempotent=True)
# Labels
LIST_LABELS = _e("list_labels", "GET", "/labels", idempotent=True)
GET_LABEL = _e("get_label", "GET", "/labels/{label_id}", idempotent=True)
CREATE_LABEL = _e("create_label", "POST", "/labels", idempotent=False)
UPDATE_LABEL = _e("update_label", "PATCH", "/labels/{label_id}", idempotent=True)
DELETE_LABEL = _e("delete_label", "DELETE", "/labels/{label_id}", idempotent=True, verified=False)
# WhatsApp templates
_T = "/whatsapp/templates"
LIST_TEMPLATES = _e("list_templates", "GET", _T, idempotent=True)
CREATE_TEMPLATE = _e("create_template", "POST", _T + "/{account_id}", idempotent=False)
PUT_LOCALIZATION = _e(
    "put_template_localization",
    "POST",
    _T + "/{account_id}/{template_name}/localizations",
    idempotent=True,
)
SUBMIT_TEMPLATE = _e(
    "submit_template",
    "POST",
    _T + "/{account_id}/{template_name}/localizations/{language}/submit",
    idempotent=False,
)
UPDATE_TEMPLATE = _e(
    "update_template", "PATCH", _T + "/{account_id}/{template_name}", idempotent=True
)
DELETE_TEMPLATE = _e(
    "delete_template", "DELETE", _T + "/{account_id}/{template_name}", idempotent=True
)
SEND_TEMPLATE = _e("send_template", "POST", _T + "/send", idempotent=False, send=True)
UNSUBSCRIBE = _e("unsubscribe", "POST", _T + "/unsubscribe", idempotent=True)
RESUBSCRIBE = _e("resubscribe", "POST", _T + "/subscribe", idempotent=True)
LIST_UNSUBSCRIBED = _e("list_unsubscribed", "GET", _T + "/unsubscribed", idempotent=True)
LIST_UNSUBSCRIBED_ACCOUNT = _e(
    "list_unsubscribed", "GET", _T + "/unsubscribed/{account_id}", idempotent=True
)
# Messages
GET_MESSAGES = _e("get_messages", "GET", "/messages/chat/{chat_id}", idempotent=True)
SEND_MESSAGE = _e("send_message", "POST", "/messages/send/{chat_id}", idempotent=False, send=True)
# Quick replies
LIST_QUICK_REPLIES = _e("list_quick_replies", "GET", "/quick-replies", idempotent=True)
CREATE_QUICK_REPLY = _e("create_quick_reply", "POST", "/quick-replies", idempotent=False)
UPDATE_QUICK_REPLY = _e(
    "update_quick_reply", "PATCH", "/quick-replies/{quick_reply_id}", idempotent=True
)
DELETE_QUICK_REPLY = _e(
    "delete_quick_reply",
    "DELETE",
    "/quick-replies/{quick_reply_id}",
    idempotent=True,
    verified=False,
)
# Subscriptions (scenarios)
LIST_SUBSCRIPTIONS = _e("list_subscriptions", "GET", "/scenarios/manage", idempotent=True)
IMPORT_SUBSCRIPTION = _e(
    "import_subscription", "POST", "/scenarios/manage/import", idempotent=False
)
COPY_SCENARIO = _e(
    "copy_scenario", "POST", "/scenarios/manage/{scenario_id}/copy", idempotent=False
)

ALL: tuple[Endpoint, ...] = tuple(v for v in list(globals().values()) if isinstance(v, Endpoint))
