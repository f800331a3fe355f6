"""The seed's pricing formula, exactly, with its clamps, threshold and bonuses."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from logmarketd.market.pricing import BONUSES, PricingRules, earned_bonuses, price
from logmarketd.models import (
    AIInsights,
    ErrorPattern,
    PerformanceIssue,
    SecurityConcern,
)

RULES = PricingRules()
D = Decimal


@pytest.mark.parametrize(
    ("quality", "value", "bonuses", "expected", "reason"),
    [
        # (0.10 + 0.75) × 0.65 = 0.5525 → 0.55
        (75, 65, {}, D("0.55"), "formula"),
        # seed example 2's averages: (0.10 + 0.82) × 0.72 = 0.6624 → 0.66
        (82, 72, {}, D("0.66"), "formula"),
        # + uniqueness: (0.10 + 0.88 + 0.50) × 0.79 = 1.1692 → 1.17
        (88, 79, {"uniqueness": BONUSES["uniqueness"]}, D("1.17"), "formula"),
        # critical + uniqueness: (0.10 + 0.90 + 5.50) × 0.90 = 5.85
        (90, 90, {"uniqueness": D("0.50"), "criticalError": D("5.00")}, D("5.85"), "formula"),
        # everything: (0.10 + 1.00 + 17.50) × 1 = 18.60
        (100, 100, dict(BONUSES), D("18.60"), "formula"),
        # below the minimum: (0.10 + 0.50) × 0.10 = 0.06 → raised to 0.10
        (50, 10, {}, D("0.10"), "raised to the minimum payment 0.10"),
        # below the quality threshold: nothing, whatever the bonuses
        (49.9, 100, dict(BONUSES), D("0.00"), "quality 49.9 below the threshold 50: not paid"),
        # half to even at the cent: (0.10 + 0.75) × 0.5 = 0.425 → 0.42
        (75, 50, {}, D("0.42"), "formula"),
        # (0.10 + 0.75) × 0.7 = 0.595 → 0.60 (half to even rounds 0.595 up: 9 is odd)
        (75, 70, {}, D("0.60"), "formula"),
    ],
)
def test_price_table(
    quality: float, value: float, bonuses: dict[str, Decimal], expected: Decimal, reason: str
) -> None:
    """Worked cases: the formula, the minimum, the threshold, banker's rounding."""
    b = price(quality=quality, value_score=value, bonuses=bonuses, rules=RULES)
    assert b.amount == expected
    assert b.reason == reason


def test_maximum_clamp_uses_the_setting() -> None:
    """A custom maximum caps the payment."""
    rules = PricingRules(max_payment=D("12.00"))
    b = price(quality=100, value_score=100, bonuses=dict(BONUSES), rules=rules)
    assert b.amount == D("12.00") and b.reason.startswith("capped")


def test_out_of_range_scores_are_refused() -> None:
    with pytest.raises(ValueError):
        price(quality=101, value_score=50, bonuses={}, rules=RULES)


@given(
    q=st.floats(0, 100, allow_nan=False),
    v=st.floats(0, 100, allow_nan=False),
    keys=st.sets(st.sampled_from(sorted(BONUSES))),
)
def test_price_is_always_cents_within_bounds(q: float, v: float, keys: set[str]) -> None:
    """Any scores: the amount is whole cents, 0 below the threshold, else within the clamp."""
    b = price(quality=q, value_score=v, bonuses={k: BONUSES[k] for k in keys}, rules=RULES)
    assert b.amount == b.amount.quantize(D("0.01"))
    if q < RULES.quality_threshold:
        assert b.amount == 0
    else:
        assert RULES.min_payment <= b.amount <= RULES.max_payment


def _insights(**kw: list) -> AIInsights:  # type: ignore[type-arg]
    return AIInsights(**kw)


def test_bonuses_need_substance() -> None:
    """Critical needs a critical error; security needs ≥ medium; performance needs a breach;
    an AI-instruction attempt (a low security finding) earns nothing."""
    low = SecurityConcern(threat="prompt injection attempt", severity="low", description="d",
                          mitigation="m")  # fmt: skip
    assert earned_bonuses(_insights(security_concerns=[low]), has_new_finding=False) == {}
    med = low.model_copy(update={"severity": "medium", "threat": "SQL injection"})
    assert "securityIssue" in earned_bonuses(
        _insights(security_concerns=[med]), has_new_finding=False
    )
    high_err = ErrorPattern(pattern="E", location="a.py:1", severity="high", impact="i")
    assert earned_bonuses(_insights(error_patterns=[high_err]), has_new_finding=False) == {}
    crit = high_err.model_copy(update={"severity": "critical"})
    assert earned_bonuses(_insights(error_patterns=[crit]), has_new_finding=True) == {
        "criticalError": D("5.00"), "uniqueness": D("0.50")}  # fmt: skip
    fine = PerformanceIssue(issue="q", metric="ms", threshold=500, actual=120, optimization="o",
                            estimated_improvement="e")  # fmt: skip
    assert earned_bonuses(_insights(performance_issues=[fine]), has_new_finding=False) == {}
    slow = fine.model_copy(update={"actual": 2300})
    assert earned_bonuses(_insights(performance_issues=[slow]), has_new_finding=False) == {
        "performance": D("2.00")}  # fmt: skip
