"""Texter's 19 "(SUB)" subscription templates and how to import them through the client.

The bodies in `subscriptions/<eventName>.json` are Texter's own templates as published in the
reference (`{data, asStatus}`), unchanged. Before import the placeholders are filled:
`{{yourWebhookURL}}` (the action URL, required) and the filter values `{{word1}}`/`{{word2}}`
(newMatchedMessage) and `{{targetLabelId}}` (chatSpecificLabelAdded). A template whose filter
placeholder is not given is imported *inactive*: active, it would match nothing.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from worker.texter.models import Json
from worker.texter.scenarios import SubscriptionsAPI

URL_PLACEHOLDER = "yourWebhookURL"
_PLACEHOLDER = re.compile(r"\{\{([A-Za-z0-9_]+)\}\}")
_UNSAFE_IN_FILTER = re.compile(r'["\\\n]')


def event_names() -> list[str]:
    """The eventName of every bundled template, sorted."""
    folder = files(__package__).joinpath("subscriptions")
    return sorted(
        p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json")
    )


def template(event_name: str) -> Json:
    """The import body `{data, asStatus}` of one event, placeholders still in."""
    if event_name not in event_names():
        raise KeyError(f"no subscription template for event {event_name!r}")
    raw = files(__package__).joinpath("subscriptions", f"{event_name}.json").read_text("utf-8")
    body: Json = json.loads(raw)
    return body


def fill(value: Any, values: dict[str, str]) -> Any:
    """A copy of `value` with `{{name}}` replaced inside every string, where a value is given."""
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: values.get(m[1], m[0]), value)
    if isinstance(value, list):
        return [fill(v, values) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, values) for k, v in value.items()}
    return copy.copy(value)


def placeholders(value: Any) -> set[str]:
    """Names of the `{{placeholders}}` left anywhere in `value`."""
    found: set[str] = set()
    if isinstance(value, str):
        found.update(_PLACEHOLDER.findall(value))
    elif isinstance(value, list):
        for v in value:
            found |= placeholders(v)
    elif isinstance(value, dict):
        for v in value.values():
            found |= placeholders(v)
    return found


@dataclass(frozen=True)
class PreparedImport:
    event: str
    data: Json
    as_status: str
    unfilled: frozenset[str]  # filter placeholders nobody gave a value for


def prepare(
    event_name: str, url: str, *, values: dict[str, str] | None = None, as_status: str = "active"
) -> PreparedImport:
    """The body to import for one event: URL and given values filled in, status decided."""
    extra = dict(values or {})
    for name, value in extra.items():
        if _UNSAFE_IN_FILTER.search(value):  # values land inside filtrex string literals
            raise ValueError(f"{name}: quotes, backslashes and newlines are not allowed")
    data = fill(template(event_name)["data"], {**extra, URL_PLACEHOLDER: url})
    unfilled = frozenset(placeholders(data))
    status = "inactive" if unfilled and as_status == "active" else as_status
    return PreparedImport(event_name, data, status, unfilled)


@dataclass(frozen=True)
class Created:
    event: str
    scenario_id: str
    as_status: str
    unfilled: frozenset[str]


async def subscribe(
    client: SubscriptionsAPI,
    url: str,
    events: list[str] | None = None,
    *,
    values: dict[str, str] | None = None,
    as_status: str = "active",
) -> list[Created]:
    """Import one subscription per event (default: all 19), in order; stop at the first error.

    Imports are not idempotent: running this twice creates the subscriptions twice.
    """
    created = []
    for event in events or event_names():
        prepared = prepare(event, url, values=values, as_status=as_status)
        scenario = await client.import_subscription(prepared.data, as_status=prepared.as_status)
        created.append(Created(event, scenario.id, prepared.as_status, prepared.unfilled))
    return created
