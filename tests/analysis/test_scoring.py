"""Scores are pure, deterministic, explained, and move the way the heuristic says."""

from __future__ import annotations

from logmarketd.analysis.scoring import FindingFacts, LogFacts, score

LOG = LogFacts(lines=100, signal_lines=10, warn_error_lines=5, timestamp_share=1.0, level_share=1.0,
               templates=frozenset({"t1", "t2", "t3", "t4"}))  # fmt: skip


def _f(
    fp: str, severity: str = "high", kind: str = "error", located: bool = True, fix: bool = True
) -> FindingFacts:
    return FindingFacts(
        fingerprint=fp, kind=kind, severity=severity, has_location=located, has_fix=fix,
        has_root_cause=True, has_evidence=True,
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


def test_severity_drives_value() -> None:
    """A critical security finding is worth more than a low quality one."""
    hi = score(LOG, [_f("a", "critical", "security")])
    lo = score(LOG, [_f("a", "low", "improvement")])
    assert hi.value_score > lo.value_score


def test_improvement_potential_shape() -> None:
    """The seed's shape: current/potential/improvement per metric and an ROI in dollars."""
    r = score(LOG, [_f("a", "high", "performance"), _f("b", "medium", "improvement")])
    p = r.improvement_potential
    assert p.development_speed.current == 100 and p.development_speed.potential == 112
    assert p.code_quality.potential >= p.code_quality.current
    assert p.estimated_roi == (4 + 2 * 0.5) * 150  # improvement opportunities count half
    dumped = p.model_dump(by_alias=True)
    assert set(dumped) == {"developmentSpeed", "codeQuality", "errorReduction", "estimatedROI"}
