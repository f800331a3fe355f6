"""The daily token budget and the circuit breaker, on a clock the tests move."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from logmarketd.analysis.llm.guard import CircuitBreaker, DailyTokenBudget


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def test_budget_reserves_settles_and_refills_at_utc_midnight() -> None:
    """Reservations count until settled with the reported figure; a new UTC day starts at 0."""
    clock = Clock(datetime(2026, 1, 1, 23, 59, tzinfo=UTC).timestamp())
    budget = DailyTokenBudget(1000, clock)
    assert budget.reserve(600)
    assert not budget.reserve(600)  # would pass the limit: nothing reserved
    budget.settle(600, 200)
    assert budget.used == 200 and budget.reserve(800) and not budget.reserve(1)
    assert budget.seconds_until_reset() == pytest.approx(60)
    clock.now += 61
    assert budget.used == 0 and budget.reserve(1000)


def test_zero_budget_allows_nothing() -> None:
    """A budget of 0 sends every group to the rules."""
    assert not DailyTokenBudget(0).reserve(1)
    with pytest.raises(ValueError):
        DailyTokenBudget(-1)


def test_breaker_opens_after_consecutive_failures_and_half_opens_later() -> None:
    """Closed → open at the threshold → one trial after the reset time → closed on success."""
    clock = Clock(1000.0)
    breaker = CircuitBreaker(failures=2, reset_after=30, clock=clock)
    breaker.failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.success()
    breaker.failure()
    assert breaker.state == "closed"  # the success reset the streak
    breaker.failure()
    assert breaker.state == "open" and not breaker.allow()
    clock.now += 31
    assert breaker.state == "half-open"
    assert breaker.allow() and not breaker.allow()  # one trial at a time
    breaker.success()
    assert breaker.state == "closed" and breaker.allow()


def test_failed_trial_reopens_at_once() -> None:
    """A failed half-open trial opens the circuit again without waiting for the threshold."""
    clock = Clock(0.0)
    breaker = CircuitBreaker(failures=3, reset_after=10, clock=clock)
    breaker.trip(10)
    clock.now = 11
    assert breaker.allow()
    breaker.failure()
    assert breaker.state == "open" and breaker.trips == 2
