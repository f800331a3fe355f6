"""Quality scores, valueScore and improvementPotential: pure functions of what the agents found
(no I/O, no clock), each with a plain-language explanation.

What a finding carries is what scores, never how many findings there are. ``FindingFacts``
says, per finding: a *real location* (a file position, a test id, a route, a URL or an
address; not "line N" of the log, a placeholder or a bare word), a *specific* root cause and a
*specific* fix (they name something the log holds: a path, a function, a quoted value; the
rule's constant sentence is stock), evidence lines, and what it measured. The heuristic,
documented here because payments depend on it:

- completeness (are the details there?): per finding, 40 for a real location, 30 for evidence
  lines, 30 for a specific cause (for a performance finding: a measured value over its
  threshold); averaged. A log with no finding scores only for its structure: up to 30 for
  timestamps and 20 for levels on its lines.
- relevance (signal vs noise): 60 x the weight of the most severe finding (critical 1.0, high
  0.8, medium 0.55, low 0.25) + 40 x min(1, 4 x share of lines that are part of a finding).
  Without findings: the share of warning/error lines, capped at 20.
- actionability (can a developer act?): per finding 50 for a real location and 50 for a
  specific fix, averaged with severity weights. No finding: 0.
- uniqueness: 70% the share of finding fingerprints not in ``known``, 30% the share of line
  templates not in ``known`` (nothing known: 100). Without findings: 0 (new line shapes
  alone are no new knowledge).
- overall: the mean of the four.
- valueScore: 50% overall + 50% impact. Findings that share a log line or a real location
  are one failure (one outage reported three ways is one); a failure weighs as its most
  severe finding: severity points (critical 80, high 40, medium 20, low 10; improvement
  opportunities half) x grounding (0.6, + 0.2 with evidence lines, + 0.2 with a real
  location). impact = the heaviest failure + 10% of each further independent failure's
  weight, that increment capped at 10; at most 100. Without findings: 20% of overall.
  So one grounded critical finding in a complete log is worth up to 90, above
  AUTO_PAY_THRESHOLD (70 by default); one high finding at most 70, one low at most 55:
  below it, the admin reviews the payment.
- improvementPotential, from what the log measured:
  developmentSpeed: the measured time of the slow operations (duration findings: actual x
  occurrences, seconds) against the same at their thresholds; nothing measured: 0 -> 0.
  codeQuality: a measured line coverage against the configured minimum; else the quality
  issues counted in the log now and those left without a real location after the fixes.
  errorReduction: error occurrences now and those without a real location and a specific
  fix after. estimatedROI = ``engineer_hour_usd`` x (the measured excess time of the slow
  operations, (actual - threshold) x occurrences, in hours + ``triage_hours_per_failure``
  per independent failure with a real location and a specific fix). Both rates are
  settings (``RoiRates``, defaults from ``Settings``), not constants of this module.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from logmarketd.models import ImprovementPotential, PotentialMetric, Quality
from logmarketd.settings import Settings

__all__ = ["FindingFacts", "LogFacts", "RoiRates", "ScoreReport", "score", "value_score"]

_SEV_WEIGHT = {"critical": 1.0, "high": 0.8, "medium": 0.55, "low": 0.25}
_SEV_POINTS = {"critical": 80.0, "high": 40.0, "medium": 20.0, "low": 10.0}
_FURTHER_SHARE = 0.1  # of each further independent failure's weight
_FURTHER_CAP = 10.0  # impact points further failures can add, in all
_MS_PER_HOUR = Decimal(3_600_000)


def _default(name: str) -> Decimal:
    return Decimal(str(Settings.model_fields[name].default))


@dataclass(frozen=True)
class RoiRates:
    """The cost rates of estimatedROI (settings ``engineer_hour_usd`` and
    ``triage_hours_per_failure``; the defaults are the settings' defaults)."""

    engineer_hour_usd: Decimal = field(default_factory=lambda: _default("engineer_hour_usd"))
    triage_hours_per_failure: Decimal = field(
        default_factory=lambda: _default("triage_hours_per_failure")
    )

    @classmethod
    def from_settings(cls, settings: Settings | None) -> RoiRates:
        if settings is None:
            return cls()
        return cls(
            engineer_hour_usd=Decimal(str(settings.engineer_hour_usd)),
            triage_hours_per_failure=Decimal(str(settings.triage_hours_per_failure)),
        )


@dataclass(frozen=True)
class FindingFacts:
    """What scoring needs to know about one finding."""

    fingerprint: str
    kind: str  # error | performance | security | improvement
    severity: str
    count: int = 1
    has_location: bool = False  # a real location (see the module doc)
    has_fix: bool = False  # any fix, stock or specific
    has_root_cause: bool = False  # any root cause, stock or specific
    has_evidence: bool = False
    specific_fix: bool = False  # the fix names something the log holds
    specific_cause: bool = False  # so does the cause; performance: a measured excess
    blocks_build: bool = False  # a compile error or failed test
    location: str = ""  # the real location, "" when none
    lines: frozenset[int] = frozenset()  # the log lines it covers: shared lines, one failure
    metric: str | None = None  # what it measured, e.g. "http duration max (ms)"
    actual: float | None = None
    threshold: float | None = None

    @property
    def actionable(self) -> bool:
        """A developer can go there and do it: a real location and a specific fix."""
        return self.has_location and self.specific_fix

    @property
    def excess_ms(self) -> float:
        """Measured time over the threshold, all occurrences (0 unless a duration in ms)."""
        if not (self.metric or "").endswith("(ms)") or self.actual is None:
            return 0.0
        return max(0.0, self.actual - (self.threshold or 0.0)) * self.count


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
    log: LogFacts,
    findings: Sequence[FindingFacts],
    known: Collection[str] = frozenset(),
    rates: RoiRates | None = None,
) -> ScoreReport:
    """Scores of one analysed log; ``known`` holds already-seen finding and template
    fingerprints; ``rates`` price the estimatedROI (default: the settings' defaults)."""
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
    potential = _potential(findings, rates or RoiRates(), why)
    return ScoreReport(
        quality=quality, value_score=value, improvement_potential=potential, explanation=why
    )


# Each score below appends its explanation to ``why``; the four parts of the quality are
# returned as computed, ``score`` clamps them.


def _completeness(log: LogFacts, findings: Sequence[FindingFacts], why: list[str]) -> float:
    n = len(findings)
    if n:
        comp = (
            sum(40 * f.has_location + 30 * f.has_evidence + 30 * f.specific_cause for f in findings)
            / n
        )
        why.append(
            f"completeness {comp:.0f}: {n} finding(s); real location/evidence/specific cause weighted 40/30/30"
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
        sum(_SEV_WEIGHT[f.severity] * (50 * f.has_location + 50 * f.specific_fix) for f in findings)
        / wsum
    )
    located = sum(f.has_location for f in findings)
    fixed = sum(f.specific_fix for f in findings)
    stock = sum(f.has_fix and not f.specific_fix for f in findings)
    why.append(
        f"actionability {act:.0f}: {located}/{n} at a real location, {fixed}/{n} with a specific fix"
        f" ({stock} stock fix(es) not counted; severity-weighted)"
    )
    return act


def _uniqueness(
    log: LogFacts, findings: Sequence[FindingFacts], known: set[str], why: list[str]
) -> float:
    n = len(findings)
    if not n:
        why.append("uniqueness 0: no finding, nothing new to credit (line shapes alone are not)")
        return 0.0
    t_new = (len(log.templates - known) / len(log.templates)) if log.templates else 1.0
    f_new = sum(f.fingerprint not in known for f in findings) / n
    uniq = 100 * (0.7 * f_new + 0.3 * t_new)
    why.append(
        f"uniqueness {uniq:.0f}: {f_new:.0%} of findings and {t_new:.0%} of {len(log.templates)} templates are new"
    )
    return uniq


def value_score(overall: float, findings: Sequence[FindingFacts]) -> float:
    """The valueScore of a log of this overall quality counting only ``findings``."""
    return _value(overall, findings, [])


def _weight(f: FindingFacts) -> float:
    """A finding's severity points, scaled by its grounding (evidence, a real location)."""
    grounding = 0.6 + 0.2 * f.has_evidence + 0.2 * f.has_location
    return _SEV_POINTS[f.severity] * grounding * (0.5 if f.kind == "improvement" else 1.0)


def failures(findings: Sequence[FindingFacts]) -> list[list[FindingFacts]]:
    """The findings grouped into independent failures: two findings that cover a common log
    line or share a real location report one failure (connected groups merge)."""
    groups: list[tuple[set[int], set[str], list[FindingFacts]]] = []
    for f in findings:
        places = {f.location} if f.location else set()
        hit = [g for g in groups if g[0] & f.lines or g[1] & places]
        merged: tuple[set[int], set[str], list[FindingFacts]] = (set(f.lines), places, [f])
        for g in hit:
            merged[0].update(g[0])
            merged[1].update(g[1])
            merged[2][:0] = g[2]
            groups.remove(g)
        groups.append(merged)
    return [g[2] for g in groups]


def _value(overall: float, findings: Sequence[FindingFacts], why: list[str]) -> float:
    """valueScore (clamped): half the overall quality, half the most severe failure's impact."""
    if not findings:
        value = _clamp(0.2 * overall)
        why.append(f"valueScore {value:.1f}: no finding, 20% of overall")
        return value
    weights = sorted((max(_weight(f) for f in g) for g in failures(findings)), reverse=True)
    further = min(_FURTHER_CAP, _FURTHER_SHARE * sum(weights[1:]))
    impact = min(100.0, weights[0] + further)
    value = _clamp(0.5 * overall + 0.5 * impact)
    why.append(
        f"valueScore {value:.1f}: 50% overall + 50% impact {impact:.0f} (the most severe of "
        f"{len(weights)} independent failure(s) {weights[0]:.0f}, further ones +{further:.0f})"
    )
    return value


def _speed(findings: Sequence[FindingFacts]) -> PotentialMetric:
    slow = [f for f in findings if f.excess_ms > 0]
    now = sum((f.actual or 0.0) * f.count for f in slow) / 1000
    then = sum((f.threshold or 0.0) * f.count for f in slow) / 1000
    if not slow:
        return PotentialMetric(current=0.0, potential=0.0, improvement="no slow operation measured")
    pct = (now - then) / now * 100 if now else 0.0
    return PotentialMetric(
        current=round(now, 3), potential=round(then, 3),
        improvement=f"{pct:.0f}% less time in {len(slow)} slow operation(s): "
        f"{now:g} s measured, {then:g} s at their thresholds",
    )  # fmt: skip


def _code_quality(findings: Sequence[FindingFacts]) -> PotentialMetric:
    cov = next(
        (f for f in findings if "coverage" in (f.metric or "") and f.actual is not None), None
    )
    if cov is not None:
        now, target = cov.actual or 0.0, max(cov.actual or 0.0, cov.threshold or 0.0)
        return PotentialMetric(
            current=now, potential=target,
            improvement=f"+{target - now:g} points of line coverage ({now:g}% measured, {target:g}% minimum)",
        )  # fmt: skip
    issues = [f for f in findings if f.kind == "improvement"]
    if not issues:
        return PotentialMetric(current=0.0, potential=0.0, improvement="no quality issue counted")
    now_n = float(sum(f.count for f in issues))
    left = float(sum(f.count for f in issues if not f.has_location))
    return PotentialMetric(
        current=now_n, potential=left,
        improvement=f"{now_n - left:g} of {now_n:g} quality issue(s) located, fixable from this log",
    )  # fmt: skip


def _errors(findings: Sequence[FindingFacts]) -> PotentialMetric:
    errors = [f for f in findings if f.kind == "error"]
    if not errors:
        return PotentialMetric(current=0.0, potential=0.0, improvement="no error counted")
    now = float(sum(f.count for f in errors))
    left = float(sum(f.count for f in errors if not f.actionable))
    pct = (now - left) / now * 100
    return PotentialMetric(current=now, potential=left, improvement=f"{pct:.0f}% fewer errors")


def _potential(
    findings: Sequence[FindingFacts], rates: RoiRates, why: list[str]
) -> ImprovementPotential:
    speed, quality, errs = _speed(findings), _code_quality(findings), _errors(findings)
    excess_h = Decimal(repr(sum(f.excess_ms for f in findings))) / _MS_PER_HOUR
    fixable = sum(
        1 for g in failures(findings) if any(f.kind == "error" and f.actionable for f in g)
    )
    hours = excess_h + rates.triage_hours_per_failure * fixable
    roi = float(round(hours * rates.engineer_hour_usd, 2))
    why.append(
        f"improvementPotential: speed {speed.current:g}->{speed.potential:g} s measured, "
        f"code quality {quality.current:g}->{quality.potential:g}, errors {errs.current:g}->{errs.potential:g}; "
        f"ROI ({float(excess_h):.3g} h measured excess + {fixable} actionable failure(s) x "
        f"{rates.triage_hours_per_failure:g} h) x ${rates.engineer_hour_usd:g}/h = ${roi:,.2f}"
    )
    return ImprovementPotential(
        development_speed=speed,
        code_quality=quality,
        error_reduction=errs,
        estimated_roi=roi,
    )
