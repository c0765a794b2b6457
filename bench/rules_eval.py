"""Rule evaluation speed: 50 rules of the example kinds over the 19 sample events, one core.

    .venv/bin/python bench/rules_eval.py [--seconds 3]

The 50 rules are the enabled rules of rules.example.yaml repeated under new names, with `stop`
off so every candidate rule is evaluated. A rule set is indexed by eventName, so an event only
runs its *candidate* rules (those whose `on` names it); 9 of the 19 sample events have none and
cost next to nothing. Three measurements, `--seconds` each:

* events/s over all 19 sample events (each checked against the 50 rules, Plans built);
* events/s over only the sample events that have candidate rules;
* events/s for newIncomingMessage alone (the event with the most candidates: 20).

Then rule evaluations/s: candidate rules run (condition evaluated when the rule has one, Plan
built when it matches), the figure issue 4 sets a target for (20,000/s on one core), with how
many of them ran a condition. Not asserted: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from consumers.rules import RuleSet, decode_raw_event, parse_rules
from producers.ingress.envelope import Accepted, parse_webhook
from simulator.samples import webhook_body, webhook_names

RULES = 50
EXAMPLE = Path(__file__).resolve().parent.parent / "rules.example.yaml"


def fifty_rules() -> RuleSet:
    doc = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    kinds = [rule for rule in doc["rules"] if rule.get("enabled", True)]
    rules = []
    for i in range(RULES):
        rule = dict(kinds[i % len(kinds)])
        rule["on"] = rule.pop(True)  # PyYAML reads the key `on` as the boolean True (YAML 1.1)
        rule["name"] = f"{rule['name']}-{i}"
        rule["stop"] = False
        rules.append(rule)
    ruleset, problems = parse_rules(yaml.safe_dump({"rules": rules}, allow_unicode=True))
    if ruleset is None:
        raise SystemExit("\n".join(map(str, problems)))
    return ruleset


def sample_events() -> list[tuple[str, dict[str, Any], Accepted]]:
    events = []
    for name in webhook_names():
        body = webhook_body(name)
        accepted = parse_webhook(body)
        assert isinstance(accepted, Accepted)
        events.append((*decode_raw_event(body), accepted))
    return events


@dataclass
class Figures:
    events: int = 0
    evaluations: int = 0  # candidate rules run
    conditions: int = 0  # ... of which had a condition to evaluate
    plans: int = 0
    elapsed: float = 0.0

    def rate(self, count: int) -> str:
        return f"{count / self.elapsed:,.0f}"


Event = tuple[str, dict[str, Any], Accepted]


def measure(ruleset: RuleSet, events: list[Event], seconds: float) -> Figures:
    now = datetime(2025, 11, 10, 12, 0, tzinfo=UTC)
    candidates = [ruleset.rules_for(name) for name, _, _ in events]
    per_round = sum(len(c) for c in candidates)
    conditions = sum(rule.condition is not None for c in candidates for rule in c)
    figures = Figures()
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for name, data, accepted in events:
            result = ruleset.evaluate(
                name, data, dedup_key=accepted.dedup_key, chat_id=accepted.chat_id, now=now
            )
            figures.plans += len(result.plans)
        figures.events += len(events)
        figures.evaluations += per_round
        figures.conditions += conditions
    figures.elapsed = time.perf_counter() - started
    return figures


def run(seconds: float) -> None:
    ruleset, events = fifty_rules(), sample_events()
    with_rules = [e for e in events if ruleset.rules_for(e[0])]
    incoming = [e for e in events if e[0] == "newIncomingMessage"]
    n_incoming = len(ruleset.rules_for("newIncomingMessage"))
    every = measure(ruleset, events, seconds)
    some = measure(ruleset, with_rules, seconds)
    busiest = measure(ruleset, incoming, seconds)
    out = sys.stdout
    out.write(
        f"{len(ruleset.rules)} rules, {len(events)} sample events "
        f"({len(events) - len(with_rules)} with no candidate rule), {seconds:g}s per measurement\n"
    )
    out.write(
        f"events/s, all {len(events)} sample events (the {len(ruleset.rules)}-rule set: "
        f"each event runs its candidate rules, Plans built): {every.rate(every.events)}\n"
    )
    out.write(
        f"events/s, the {len(with_rules)} sample events that have candidate rules: "
        f"{some.rate(some.events)}\n"
    )
    out.write(
        f"events/s, newIncomingMessage alone ({n_incoming} candidate rules): "
        f"{busiest.rate(busiest.events)}\n"
    )
    out.write(
        "rule evaluations/s (candidate rules run, condition and Plan; all sample events): "
        f"{every.rate(every.evaluations)} (target 20,000), "
        f"of which conditions run/s: {every.rate(every.conditions)}\n"
    )
    out.write(
        f"rule evaluations/s, newIncomingMessage alone: {busiest.rate(busiest.evaluations)}\n"
    )
    out.write(f"plans built/s (all sample events): {every.rate(every.plans)}\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    run(parser.parse_args().seconds)
