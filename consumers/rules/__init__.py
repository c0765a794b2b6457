"""The rules engine: YAML rules in, Plans out. Sans-I/O: no bus, no clock, no state here.

    ruleset = load_rules("rules.yaml")                  # RulesError lists every file:line problem
    result = ruleset.evaluate(event_name, event_data, dedup_key=..., chat_id=..., now=...)
    result.plans, result.errors, result.matched_rules, result.stopped_at

The consumer (issue 4) feeds events from the bus, enforces `once_per_chat` and
`ignore_own_writes` (passing the rules to suppress as `skip=`), publishes the Plans and
dead-letters `result.errors` with their reason. See docs/rules.md.
"""

from consumers.rules.build import RuleFailure, plan_id, step_key
from consumers.rules.context import build_context, decode_raw_event
from consumers.rules.engine import EvaluationResult, RuleSet
from consumers.rules.loader import check_rules_file, load_rules, parse_rules
from consumers.rules.model import CompiledRule, CompiledStep
from consumers.rules.source import Problem

__all__ = [
    "CompiledRule",
    "CompiledStep",
    "EvaluationResult",
    "Problem",
    "RuleFailure",
    "RuleSet",
    "build_context",
    "check_rules_file",
    "decode_raw_event",
    "load_rules",
    "parse_rules",
    "plan_id",
    "step_key",
]
