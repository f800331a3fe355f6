"""Quality scores, valueScore and improvementPotential: pure functions of what the agents found
(no I/O, no clock), each with a plain-language explanation.

The heuristic, documented here because payments depend on it:

- completeness (are the details there?): per finding, 40 for a location, 30 for evidence lines,
  30 for a root cause; averaged. A log with no finding scores only for its structure:
  up to 30 for timestamps and 20 for levels on its lines.
- relevance (signal vs noise): 60 x the weight of the most severe finding (critical 1.0, high
  0.8, medium 0.55, low 0.25) + 40 x min(1, 4 x share of lines that are part of a finding).
  Without findings: the share of warning/error lines, capped at 20.
- actionability (can a developer act?): per finding 50 for a location and 50 for a suggested fix,
  averaged with severity weights. No finding: 0.
- uniqueness: 70% the share of finding fingerprints not in ``known``, 30% the share of line
  templates not in ``known`` (nothing known: 100). Without findings: the template share only.
- overall: the mean of the four.
- valueScore: 50% overall + 50% impact, impact = min(100, sum of severity points per finding:
  critical 35, high 20, medium 10, low 3; halved for improvement opportunities). Without
  findings: 20% of overall.
- improvementPotential: developmentSpeed starts at 100 and gains the time the performance and
  build/test findings cost (critical 20, high 12, medium 6, low 2 points each, at most 100);
  codeQuality is 100 minus penalties for errors and quality findings (critical 12, high 8,
  medium 4, low 2), potential closes the gap by the actionable share; errorReduction counts
  error occurrences now and those without a fix after; estimatedROI = hours saved (critical 8,
  high 4, medium 2, low 0.5 per actionable finding, halved for improvement opportunities)
  x 150 USD.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from logmarketd.models import ImprovementPotential, PotentialMetric, Quality

__all__ = ["FindingFacts", "LogFacts", "ScoreReport", "score", "value_score"]

_SEV_WEIGHT = {"critical": 1.0, "high": 0.8, "medium": 0.55, "low": 0.25}
_SEV_POINTS = {"critical": 35.0, "high": 20.0, "medium": 10.0, "low": 3.0}
_SPEED = {"critical": 20.0, "high": 12.0, "medium": 6.0, "low": 2.0}
_PENALTY = {"critical": 12.0, "high": 8.0, "medium": 4.0, "low": 2.0}
_HOURS = {"critical": 8.0, "high": 4.0, "medium": 2.0, "low": 0.5}
HOURLY_RATE_USD = 150.0


@dataclass(frozen=True)
class FindingFacts:
    """What scoring needs to know about one finding."""

    fingerprint: str
    kind: str  # error | performance | security | improvement
    severity: str
    count: int = 1
    has_location: bool = False
    has_fix: bool = False
    has_root_cause: bool = False
    has_evidence: bool = False
    blocks_build: bool = False  # a compile error or failed test


@dataclass(frozen=True)
class LogFacts:
    """What scoring needs to know about the log itself."""

    lines: int  # non-blank lines
    signal_lines: int  # distinct lines that are part of a finding
    warn_error_lines: int
    timestamp_share: float  # 0..1 of lines carrying a timestamp
    level_share: float  # 0..1 of lines carrying a level
    templates: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ScoreReport:
    quality: Quality
    value_score: float
    improvement_potential: ImprovementPotential
    explanation: list[str] = field(default_factory=list)


def _clamp(x: float, lo: float = 0.0, hi: float = 100.0) -> float:
    return round(max(lo, min(hi, x)), 1)


def score(
    log: LogFacts, findings: Sequence[FindingFacts], known: Collection[str] = frozenset()
) -> ScoreReport:
    """Scores of one analysed log; ``known`` holds already-seen finding and template fingerprints."""
    why: list[str] = []
    comp = _completeness(log, findings, why)
    rel = _relevance(log, findings, why)
    act = _actionability(findings, why)
    uniq = _uniqueness(log, findings, set(known), why)
    parts = [_clamp(comp), _clamp(rel), _clamp(act), _clamp(uniq)]
    overall = _clamp(sum(parts) / 4)
    why.append(f"overall {overall:.1f}: mean of completeness, relevance, actionability, uniqueness")
    quality = Quality(
        completeness=parts[0],
        relevance=parts[1],
        actionability=parts[2],
        uniqueness=parts[3],
        overall=overall,
    )
    value = _value(overall, findings, why)
    potential = _potential(findings, why)
    return ScoreReport(
        quality=quality, value_score=value, improvement_potential=potential, explanation=why
    )


# Each score below appends its explanation to ``why``; the four parts of the quality are
# returned as computed, ``score`` clamps them.


def _completeness(log: LogFacts, findings: Sequence[FindingFacts], why: list[str]) -> float:
    n = len(findings)
    if n:
        comp = (
            sum(40 * f.has_location + 30 * f.has_evidence + 30 * f.has_root_cause for f in findings)
            / n
        )
        why.append(
            f"completeness {comp:.0f}: {n} finding(s); share with location/evidence/root cause weighted 40/30/30"
        )
    else:
        comp = 30 * log.timestamp_share + 20 * log.level_share
        why.append(
            f"completeness {comp:.0f}: no finding; structure only ({log.timestamp_share:.0%} timestamped, {log.level_share:.0%} leveled)"
        )
    return comp


def _relevance(log: LogFacts, findings: Sequence[FindingFacts], why: list[str]) -> float:
    share = log.signal_lines / log.lines if log.lines else 0.0
    if findings:
        top = max(_SEV_WEIGHT[f.severity] for f in findings)
        rel = 60 * top + 40 * min(1.0, 4 * share)
        why.append(
            f"relevance {rel:.0f}: most severe finding weighs {top:g}; {share:.1%} of {log.lines} lines are signal"
        )
    else:
        noise = log.warn_error_lines / log.lines if log.lines else 0.0
        rel = min(20.0, 100 * noise)
        why.append(f"relevance {rel:.0f}: no finding; {noise:.1%} warning/error lines (cap 20)")
    return rel


def _actionability(findings: Sequence[FindingFacts], why: list[str]) -> float:
    n = len(findings)
    if not n:
        why.append("actionability 0: nothing to act on")
        return 0.0
    wsum = sum(_SEV_WEIGHT[f.severity] for f in findings)
    act = (
        sum(_SEV_WEIGHT[f.severity] * (50 * f.has_location + 50 * f.has_fix) for f in findings)
        / wsum
    )
    located = sum(f.has_location for f in findings)
    fixed = sum(f.has_fix for f in findings)
    why.append(
        f"actionability {act:.0f}: {located}/{n} located, {fixed}/{n} with a suggested fix (severity-weighted)"
    )
    return act


def _uniqueness(
    log: LogFacts, findings: Sequence[FindingFacts], known: set[str], why: list[str]
) -> float:
    n = len(findings)
    t_new = (len(log.templates - known) / len(log.templates)) if log.templates else 1.0
    if n:
        f_new = sum(f.fingerprint not in known for f in findings) / n
        uniq = 100 * (0.7 * f_new + 0.3 * t_new)
        why.append(
            f"uniqueness {uniq:.0f}: {f_new:.0%} of findings and {t_new:.0%} of {len(log.templates)} templates are new"
        )
    else:
        uniq = 100 * t_new
        why.append(f"uniqueness {uniq:.0f}: {t_new:.0%} of {len(log.templates)} templates are new")
    return uniq


def value_score(overall: float, findings: Sequence[FindingFacts]) -> float:
    """The valueScore of a log of this overall quality counting only ``findings``."""
    return _value(overall, findings, [])


def _value(overall: float, findings: Sequence[FindingFacts], why: list[str]) -> float:
    """valueScore (clamped): half the overall quality, half the findings' impact."""
    if not findings:
        value = _clamp(0.2 * overall)
        why.append(f"valueScore {value:.1f}: no finding, 20% of overall")
        return value
    impact = min(
        100.0,
        sum(_SEV_POINTS[f.severity] * (0.5 if f.kind == "improvement" else 1.0) for f in findings),
    )
    value = _clamp(0.5 * overall + 0.5 * impact)
    why.append(
        f"valueScore {value:.1f}: 50% overall + 50% impact {impact:.0f} (severity points of the findings)"
    )
    return value


def _potential(findings: Sequence[FindingFacts], why: list[str]) -> ImprovementPotential:
    slow = [f for f in findings if f.kind == "performance" or f.blocks_build]
    gain = min(100.0, sum(_SPEED[f.severity] for f in slow))
    speed = PotentialMetric(
        current=100.0, potential=100.0 + gain, improvement=f"{gain:.0f}% faster runs and builds"
    )
    hurting = [f for f in findings if f.kind in ("error", "improvement")]
    cq_now = _clamp(100.0 - sum(_PENALTY[f.severity] for f in hurting))
    actionable = [f for f in hurting if f.has_location and f.has_fix]
    share = len(actionable) / len(hurting) if hurting else 0.0
    cq_pot = _clamp(cq_now + share * (100.0 - cq_now))
    cq_pct = (cq_pot - cq_now) / cq_now * 100 if cq_now else 0.0
    quality = PotentialMetric(
        current=cq_now, potential=cq_pot, improvement=f"{cq_pct:.0f}% quality increase"
    )
    errors = [f for f in findings if f.kind == "error"]
    err_now = float(sum(f.count for f in errors))
    err_pot = float(sum(f.count for f in errors if not (f.has_location and f.has_fix)))
    err_pct = (err_now - err_pot) / err_now * 100 if err_now else 0.0
    errs = PotentialMetric(
        current=err_now, potential=err_pot, improvement=f"{err_pct:.0f}% fewer errors"
    )
    hours = sum(
        _HOURS[f.severity] * (0.5 if f.kind == "improvement" else 1.0)
        for f in findings
        if f.has_location and f.has_fix
    )
    roi = round(hours * HOURLY_RATE_USD, 2)
    why.append(
        f"improvementPotential: +{gain:.0f}% speed, code quality {cq_now:.0f}->{cq_pot:.0f}, errors {err_now:.0f}->{err_pot:.0f}, "
        f"ROI {hours:g} h x ${HOURLY_RATE_USD:.0f} = ${roi:,.0f}"
    )
    return ImprovementPotential(
        development_speed=speed,
        code_quality=quality,
        error_reduction=errs,
        estimated_roi=roi,
    )
