"""Every rules file shown in docs/rules.md loads without a problem, so the recipes stay true."""

from __future__ import annotations

import re

import pytest

from consumers.rules import parse_rules
from tests.rules.support import ROOT, evaluate

DOC = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```yaml\n(.*?)```", DOC, re.DOTALL)


def test_the_docs_have_the_recipes() -> None:
    assert len(BLOCKS) == 6  # the file example and the five recipes


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_each_yaml_example_loads_cleanly(block: str) -> None:
    ruleset, problems = parse_rules(block, "docs/rules.md")
    assert problems == []
    assert ruleset is not None
    assert ruleset.rules


def test_the_survey_recipe_sends_to_the_contact_by_default() -> None:
    [block] = [b for b in BLOCKS if "survey-after-resolve" in b]
    ruleset, _ = parse_rules(block)
    assert ruleset is not None
    [plan] = evaluate(ruleset, "chatResolvedByAgent").plans
    assert plan.steps[0].to == "972508889900"  # type: ignore[union-attr]


def test_anchors_and_merge_keys_under_an_x_key() -> None:
    text = (
        "x-common: &common\n  on: chatAssigned\n  do: [resolve]\n"
        "rules:\n  - <<: *common\n    name: a\n  - <<: *common\n    name: b\n    stop: true\n"
    )
    ruleset, problems = parse_rules(text)
    assert problems == []
    assert ruleset is not None
    assert [(r.name, r.events, r.stop) for r in ruleset.rules] == [
        ("a", frozenset({"chatAssigned"}), False),
        ("b", frozenset({"chatAssigned"}), True),
    ]
