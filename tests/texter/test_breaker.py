"""The circuit breaker state machine, driven by a fake clock (no sleeping)."""

from __future__ import annotations

import pytest

from worker.texter.breaker import CircuitBreaker, State


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def changes() -> list[State]:
    return []


@pytest.fixture
def breaker(clock: Clock, changes: list[State]) -> CircuitBreaker:
    return CircuitBreaker(threshold=3, cooldown=10.0, clock=clock, on_change=changes.append)


def test_opens_after_threshold_consecutive_failures(breaker: CircuitBreaker) -> None:
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state is State.CLOSED
    breaker.record_failure()
    assert breaker.state is State.OPEN
    assert not breaker.allow()


def test_a_success_resets_the_count(breaker: CircuitBreaker) -> None:
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is State.CLOSED


def test_half_open_lets_exactly_one_probe(breaker: CircuitBreaker, clock: Clock) -> None:
    for _ in range(3):
        breaker.record_failure()
    clock.now = 9.9
    assert not breaker.allow()
    assert breaker.retry_in() == pytest.approx(0.1)
    clock.now = 10.0
    assert breaker.state is State.HALF_OPEN
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # everyone else still fails fast
    assert not breaker.allow()


def test_probe_success_closes(breaker: CircuitBreaker, clock: Clock, changes: list[State]) -> None:
    for _ in range(3):
        breaker.record_failure()
    clock.now = 10.0
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is State.CLOSED
    assert breaker.allow()
    assert changes == [State.OPEN, State.HALF_OPEN, State.CLOSED]


def test_probe_failure_reopens_for_a_full_cooldown(breaker: CircuitBreaker, clock: Clock) -> None:
    for _ in range(3):
        breaker.record_failure()
    clock.now = 10.0
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is State.OPEN
    clock.now = 19.9
    assert not breaker.allow()
    clock.now = 20.0
    assert breaker.allow()


def test_abandoned_probe_frees_the_slot(breaker: CircuitBreaker, clock: Clock) -> None:
    for _ in range(3):
        breaker.record_failure()
    clock.now = 10.0
    assert breaker.allow()
    breaker.record_abandoned()
    assert breaker.allow()


def test_late_failures_do_not_extend_the_cooldown(breaker: CircuitBreaker, clock: Clock) -> None:
    for _ in range(3):
        breaker.record_failure()
    clock.now = 5.0
    breaker.record_failure()  # a call that started before the breaker opened
    clock.now = 10.0
    assert breaker.allow()


def test_rejects_nonsense_configuration(clock: Clock) -> None:
    with pytest.raises(ValueError, match="threshold"):
        CircuitBreaker(threshold=0, cooldown=1, clock=clock)
