"""Which names a rule can use, per event: load-time warnings for typos like `mesage.text`.

The top-level names of each event are the keys of its `eventData`, taken from the typed event
Structs (worker/events.py), so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from worker.events import EVENT_TYPES

# Provided for every event, next to the eventData keys (see context.py).
RESERVED = frozenset({"event_name", "now", "now_iso", "now_ms"})


def _data_keys(event_type: type) -> frozenset[str]:
    data_type = msgspec.structs.fields(event_type)[0].type  # the single field: eventData
    return frozenset(f.encode_name for f in msgspec.structs.fields(data_type))


EVENT_VARIABLES: dict[str, frozenset[str]] = {
    name: _data_keys(cls) | RESERVED for name, cls in EVENT_TYPES.items()
}
ALL_VARIABLES = frozenset().union(*EVENT_VARIABLES.values())


def name_problems(
    names: Iterable[str], events: frozenset[str] | None, *, condition: bool
) -> list[str]:
    """Warnings for names the rule's events do not carry. In a condition a name only needs to
    exist for one of the events (it is falsy for the others); a template needs it in all of
    them, or rendering fails for the others. Unknown events are not checked (their data is not
    known)."""
    if events is not None and not events <= EVENT_VARIABLES.keys():
        return []
    scope = sorted(events) if events is not None else sorted(EVENT_VARIABLES)
    problems = []
    for name in sorted(names):
        lacking = [event for event in scope if name not in EVENT_VARIABLES[event]]
        if len(lacking) == len(scope):
            problems.append(f"unknown variable {name!r} (not in the data of any of its events)")
        elif lacking and not condition and events is not None:
            problems.append(
                f"{name!r} is not in the data of {', '.join(lacking)}: "
                "the action fails on those events"
            )
    return problems
