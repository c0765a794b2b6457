"""`texter-worker rules check FILE` and `texter-worker rules test FILE EVENT.json`.

`check` prints every problem as `FILE:LINE: error|warning: message` and a one-line summary per
rule; exit 1 on any error. `test` shows which rules match an event and the exact Plans they would
publish, computing the event's dedup key as the ingress does; it has no side effects.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from consumers.rules import EvaluationResult, RuleSet, check_rules_file, decode_raw_event
from producers.ingress.envelope import Rejected, parse_webhook
from worker.commands import Subparsers
from worker.events import decode_event
from worker.plans import encode_plan

EXIT_PROBLEM = 1


def register(sub: Subparsers) -> None:
    p = sub.add_parser("rules", help="check a rules file, or try it on an event")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check",
        help="report every problem of a rules file with its line",
        description="Exit 1 when the file has errors (warnings alone exit 0).",
    )
    check.add_argument("file", metavar="FILE")
    check.set_defaults(handler=handle_check)
    test = actions.add_parser(
        "test",
        help="show which rules match an event and the Plans they would publish",
        description="Nothing is published. once_per_chat and ignore_own_writes are applied by "
        "the running consumer, not here.",
    )
    test.add_argument("file", metavar="FILE")
    test.add_argument("event", metavar="EVENT.json", help="a webhook body, as Texter posts it")
    test.add_argument(
        "--now", type=_aware_time, help="evaluation time, ISO-8601 (default: the current time)"
    )
    test.set_defaults(handler=handle_test)


def _aware_time(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _load(file: str) -> RuleSet | None:
    """The RuleSet, printing every problem; None (and the error count) when it has errors."""
    ruleset, problems = check_rules_file(file)
    for problem in problems:
        print(problem)
    if ruleset is None:
        errors = sum(p.severity == "error" for p in problems)
        warnings = len(problems) - errors
        print(f"{file}: {errors} error(s), {warnings} warning(s)")
    return ruleset


def handle_check(args: argparse.Namespace) -> int:
    ruleset = _load(args.file)
    if ruleset is None:
        return EXIT_PROBLEM
    for rule in ruleset.rules:
        print(rule.summary())
    print(f"{args.file}: {len(ruleset.rules)} rule(s) OK, {len(ruleset.warnings)} warning(s)")
    return 0


def handle_test(args: argparse.Namespace) -> int:
    ruleset = _load(args.file)
    if ruleset is None:
        return EXIT_PROBLEM
    try:
        body = Path(args.event).read_bytes()
    except OSError as exc:
        print(f"{args.event}: cannot read the event: {exc}")
        return EXIT_PROBLEM
    accepted = parse_webhook(body)
    if isinstance(accepted, Rejected):
        print(f"{args.event}: the ingress would reject it (400): {accepted.reason}")
        return EXIT_PROBLEM
    _warn_if_poison(args.event, body)
    name, data = decode_raw_event(body)
    print(f"event: {name}, dedup key {accepted.dedup_key}, chat {accepted.chat_id or '-'}")
    result = ruleset.evaluate(
        name,
        data,
        dedup_key=accepted.dedup_key,
        chat_id=accepted.chat_id,
        now=args.now or datetime.now(UTC),
    )
    _report(ruleset, name, result)
    return EXIT_PROBLEM if result.errors else 0


def _warn_if_poison(file: str, body: bytes) -> None:
    try:
        decode_event(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        print(
            f"{file}: warning: does not fit its documented event shape ({exc}); "
            "the consumer would dead-letter it as poison"
        )


def _report(ruleset: RuleSet, name: str, result: EvaluationResult) -> None:
    candidates = [rule.name for rule in ruleset.rules_for(name)]
    print(f"rules on {name}: {', '.join(candidates) or 'none'}")
    print(f"matched: {', '.join(result.matched_rules) or 'none'}")
    if result.stopped_at is not None:
        print(f"stopped after {result.stopped_at} (stop: true)")
    for failure in result.errors:
        print(f"error: {failure.describe()}", file=sys.stdout)
    for rule_name in result.matched_rules:
        rule = ruleset.get(rule_name)
        if rule is not None and rule.once_per_chat is not None:
            print(f"note: {rule_name} runs once per chat per window; the consumer enforces it")
    for plan in result.plans:
        print(f"plan of {plan.rule}:")
        print(msgspec.json.format(encode_plan(plan), indent=2).decode())
