"""The demo's printed account, per moment: the webhooks that arrived, the rules that matched,
the steps the writer ran (with their outcome and attempt), the Texter calls they made and the
rules' calls to external systems."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from simulator.faults import Call
from worker.demo.observer import Event
from worker.demo.world import External, World

Print = Callable[[str], None]
_ID = re.compile(r"[0-9a-f]{24}")
_PHONE = re.compile(r"(?<!\d)\d{9,15}(?!\d)")
STEP_EVENTS = ("writer.step", "writer.step_failed", "writer.plan_parked")


@dataclass
class Row:
    moment: str
    webhooks: int = 0
    rules: list[str] = field(default_factory=list)
    calls_ok: int = 0
    calls_failed: int = 0
    dead: list[str] = field(default_factory=list)


def _path(world: World, call: Call) -> str:
    """The call's path with chat ids shown as the contact's name."""
    return _ID.sub(
        lambda m: f"<{world.title_of(m[0]) or m[0][:6]}>", call.path.removeprefix("/server/api/v2")
    )


def _external(world: World, call: External) -> str:
    """An external call with the contact's phone shown as the contact's name."""
    path = _PHONE.sub(lambda m: f"<{world.title_of_phone(m[0]) or 'a phone'}>", call.path)
    return f"{call.method} {path} {call.status}"


def _webhooks(events: list[Event]) -> list[str]:
    return [
        f"{e.get('event_name') or 'rejected'} {e['status']}"
        for e in events
        if e["event"] == "webhook"
    ]


def _rules(events: list[Event]) -> tuple[list[str], list[str]]:
    acted, held = [], []
    for e in events:
        if e["event"] != "rules.event":
            continue
        for rule in e.get("plans") or []:
            acted.append(f"{rule} ({e.get('event_name')})")
        for rule, why in (e.get("skipped") or {}).items():
            held.append(f"{rule} on {e.get('event_name')} ({why.replace('_', ' ')})")
    return acted, held


def step_line(e: Event) -> str:
    """One writer log line about a step, as the demo prints it."""
    who = f"{e.get('rule') or 'a Plan'}: "
    attempt = f"(attempt {e.get('attempt', '?')})"
    if e["event"] == "writer.step":
        outcome = "skipped, done before" if e.get("outcome") == "skipped" else e.get("outcome")
        return f"{who}{e.get('action'):<13} {outcome} {attempt}"
    if e["event"] == "writer.step_failed":
        error = str(e.get("error"))
        error = error if len(error) <= 70 else f"{error[:69]}…"
        return f"{who}{e.get('action'):<13} failed, {e.get('kind')}: {error} {attempt}"
    wait = e.get("wait")
    after = f"{wait:.1f} s" if isinstance(wait, int | float) else "a while"
    then = e.get("next_attempt")
    return f"{who}parked, the rest of the Plan comes back in {after} as attempt {then}"


def _calls(out: Print, row: Row, world: World, calls: list[Call]) -> None:
    texter = [c for c in calls if not c.path.startswith("/_control")]
    for call in texter:
        ok = call.status is not None and call.status < 400
        row.calls_ok += ok
        row.calls_failed += not ok
    shown = " · ".join(f"{c.method} {_path(world, c)} {c.status}" for c in texter)
    out(f"   Texter    {shown or '-'}")


def moment(
    out: Print,
    n: int,
    title: str,
    *,
    events: list[Event],
    calls: list[Call],
    external: list[External],
    world: World,
) -> Row:
    row = Row(title)
    out(f"\n{n}. {title}")
    hooks = _webhooks(events)
    row.webhooks = len(hooks)
    out(f"   webhooks  {', '.join(hooks) or '-'}")
    acted, held = _rules(events)
    row.rules = acted
    out(f"   rules     {', '.join(acted) or 'no rule matched'}")
    if held:
        out(f"   held back {', '.join(held)}")
    for e in events:
        if e["event"] in STEP_EVENTS:
            out(f"   step      {step_line(e)}")
    _calls(out, row, world, calls)
    for call in external:
        out(f"   external  {_external(world, call)}")
    for e in events:
        if e["event"] in ("rules.dead_letter", "writer.dead_letter"):
            row.dead.append(e["reason"])
            out(f"   dead      {e['reason']}: {str(e.get('error'))[:90]}")
    return row


def summary(out: Print, rows: list[Row], external: int) -> None:
    out("\nSummary")
    out(f"  {'moment':<58} {'hooks':>5} {'plans':>5} {'calls':>9} dead letters")
    for r in rows:
        calls = f"{r.calls_ok} ok" + (f"/{r.calls_failed}!" if r.calls_failed else "")
        out(
            f"  {r.moment[:58]:<58} {r.webhooks:>5} {len(r.rules):>5} {calls:>9} "
            f"{', '.join(r.dead) or '-'}"
        )
    total_calls = sum(r.calls_ok + r.calls_failed for r in rows)
    out(
        f"  {sum(r.webhooks for r in rows)} webhooks, {sum(len(r.rules) for r in rows)} plans, "
        f"{total_calls} Texter calls, {external} external calls, "
        f"{sum(len(r.dead) for r in rows)} dead letters"
    )
