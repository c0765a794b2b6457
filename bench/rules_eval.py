"""Rule evaluation speed: 50 rules of the example kinds over the 19 sample events, one core.

    .venv/bin/python bench/rules_eval.py [--seconds 3]

The 50 rules are the rules of rules.example.yaml repeated under new names, with `stop` off so
every candidate rule is evaluated. Prints events/s (each event evaluated against the whole
rule set, Plans built) and rule evaluations/s (candidate rules whose condition ran). Target from
issue 4: 20,000 evaluations/s. Not asserted: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import sys
import time
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


def run(seconds: float) -> None:
    ruleset, events = fifty_rules(), sample_events()
    now = datetime(2025, 11, 10, 12, 0, tzinfo=UTC)
    candidates = sum(len(ruleset.rules_for(name)) for name, _, _ in events)
    rounds = plans = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for name, data, accepted in events:
            result = ruleset.evaluate(
                name, data, dedup_key=accepted.dedup_key, chat_id=accepted.chat_id, now=now
            )
            plans += len(result.plans)
        rounds += 1
    elapsed = time.perf_counter() - started
    n_events = rounds * len(events)
    out = sys.stdout
    out.write(f"{len(ruleset.rules)} rules, {len(events)} sample events, {elapsed:.2f}s\n")
    out.write(f"events/s (all rules per event, Plans built): {n_events / elapsed:,.0f}\n")
    out.write(f"rule evaluations/s (conditions run): {rounds * candidates / elapsed:,.0f}\n")
    out.write(f"rules considered/s (50 per event): {n_events * RULES / elapsed:,.0f}\n")
    out.write(f"plans built/s: {plans / elapsed:,.0f}\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    run(parser.parse_args().seconds)
