"""Points, XP, levels and achievements: pure functions of a Sub-PKP's state and one payment.

Points (the seed): ``floor(payment × POINTS_PER_DOLLAR) × quality multiplier``, the multiplier
2 at overall quality ≥ 90, 1.5 at ≥ 80, 1.25 at ≥ 70, else 1 (only when
``QUALITY_MULTIPLIER_ENABLED``). Points are exact (``Decimal``: 7 × 1.25 = 8.75).

XP: every payment gives ``floor(points)`` XP; an achievement gives its own XP once.

Levels: reaching level L needs ``50 × L × (L − 1)`` XP in total (level 2 at 100 XP, 3 at 300,
4 at 600, 5 at 1,000 …): each level costs 100 XP more than the one before.

The caller (the ledger) stores the new state and the returned events in the same database
transaction as the payment.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import ROUND_FLOOR, Decimal
from typing import Any

__all__ = [
    "ACHIEVEMENTS",
    "Achievement",
    "GameRules",
    "GameState",
    "PaymentFacts",
    "award",
    "level_for_xp",
    "points_for",
    "xp_for_level",
]


@dataclass(frozen=True, slots=True)
class GameRules:
    points_per_dollar: int = 10
    quality_multiplier_enabled: bool = True


@dataclass(frozen=True, slots=True)
class PaymentFacts:
    """What the game needs to know about one payment."""

    sub_pkp_id: str
    analysis_id: str
    amount: Decimal
    quality: float
    day: str  # YYYY-MM-DD of the payment, from the caller's clock
    critical_errors: int = 0
    serious_security: int = 0  # security concerns of high or critical severity
    performance_issues: int = 0
    new_findings: int = 0


@dataclass(frozen=True, slots=True)
class GameState:
    points: Decimal = Decimal(0)
    xp: int = 0
    level: int = 1
    stats: dict[str, Any] = field(default_factory=dict)
    achievements: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Achievement:
    id: str
    name: str
    description: str
    xp: int
    unlocked: Callable[[dict[str, Any], PaymentFacts], bool]


def _stat(stats: dict[str, Any], key: str) -> int:
    return int(stats.get(key, 0))


def _at_least(stat: str, n: int) -> Callable[[dict[str, Any], PaymentFacts], bool]:
    """Unlocked once the count ``stat`` of a player's stats reaches ``n``."""
    return lambda s, f: _stat(s, stat) >= n


ACHIEVEMENTS: tuple[Achievement, ...] = (
    Achievement("first-sale", "First Sale", "Get paid for a log for the first time.", 50,
                _at_least("paidLogs", 1)),
    Achievement("data-detective", "Data Detective",
                "Get paid for a log that holds a critical error.", 500,
                _at_least("criticalLogs", 1)),
    Achievement("security-sentinel", "Security Sentinel",
                "Get paid for a log with a high or critical security concern.", 500,
                _at_least("securityLogs", 1)),
    Achievement("speed-demon", "Speed Demon",
                "Get paid for 5 logs with a measured performance issue.", 300,
                _at_least("performanceLogs", 5)),
    Achievement("pioneer", "Pioneer", "Be the first to report 10 distinct findings.", 400,
                _at_least("firstReports", 10)),
    Achievement("high-roller", "High Roller", "Earn $10 or more for a single log.", 300,
                lambda s, f: f.amount >= Decimal(10)),
    Achievement("quality-craftsman", "Quality Craftsman",
                "Get paid for 10 logs of overall quality 90 or more.", 400,
                _at_least("excellentLogs", 10)),
    Achievement("centurion", "Centurion", "Get paid for 100 logs.", 1000,
                _at_least("paidLogs", 100)),
    Achievement("big-earner", "Big Earner", "Earn $100 in total.", 1000,
                _at_least("earnedCents", 10_000)),
    Achievement("marathon", "Marathon", "Get paid on 7 different days.", 700,
                lambda s, f: len(s.get("days", [])) >= 7),
)  # fmt: skip


def multiplier_for(quality: float, rules: GameRules) -> Decimal:
    if not rules.quality_multiplier_enabled:
        return Decimal(1)
    if quality >= 90:
        return Decimal(2)
    if quality >= 80:
        return Decimal("1.5")
    if quality >= 70:
        return Decimal("1.25")
    return Decimal(1)


def points_for(amount: Decimal, quality: float, rules: GameRules) -> Decimal:
    """The seed's points for one payment, exact."""
    base = (amount * rules.points_per_dollar).to_integral_value(rounding=ROUND_FLOOR)
    return base * multiplier_for(quality, rules)


def xp_for_level(level: int) -> int:
    """Total XP needed to reach ``level`` (level 1 needs none)."""
    return 50 * level * (level - 1)


def level_for_xp(xp: int) -> int:
    """The level a total of ``xp`` reaches: the largest L with 50·L·(L−1) ≤ xp."""
    level = int((1 + math.isqrt(1 + (4 * xp) // 50)) // 2)
    while xp_for_level(level + 1) <= xp:
        level += 1
    while level > 1 and xp_for_level(level) > xp:
        level -= 1
    return max(level, 1)


def award(
    state: GameState, facts: PaymentFacts, rules: GameRules
) -> tuple[GameState, list[tuple[str, dict[str, Any]]]]:
    """Apply one payment: the new state and the events it causes, in order."""
    events: list[tuple[str, dict[str, Any]]] = []
    points = points_for(facts.amount, facts.quality, rules)
    stats = dict(state.stats)
    stats["paidLogs"] = _stat(stats, "paidLogs") + 1
    stats["earnedCents"] = _stat(stats, "earnedCents") + int(facts.amount * 100)
    stats["criticalLogs"] = _stat(stats, "criticalLogs") + (1 if facts.critical_errors else 0)
    stats["securityLogs"] = _stat(stats, "securityLogs") + (1 if facts.serious_security else 0)
    stats["performanceLogs"] = _stat(stats, "performanceLogs") + (
        1 if facts.performance_issues else 0
    )
    stats["firstReports"] = _stat(stats, "firstReports") + facts.new_findings
    stats["excellentLogs"] = _stat(stats, "excellentLogs") + (1 if facts.quality >= 90 else 0)
    days = sorted(set(stats.get("days", [])) | {facts.day})
    stats["days"] = days[-31:]  # only the count up to 7 matters; keep it small

    events.append(("game.points.awarded", {
        "subPKPId": facts.sub_pkp_id,
        "points": float(points),
        "source": "log-data-marketplace",
        "metadata": {"paymentAmount": float(facts.amount), "quality": facts.quality,
                     "analysisId": facts.analysis_id},
    }))  # fmt: skip
    xp = state.xp + int(points)
    unlocked = set(state.achievements)
    for ach in ACHIEVEMENTS:
        if ach.id not in unlocked and ach.unlocked(stats, facts):
            unlocked.add(ach.id)
            xp += ach.xp
            events.append(("achievement.unlocked", {
                "subPKPId": facts.sub_pkp_id,
                "achievement": ach.id,
                "reward": {"xp": ach.xp, "badge": ach.name},
            }))  # fmt: skip
    level = level_for_xp(xp)
    if level > state.level:
        events.append(("level.up", {
            "subPKPId": facts.sub_pkp_id, "level": level, "previousLevel": state.level, "xp": xp,
        }))  # fmt: skip
    new_state = replace(
        state,
        points=state.points + points,
        xp=xp,
        level=max(level, state.level),
        stats=stats,
        achievements=frozenset(unlocked),
    )
    return new_state, events
