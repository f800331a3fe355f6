"""The seed's price of an analysed log, exactly, in ``Decimal``.

    Payment = (Base + Quality × Multiplier + Bonuses) × ValueScore / 100

Base $0.10; Multiplier $0.01 per quality point (``quality.overall``, 0-100); bonuses, each at
most once per log and each only with substance behind it:

* uniqueness     +$0.50  the log holds a finding nobody reported before (first reporter);
* critical error +$5.00  an error pattern of severity ``critical``;
* security issue +$10.00 a security concern of severity medium or above (an attempt to instruct
  an AI inside a log is a low finding: it earns nothing);
* performance    +$2.00  a measured performance issue over its threshold (actual > threshold).

Then: below ``LOG_MARKETPLACE_QUALITY_THRESHOLD`` overall quality nothing is paid; otherwise
the amount is clamped to [``LOG_MARKETPLACE_MIN_PAYMENT``, ``LOG_MARKETPLACE_MAX_PAYMENT``].

Rounding: everything is computed exactly; the final amount is rounded once, to the cent,
half to even (banker's rounding, so rounding errors do not drift one way over many payments).
Scores arrive as floats and are read as their shortest decimal form (``72.5`` is 72.5).

Pure: no I/O, no clock. The caller decides which findings are new (first reporter).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

from logmarketd.analysis.agents.secrets import LEAK
from logmarketd.models import AIInsights

__all__ = ["BONUSES", "PriceBreakdown", "PricingRules", "earned_bonuses", "nothing_new", "price"]

CENT = Decimal("0.01")
BASE = Decimal("0.10")
PER_QUALITY_POINT = Decimal("0.01")
BONUSES: dict[str, Decimal] = {
    "uniqueness": Decimal("0.50"),
    "criticalError": Decimal("5.00"),
    "securityIssue": Decimal("10.00"),
    "performance": Decimal("2.00"),
}
_SERIOUS = {"medium", "high", "critical"}


@dataclass(frozen=True, slots=True)
class PricingRules:
    min_payment: Decimal = Decimal("0.10")
    max_payment: Decimal = Decimal("20.00")
    quality_threshold: int = 50


@dataclass(frozen=True, slots=True)
class PriceBreakdown:
    """How a price came to be: every term, for the API and for ``--explain``."""

    base: Decimal
    quality_component: Decimal
    bonuses: dict[str, Decimal] = field(default_factory=dict)
    value_factor: Decimal = Decimal(0)
    raw: Decimal = Decimal(0)
    amount: Decimal = Decimal(0)
    reason: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "base": float(self.base),
            "qualityComponent": float(self.quality_component),
            "bonuses": {k: float(v) for k, v in self.bonuses.items()},
            "valueFactor": float(self.value_factor),
            "raw": str(self.raw),
            "amount": float(self.amount),
            "reason": self.reason,
        }


def _dec(score: float) -> Decimal:
    return Decimal(repr(float(score)))


def earned_bonuses(insights: AIInsights, *, has_new_finding: bool) -> dict[str, Decimal]:
    """The bonuses a log's findings earn (each at most once)."""
    out: dict[str, Decimal] = {}
    if has_new_finding:
        out["uniqueness"] = BONUSES["uniqueness"]
    if any(e.severity == "critical" for e in insights.error_patterns):
        out["criticalError"] = BONUSES["criticalError"]
    # A secret leaked in the contributor's own log is an alert, never a bonus: paying for it
    # would pay people to leak.
    if any(s.severity in _SERIOUS and not s.threat.startswith(LEAK)
           for s in insights.security_concerns):  # fmt: skip
        out["securityIssue"] = BONUSES["securityIssue"]
    if any(p.actual > p.threshold for p in insights.performance_issues):
        out["performance"] = BONUSES["performance"]
    return out


def nothing_new() -> PriceBreakdown:
    """The price of a log whose findings the marketplace knew already, from anyone: nothing,
    not even the base (repeats are counted, not paid)."""
    zero = Decimal("0.00")
    return PriceBreakdown(base=zero, quality_component=zero, amount=zero,
                          reason="no new finding: nothing the marketplace did not know")  # fmt: skip


def price(
    *,
    quality: float,
    value_score: float,
    bonuses: dict[str, Decimal],
    rules: PricingRules,
) -> PriceBreakdown:
    """The payment for one log, with its breakdown."""
    q = _dec(quality)
    v = _dec(value_score)
    if not (0 <= q <= 100 and 0 <= v <= 100):
        raise ValueError("quality and valueScore must be within 0-100")
    quality_component = q * PER_QUALITY_POINT
    factor = v / 100
    raw = (BASE + quality_component + sum(bonuses.values(), Decimal(0))) * factor
    if q < rules.quality_threshold:
        amount = Decimal("0.00")
        reason = f"quality {q} below the threshold {rules.quality_threshold}: not paid"
    else:
        clamped = min(max(raw, rules.min_payment), rules.max_payment)
        amount = clamped.quantize(CENT, rounding=ROUND_HALF_EVEN)
        if raw < rules.min_payment:
            reason = f"raised to the minimum payment {rules.min_payment}"
        elif raw > rules.max_payment:
            reason = f"capped at the maximum payment {rules.max_payment}"
        else:
            reason = "formula"
    return PriceBreakdown(
        base=BASE,
        quality_component=quality_component,
        bonuses=dict(bonuses),
        value_factor=factor,
        raw=raw,
        amount=amount,
        reason=reason,
    )
