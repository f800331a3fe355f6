"""Analyse once: the agents run once per log, and the inspection is scored against any known
set of fingerprints without running them again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from logmarketd.analysis.agents.base import Agent, Context, Finding
from logmarketd.analysis.agents.registry import register, unregister
from logmarketd.analysis.analyse import analyze_log, insight_fingerprints, inspect_log
from logmarketd.models import AIInsights, ErrorPattern, ImprovementOpportunity
from logmarketd.samples import SAMPLES

NOW = datetime(2024, 5, 1, tzinfo=UTC)
LOG = dict((name, content) for name, _, content in SAMPLES)["runtime-traceback.log"]
runs: list[int] = []


def _counting(ctx: Context) -> list[Finding]:
    runs.append(len(ctx.lines))
    return []


@pytest.fixture
def counter() -> Iterator[list[int]]:
    register(Agent(id="run-counter", name="Run Counter", expertise="counts its runs",
                   insight_field="error_patterns", monitored_stages=("runtime",), setting=None,
                   detectors=(_counting,)))  # fmt: skip
    runs.clear()
    try:
        yield runs
    finally:
        unregister("run-counter")


def test_one_run_of_the_agents_scores_against_any_known_set(counter: list[int]) -> None:
    """Scored three ways, the log was analysed once; each score is what analyze_log gives."""
    inspection = inspect_log(LOG, "runtime", "sp", analysis_id="la_1", now=NOW)
    fps = inspection.fingerprints
    assert fps and counter == [len(inspection.context.lines)]
    for known in (frozenset(), fps, frozenset(sorted(fps)[:1])):
        scored = inspection.analysis(known)
        again = analyze_log(
            LOG, "runtime", "sp", known_fingerprints=known, analysis_id="la_1", now=NOW
        )
        assert scored == again
    assert len(counter) == 1 + 3  # the inspection, then one per analyze_log call
    fresh, old = inspection.analysis(), inspection.analysis(fps)
    assert old.quality.uniqueness < fresh.quality.uniqueness
    assert old.ai_insights == fresh.ai_insights


def test_fingerprints_are_those_of_every_published_finding() -> None:
    """The inspection's fingerprints are the published findings' own, one per finding."""
    inspection = inspect_log(LOG, "runtime")
    ins = inspection.analysis().ai_insights
    published = [
        f.fingerprint
        for group in (ins.error_patterns, ins.performance_issues, ins.security_concerns,
                      ins.improvement_opportunities)
        for f in group
    ]  # fmt: skip
    assert published and inspection.fingerprints == frozenset(published)
    assert insight_fingerprints(ins) == inspection.fingerprints


def test_a_finding_without_fingerprint_gets_a_stable_one_from_its_content() -> None:
    """Insights from elsewhere (no fingerprint): a hash of kind and content, evidence and
    count left out."""
    a = ErrorPattern(pattern="boom", location="a.py:1", severity="high", impact="x")
    b = ErrorPattern(pattern="bang", location="a.py:1", severity="high", impact="x")
    (fa,) = insight_fingerprints(AIInsights(error_patterns=[a]))
    assert len(fa) == 16 and int(fa, 16) >= 0
    assert insight_fingerprints(AIInsights(error_patterns=[a.model_copy(update={"count": 9})])) == {
        fa
    }
    assert insight_fingerprints(AIInsights(error_patterns=[b])) != {fa}
    tip = ImprovementOpportunity(area="boom", suggestion="x", effort="low", impact="low")
    assert len(insight_fingerprints(AIInsights(improvement_opportunities=[tip]))) == 1
