"""Scores are pure, deterministic, explained, and move the way the heuristic says."""

from __future__ import annotations

from decimal import Decimal

from logmarketd.analysis.scoring import FindingFacts, LogFacts, RoiRates, score, value_score
from logmarketd.settings import Settings

LOG = LogFacts(lines=100, signal_lines=10, warn_error_lines=5, timestamp_share=1.0, level_share=1.0,
               templates=frozenset({"t1", "t2", "t3", "t4"}))  # fmt: skip
AUTO_PAY = Settings().auto_pay_threshold


def _f(
    fp: str,
    severity: str = "high",
    kind: str = "error",
    located: bool = True,
    fix: bool = True,
    *,
    lines: frozenset[int] | None = None,
    evidence: bool = True,
    **extra: object,
) -> FindingFacts:
    """A finding with everything specific (location, cause and fix from the log) unless told."""
    return FindingFacts(
        fingerprint=fp, kind=kind, severity=severity, has_location=located, has_fix=fix,
        specific_fix=fix, has_root_cause=True, specific_cause=True, has_evidence=evidence,
        location=f"src/{fp}.py:1" if located else "",
        lines=lines if lines is not None else frozenset({hash(fp) % 1000}), **extra,  # type: ignore[arg-type]
    )  # fmt: skip


def test_same_input_same_scores() -> None:
    """Scoring is a pure function: equal inputs give equal reports."""
    a = score(LOG, [_f("a"), _f("b", "critical", "security")])
    b = score(LOG, [_f("a"), _f("b", "critical", "security")])
    assert a == b


def test_overall_is_the_mean_and_explained() -> None:
    """overall is the mean of the four scores, and every score has a line of explanation."""
    r = score(LOG, [_f("a")])
    q = r.quality
    assert q.overall == round(
        (q.completeness + q.relevance + q.actionability + q.uniqueness) / 4, 1
    )
    for word in (
        "completeness",
        "relevance",
        "actionability",
        "uniqueness",
        "overall",
        "valueScore",
        "improvementPotential",
    ):
        assert any(line.startswith(word) for line in r.explanation), word


def test_no_findings_is_low_value() -> None:
    """A log without findings gets low relevance, no actionability and a low valueScore."""
    r = score(
        LogFacts(lines=500, signal_lines=0, warn_error_lines=0, timestamp_share=1, level_share=1),
        [],
    )
    assert r.quality.relevance == 0 and r.quality.actionability == 0 and r.value_score < 15


def test_a_log_without_findings_gets_no_uniqueness_credit() -> None:
    """New line shapes alone are not new knowledge: a heartbeat log's uniqueness is 0, not 100."""
    heartbeat = LogFacts(lines=50, signal_lines=0, warn_error_lines=0, timestamp_share=1,
                         level_share=1, templates=frozenset({"beat"}))  # fmt: skip
    r = score(heartbeat, [])
    assert r.quality.uniqueness == 0
    assert r.value_score < 15


def test_known_fingerprints_lower_uniqueness() -> None:
    """Findings and templates already reported are not unique; with none known everything is new."""
    new = score(LOG, [_f("a"), _f("b")])
    seen = score(LOG, [_f("a"), _f("b")], known={"a", "b", "t1", "t2", "t3", "t4"})
    half = score(LOG, [_f("a"), _f("b")], known={"a"})
    assert new.quality.uniqueness == 100
    assert seen.quality.uniqueness == 0
    assert 0 < half.quality.uniqueness < 100


def test_unlocated_findings_are_less_actionable() -> None:
    """Findings without location or fix lower actionability and the potential error reduction."""
    good = score(LOG, [_f("a")])
    bad = score(LOG, [_f("a", located=False, fix=False)])
    assert good.quality.actionability == 100 and bad.quality.actionability == 0
    assert good.improvement_potential.error_reduction.potential == 0
    assert bad.improvement_potential.error_reduction.potential == 1


def test_a_stock_fix_or_cause_earns_no_credit() -> None:
    """A fix or root cause the rule writes for every log (it names nothing of this log) is not
    what makes a finding complete or actionable: only a specific one counts."""
    specific = score(LOG, [_f("a")])
    stock = score(LOG, [FindingFacts(
        fingerprint="a", kind="error", severity="high", has_location=True, location="src/a.py:1",
        has_fix=True, specific_fix=False, has_root_cause=True, specific_cause=False,
        has_evidence=True, lines=frozenset({1}))])  # fmt: skip
    assert specific.quality.actionability == 100 and stock.quality.actionability == 50
    assert specific.quality.completeness == 100 and stock.quality.completeness == 70
    assert stock.value_score < specific.value_score
    # a stock fix is no fix: the error stays in the potential
    assert stock.improvement_potential.error_reduction.potential == 1


def test_severity_drives_value() -> None:
    """A critical security finding is worth more than a low quality one."""
    hi = score(LOG, [_f("a", "critical", "security")])
    lo = score(LOG, [_f("a", "low", "improvement")])
    assert hi.value_score > lo.value_score


def test_one_critical_finding_is_auto_payable_a_low_one_is_not() -> None:
    """The most severe finding sets the value: one well-evidenced critical finding clears
    AUTO_PAY_THRESHOLD; one low finding, however complete, does not."""
    assert score(LOG, [_f("a", "critical")]).value_score > AUTO_PAY
    assert score(LOG, [_f("a", "low")]).value_score <= AUTO_PAY
    assert score(LOG, [_f("a", "low", "security")]).value_score <= AUTO_PAY


def test_one_failure_reported_three_ways_counts_once() -> None:
    """Findings that share a log line (or a location) are one failure: reporting it three
    ways is worth what its most severe report is worth, and less than one critical finding."""
    outage = [_f("health", "high", lines=frozenset({7})),
              _f("slow", "high", "performance", lines=frozenset({7})),
              _f("timeout", "medium", "performance", lines=frozenset({7, 8}))]  # fmt: skip
    once = score(LOG, outage[:1]).quality.overall
    assert value_score(once, outage) == value_score(once, outage[:1])
    panic = score(LOG, [_f("panic", "critical")])
    assert panic.value_score > score(LOG, outage).value_score


def test_further_independent_findings_add_a_bounded_increment() -> None:
    """Distinct failures add a little; many of them cannot make up for severity."""
    one = value_score(100, [_f("a", "high")])
    two = value_score(100, [_f("a", "high"), _f("b", "high")])
    many = value_score(100, [_f(f"x{i}", "high") for i in range(50)])
    assert one < two <= many <= one + 5
    assert many < value_score(100, [_f("c", "critical")])


def test_evidence_and_location_weigh_in_value() -> None:
    """A finding without evidence lines or a real location is worth less than a grounded one."""
    grounded = value_score(90, [_f("a", "critical")])
    bare = value_score(90, [_f("a", "critical", located=False, evidence=False)])
    assert bare < grounded


def test_potential_comes_from_measured_durations() -> None:
    """developmentSpeed is the measured time of the slow operations against their thresholds,
    and the ROI values the measured excess at the configured engineer rate."""
    slow = _f("slow", "high", "performance", count=2, metric="http duration max (ms)",
              actual=30_000.0, threshold=5_000.0)  # fmt: skip
    rates = RoiRates(engineer_hour_usd=Decimal("120"), triage_hours_per_failure=Decimal("0"))
    p = score(LOG, [slow], rates=rates).improvement_potential
    assert p.development_speed.current == 60.0  # seconds measured: 2 x 30 s
    assert p.development_speed.potential == 10.0  # at the threshold: 2 x 5 s
    assert p.development_speed.improvement.startswith("83% less time")
    # 2 x 25 s over the threshold = 50 s at $120 an hour
    assert p.estimated_roi == float(round(Decimal(50) / 3600 * 120, 2))
    doubled = RoiRates(engineer_hour_usd=Decimal("240"), triage_hours_per_failure=Decimal("0"))
    assert score(LOG, [slow], rates=doubled).improvement_potential.estimated_roi == float(
        round(Decimal(50) / 3600 * 240, 2)
    )


def test_potential_without_measurements_claims_no_speed_up() -> None:
    """A log with no measured duration claims no faster runs; an actionable failure is worth
    the configured triage hours, and an unactionable one nothing."""
    rates = RoiRates(engineer_hour_usd=Decimal("100"), triage_hours_per_failure=Decimal("0.5"))
    located = score(LOG, [_f("a", "critical")], rates=rates).improvement_potential
    assert located.development_speed.current == located.development_speed.potential == 0
    assert located.estimated_roi == 50.0
    vague = score(LOG, [_f("a", "critical", located=False, fix=False)], rates=rates)
    assert vague.improvement_potential.estimated_roi == 0


def test_potential_from_a_measured_coverage_gap() -> None:
    """A coverage figure measured in the log is codeQuality's current value; the configured
    minimum its potential."""
    cov = _f("cov", "medium", "improvement", metric="line coverage (%)", actual=62.0,
             threshold=80.0)  # fmt: skip
    p = score(LOG, [cov]).improvement_potential
    assert (p.code_quality.current, p.code_quality.potential) == (62.0, 80.0)
    assert "coverage" in p.code_quality.improvement


def test_improvement_potential_shape() -> None:
    """The seed's shape: current/potential/improvement per metric and an ROI in dollars."""
    r = score(LOG, [_f("a", "high", "performance"), _f("b", "medium", "improvement")])
    p = r.improvement_potential
    assert p.code_quality.potential <= p.code_quality.current  # issues left after the fixes
    dumped = p.model_dump(by_alias=True)
    assert set(dumped) == {"developmentSpeed", "codeQuality", "errorReduction", "estimatedROI"}


def test_roi_rates_default_to_the_settings() -> None:
    """The cost constants are settings, documented, and the scoring defaults are theirs."""
    s = Settings()
    assert RoiRates() == RoiRates.from_settings(s)
    for name in ("engineer_hour_usd", "triage_hours_per_failure"):
        assert Settings.model_fields[name].description
