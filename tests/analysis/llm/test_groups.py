"""From insights to finding groups and back, through a real enricher and the fake server."""

from __future__ import annotations

import pytest
from logmarketd.analysis.llm import (
    LLMConfig,
    apply_to_insights,
    build_enricher,
    groups_from_insights,
)
from logmarketd.ingest.redact import Redactor
from logmarketd.models import (
    AIInsights,
    ErrorPattern,
    Evidence,
    ImprovementOpportunity,
    SecurityConcern,
)

from tests.fakes.llm_server import FakeLLMServer


def insights() -> AIInsights:
    return AIInsights(
        error_patterns=[
            ErrorPattern(
                pattern="timeout",
                location="a.py:1",
                severity="medium",
                impact="slow",
                fingerprint="fp-err",
                evidence=[
                    Evidence(line=5, text="ERROR timeout"),
                    Evidence(line=2, text="ERROR timeout"),
                ],
            ),
            ErrorPattern(
                pattern="timeout again",
                location="a.py:1",
                severity="high",
                impact="slow",
                fingerprint="fp-err",
                evidence=[
                    Evidence(line=5, text="ERROR timeout"),
                    Evidence(line=9, text="ERROR timeout"),
                ],
            ),
            ErrorPattern(pattern="no fp", location="b.py", severity="low", impact="x"),
        ],
        security_concerns=[
            SecurityConcern(
                threat="brute force",
                severity="high",
                description="d",
                mitigation="m",
                fingerprint="fp-sec",
                evidence=[Evidence(line=3, text="auth failed")],
            )
        ],
        improvement_opportunities=[
            ImprovementOpportunity(
                area="logging",
                suggestion="s",
                effort="low",
                impact="low",
                fingerprint="fp-imp",
                evidence=[Evidence(line=1, text="print")],
            )
        ],
    )


def test_findings_group_by_kind_and_fingerprint() -> None:
    """Same-fingerprint findings form one group with merged, ordered evidence and the worst severity."""
    groups = groups_from_insights(insights())
    by_fp = {g.fingerprint: g for g in groups}
    assert set(by_fp) == {
        "fp-err",
        "fp-sec",
        "fp-imp",
    }  # the finding without a fingerprint is left out
    err = by_fp["fp-err"]
    assert err.kind == "error" and len(err.findings) == 2
    assert [e.line for e in err.evidence] == [2, 5, 9]
    assert err.severity == "high" and err.severity_max == "high"  # default: no raising
    assert by_fp["fp-imp"].severity is None


def test_severity_cap_comes_from_the_rules() -> None:
    """The caller's cap function sets each group's maximum."""
    groups = groups_from_insights(
        insights(), severity_max=lambda kind, sev: "critical" if kind == "security" else sev
    )
    assert {g.fingerprint: g.severity_max for g in groups}["fp-sec"] == "critical"


async def test_enrichments_land_on_the_right_findings(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every group is asked once; text lands on error findings, nothing else in the insights moves."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    source = insights()
    groups = groups_from_insights(source)
    e = build_enricher(
        LLMConfig(provider="openai", base_url=server.openai_base_url, max_retries=0),
        redactor=Redactor(b"groups-test-key-0123456789abcdef"),
    )
    enrichments = await e.enrich(groups)
    await e.close()
    assert len(server.requests) == 3
    out = apply_to_insights(source, groups, enrichments)
    first, second, plain = out.error_patterns
    assert first.root_cause and second.root_cause and plain.root_cause is None
    assert source.error_patterns[0].root_cause is None  # the input is not modified
    # Every finding type carries the model's text; nothing else of the finding changes.
    changed = {"severity", "root_cause", "suggested_fix"}
    assert out.security_concerns[0].root_cause and out.security_concerns[0].suggested_fix
    assert out.security_concerns[0].model_dump(exclude=changed) == source.security_concerns[
        0
    ].model_dump(exclude=changed)
    assert out.improvement_opportunities[0].root_cause
    assert out.improvement_opportunities[0].model_dump(
        exclude=changed
    ) == source.improvement_opportunities[0].model_dump(exclude=changed)
