"""The Plan message: what to do in Texter, as ordered steps (a public contract, docs/plans.md).

The rules consumer publishes Plans on `<ns>.commands`; so may the CLI and external systems. The
writer runs a Plan's steps in order. Each step is a tagged union member (tag field `action`)
whose fields follow the Texter endpoint it maps to, in snake_case. Every step carries an
`idempotency_key`: the writer's send-once ledger is keyed by it, so a redelivered Plan never
repeats a non-idempotent effect.

Compatibility: fields added later always get defaults, so Plans already in queues still decode;
unknown fields are ignored, so a newer producer does not break an older writer. `version` only
changes on a breaking change, and a writer refuses Plans newer than it understands.

Validation that spans fields (exactly one label operation, one agent identifier, the message
type and its content, a chat for chat steps) runs in `__post_init__`, so it applies to Plans
built in code (ValueError) and to decoded ones (msgspec.ValidationError) alike.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType, field

PLAN_VERSION = 1  # the newest Plan version this code reads and writes

NonEmpty = Annotated[str, Meta(min_length=1)]
Key = Annotated[str, Meta(min_length=1, max_length=200)]
Phone = Annotated[str, Meta(min_length=5, max_length=30)]
TemplateName = Annotated[str, Meta(pattern=r"^[a-zA-Z0-9_-]+$")]
Url = Annotated[str, Meta(pattern=r"^https?://[^\s/]+")]
Json = dict[str, Any]

# What content each send_message type takes (Texter's send endpoint, reference #24).
MESSAGE_CONTENT: dict[str, frozenset[str]] = {
    "text": frozenset({"text"}),
    "media": frozenset({"media"}),
    "buttons": frozenset({"text", "buttons"}),
    "list": frozenset({"text", "list"}),
    "contacts": frozenset({"contacts"}),
    "location": frozenset({"location"}),
}
CONTENT_FIELDS = frozenset().union(*MESSAGE_CONTENT.values())
AGENT_FIELDS = ("agent_uid", "agent_email", "agent_crm_id")
LABEL_OPERATIONS = ("add", "remove", "set")


# --- cross-field rules, shared with the rules loader (which checks them on the keys given) -----


def message_type(present: Collection[str]) -> str:
    """The send_message type implied by the content fields present; ValueError if none fits."""
    content = CONTENT_FIELDS.intersection(present)
    for kind, needs in MESSAGE_CONTENT.items():
        if content == needs:
            return kind
    got = ", ".join(sorted(content)) or "nothing"
    raise ValueError(
        "send_message takes one of: text; media; text + buttons; text + list; contacts; "
        f"location (got {got})"
    )


def check_labels(present: Collection[str]) -> None:
    given = [op for op in LABEL_OPERATIONS if op in present]
    if len(given) != 1:
        raise ValueError(f"labels takes exactly one of add, remove, set (got {len(given)})")


def check_assign(present: Collection[str]) -> None:
    agents = [name for name in AGENT_FIELDS if name in present]
    if len(agents) > 1:
        raise ValueError(f"assign takes at most one agent identifier, got {', '.join(agents)}")
    if not agents and "department_id" not in present:
        raise ValueError(
            "assign needs an agent (agent_email, agent_uid, agent_crm_id) and/or a department_id"
        )
    if "chat_id" in present and "phone" in present:
        raise ValueError("assign takes chat_id or phone, not both")


def check_update_chat(present: Collection[str]) -> None:
    if not {"display_name", "external_bot", "crm_deep_link"}.intersection(present):
        raise ValueError("update_chat needs display_name, external_bot or crm_deep_link")


def _present(step: Struct) -> set[str]:
    return {name for name in step.__struct_fields__ if getattr(step, name) is not None}


# --- steps ----------------------------------------------------------------------------------------


class _Step(Struct, tag_field="action", kw_only=True, omit_defaults=True):
    idempotency_key: Key


class _ChatStep(_Step, kw_only=True):
    chat_id: NonEmpty | None = None  # None: the Plan's chat


class Assign(_ChatStep, tag="assign", kw_only=True):
    """POST /chats/assign: to one agent and/or a department; the chat by chat_id or phone."""

    phone: Phone | None = None
    agent_uid: NonEmpty | None = None
    agent_email: NonEmpty | None = None
    agent_crm_id: NonEmpty | None = None
    department_id: NonEmpty | None = None
    channel: Json | None = None  # disambiguates a phone with several chats

    def __post_init__(self) -> None:
        check_assign(_present(self))


class Resolve(_ChatStep, tag="resolve", kw_only=True):
    """POST /chats/{chatId}/resolve."""

    notify_client: bool = False


class UpdateCrm(_ChatStep, tag="update_crm", kw_only=True):
    """POST /chats/{chatId}/crm-data: merge `data` into crmData."""

    data: Json


class UpdateChat(_ChatStep, tag="update_chat", kw_only=True):
    """PATCH /chats/{chatId}: overwrite these properties."""

    display_name: Annotated[str, Meta(max_length=255)] | None = None
    external_bot: bool | None = None
    crm_deep_link: str | None = None

    def __post_init__(self) -> None:
        check_update_chat(_present(self))


class Labels(_ChatStep, tag="labels", kw_only=True):
    """POST /chats/{chatId}/labels with exactly one of add, remove, set (`set: []` clears)."""

    add: Annotated[list[str], Meta(min_length=1)] | None = None
    remove: Annotated[list[str], Meta(min_length=1)] | None = None
    set_: list[str] | None = field(default=None, name="set")

    def __post_init__(self) -> None:
        present = {"add"} if self.add is not None else set()
        present |= {"remove"} if self.remove is not None else set()
        present |= {"set"} if self.set_ is not None else set()
        check_labels(present)


class SendMessage(_ChatStep, tag="send_message", kw_only=True):
    """POST /messages/send/{chatId}: a session message (inside the 24-hour window)."""

    type: Literal["text", "media", "buttons", "list", "contacts", "location"]
    text: Annotated[str, Meta(min_length=1, max_length=4096)] | None = None
    media: Annotated[list[Json], Meta(min_length=1, max_length=10)] | None = None
    buttons: Annotated[list[Json], Meta(min_length=1, max_length=3)] | None = None
    list_: Json | None = field(default=None, name="list")
    contacts: Annotated[list[Json], Meta(min_length=1)] | None = None
    location: Json | None = None
    context: str | None = None  # reply to this provider message id (wamid...)

    def __post_init__(self) -> None:
        present = _present(self) | ({"list"} if self.list_ is not None else set())
        implied = message_type(present)
        if implied != self.type:
            raise ValueError(f"send_message of type {self.type} has the content of {implied}")


class SendTemplate(_Step, tag="send_template", kw_only=True):
    """POST /whatsapp/templates/send: a template message to a phone (outside the window too)."""

    template: TemplateName
    to: Phone
    language: str | None = None
    body: list[str] | None = None  # values of {{1}}, {{2}}, ... in order
    header: Json | None = None
    from_: str | None = field(default=None, name="from")


class Unsubscribe(_Step, tag="unsubscribe", kw_only=True):
    """POST /whatsapp/templates/unsubscribe: stop template messages to this phone."""

    phone: Phone
    account_id: str | None = None


class Resubscribe(_Step, tag="resubscribe", kw_only=True):
    """POST /whatsapp/templates/subscribe: allow template messages to this phone again."""

    phone: Phone
    account_id: str | None = None


class Http(_Step, tag="http", kw_only=True):
    """A JSON request to an external system (e.g. a CRM). Never carries the Texter token."""

    url: Url
    method: Literal["POST", "PUT"] = "POST"
    json: Any = None
    headers: dict[str, str] = {}
    timeout: Annotated[float, Meta(gt=0, le=300)] = 10.0


Step = (
    Assign
    | Resolve
    | UpdateCrm
    | UpdateChat
    | Labels
    | SendMessage
    | SendTemplate
    | Unsubscribe
    | Resubscribe
    | Http
)
STEP_TYPES: dict[str, type[Step]] = {cls.__struct_config__.tag: cls for cls in Step.__args__}


def action_of(step: Step) -> str:
    """The step's action name, as on the wire ("send_message", "labels", ...)."""
    return str(step.__struct_config__.tag)


CHAT_STEPS = (Assign, Resolve, UpdateCrm, UpdateChat, Labels, SendMessage)
_NOT_IDEMPOTENT = (SendMessage, SendTemplate, Http)


def is_idempotent(step: Step) -> bool:
    """True when running the step twice has the effect of running it once (no ledger needed)."""
    return not isinstance(step, _NOT_IDEMPOTENT)


def needs_chat(step: Step) -> bool:
    """True when the step addresses a chat but names none itself (it uses the Plan's)."""
    if isinstance(step, Assign):
        return step.chat_id is None and step.phone is None
    return isinstance(step, CHAT_STEPS) and step.chat_id is None


# --- the plan -------------------------------------------------------------------------------------


class Plan(Struct, kw_only=True):
    id: Key
    chat_id: NonEmpty | None = None  # target of chat steps, and the per-chat ordering key
    source: NonEmpty  # rules, cli, or the name of the external system that published it
    cause_event_id: str | None = None  # dedup key of the event that caused it
    rule: str | None = None
    steps: Annotated[list[Step], Meta(min_length=1)]
    attempt: Annotated[int, Meta(ge=1)] = 1
    not_before: Annotated[datetime, Meta(tz=True)] | None = None
    version: Annotated[int, Meta(ge=1)] = PLAN_VERSION
    # A continuation's place in the Plan it continues: the index there of steps[0]. Left out
    # (UNSET, never encoded) on a Plan as first published; read it through `first_step`.
    step_offset: Annotated[int, Meta(ge=0)] | UnsetType = UNSET

    def __post_init__(self) -> None:
        if self.version > PLAN_VERSION:
            raise ValueError(f"Plan version {self.version} is newer than {PLAN_VERSION}")
        keys = [step.idempotency_key for step in self.steps]
        if len(set(keys)) != len(keys):
            raise ValueError("two steps share an idempotency_key")
        if self.chat_id is None:
            for index, step in enumerate(self.steps):
                if needs_chat(step):
                    action = step.__struct_config__.tag
                    raise ValueError(f"step {index} ({action}) needs chat_id (Plan or step)")

    @property
    def first_step(self) -> int:
        """The index of `steps[0]` in the Plan as first published (0 unless a continuation)."""
        return 0 if isinstance(self.step_offset, UnsetType) else self.step_offset


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Plan)


def encode_plan(plan: Plan) -> bytes:
    return _encoder.encode(plan)


def decode_plan(body: bytes) -> Plan:
    """Decode and validate a Plan. Raises msgspec.DecodeError / ValidationError when it is not
    one (the caller dead-letters it as poison)."""
    return _decoder.decode(body)
