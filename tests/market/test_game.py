"""Points, levels and achievements: the seed's points rule and a documented curve."""

from __future__ import annotations

from decimal import Decimal

import pytest
from logmarketd.market.game import (
    ACHIEVEMENTS,
    GameRules,
    GameState,
    PaymentFacts,
    award,
    level_for_xp,
    points_for,
    xp_for_level,
)

RULES = GameRules()


@pytest.mark.parametrize(
    ("amount", "quality", "expected"),
    [("0.75", 60, "7"), ("0.75", 70, "8.75"), ("0.75", 80, "10.5"), ("0.75", 90, "14"),
     ("5.37", 89.9, "79.5"), ("0.09", 95, "0"), ("20.00", 100, "400")],
)  # fmt: skip
def test_points_are_floor_of_dollars_times_rate_times_multiplier(
    amount: str, quality: float, expected: str
) -> None:
    """floor(payment × 10) × (2 / 1.5 / 1.25 / 1), exactly."""
    assert points_for(Decimal(amount), quality, RULES) == Decimal(expected)


def test_multiplier_can_be_switched_off() -> None:
    assert points_for(Decimal("0.75"), 95, GameRules(quality_multiplier_enabled=False)) == 7


def test_level_curve_round_trips() -> None:
    """level_for_xp is the inverse of xp_for_level at every boundary."""
    for level in range(1, 300):
        assert level_for_xp(xp_for_level(level)) == level
        if level > 1:
            assert level_for_xp(xp_for_level(level) - 1) == level - 1


def test_award_emits_points_achievements_and_level_up_in_order() -> None:
    """A first, big, critical payment unlocks three achievements and levels up."""
    facts = PaymentFacts("alice", "la_1", Decimal("15.20"), 92, "2026-11-28", critical_errors=1)
    state, events = award(GameState(), facts, RULES)
    assert state.points == Decimal(304)  # floor(152) × 2
    assert state.achievements == {"first-sale", "data-detective", "high-roller"}
    assert state.xp == 304 + 50 + 500 + 300
    assert [e[0] for e in events] == ["game.points.awarded"] + ["achievement.unlocked"] * 3 + [
        "level.up"]  # fmt: skip
    again, events2 = award(state, facts, RULES)
    assert not [e for e in events2 if e[0] == "achievement.unlocked"]  # each only once
    assert again.xp == state.xp + 304


def test_there_are_at_least_eight_achievements_with_unique_ids() -> None:
    ids = [a.id for a in ACHIEVEMENTS]
    assert len(ids) >= 8 and len(set(ids)) == len(ids) and "data-detective" in ids
