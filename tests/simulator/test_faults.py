"""The fault plan: counted faults are used up in order; the rate limit uses a sliding second."""

from __future__ import annotations

import pytest

from simulator.faults import Action, FaultPlan, Faults


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_counted_faults_run_out_in_order() -> None:
    plan = FaultPlan(Clock())
    plan.set(Faults(errors=1, timeouts=1, drops=1))
    got = [plan.decide("/labels") for _ in range(4)]
    assert got == [Action.ERROR, Action.TIMEOUT, Action.DROP, Action.NONE]


def test_faults_can_target_paths() -> None:
    plan = FaultPlan(Clock())
    plan.set(Faults(errors=1, paths=["/messages/send"]))
    assert plan.decide("/labels") is Action.NONE
    assert plan.decide("/messages/send/abc") is Action.ERROR
    assert plan.decide("/messages/send/abc") is Action.NONE


def test_rate_limit_is_a_sliding_second() -> None:
    clock = Clock()
    plan = FaultPlan(clock)
    plan.set(Faults(rate_limit=2))
    assert [plan.decide("/x") for _ in range(3)] == [Action.NONE, Action.NONE, Action.RATE_LIMITED]
    clock.now += 0.999
    assert plan.decide("/x") is Action.RATE_LIMITED
    clock.now += 0.001
    assert plan.decide("/x") is Action.NONE


def test_unknown_fault_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault fields: eror"):
        Faults.from_json({"eror": 3})
    assert Faults.from_json({"errors": 3}).errors == 3
