"""Findings to the seed's insight models. Every text that came from the log (titles, causes,
evidence lines) goes through one function, ``clean``: the finding's own secrets are masked,
then the daemon's redaction (``logmarketd.ingest.redact.redact``, when that module is installed) runs,
then the text is cut to a bounded length.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from functools import cache

from logmarketd.analysis.agents.base import Context, Finding
from logmarketd.analysis.agents.places import place
from logmarketd.analysis.agents.secrets import mask_secret
from logmarketd.models import (
    AIInsights,
    ErrorPattern,
    Evidence,
    ImprovementOpportunity,
    PerformanceIssue,
    SecurityConcern,
)

__all__ = ["default_redactor", "to_insights"]

_MAX_TEXT = 500
_MAX_EVIDENCE = 5


@cache
def default_redactor() -> Callable[[str], str]:
    """``logmarketd.ingest.redact.redact`` if present, else the identity."""
    try:
        from logmarketd.ingest.redact import redact  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return lambda text: text
    return redact  # type: ignore[no-any-return,unused-ignore]


def _cleaner(secrets: list[str], redact: Callable[[str], str]) -> Callable[[str | None], str]:

    def clean(text: str | None) -> str:
        text = text or ""
        for s in secrets:
            if s in text:
                text = text.replace(s, mask_secret(s))
        text = redact(text)
        return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"

    return clean


def _evidence(f: Finding, ctx: Context, clean: Callable[[str | None], str]) -> list[Evidence]:
    picked: list[int] = []
    for n in f.evidence_lines or f.lines:
        if 0 <= n < len(ctx.lines) and n not in picked and ctx.lines[n].strip():
            picked.append(n)
        if len(picked) >= _MAX_EVIDENCE:
            break
    return [Evidence(line=n + 1, text=clean(ctx.lines[n])) for n in sorted(picked)]


def to_insights(
    findings: list[Finding],
    ctx: Context,
    redact: Callable[[str], str] | None = None,
    secrets: Collection[str] = (),
) -> AIInsights:
    """The seed's ``aiInsights`` object for these findings (most severe first in each list).

    Every secret any finding found, plus ``secrets``, is masked in every published text: an
    evidence line of one finding may hold another finding's secret.
    """
    red = redact or default_redactor()
    values = {s for f in findings for s in f.secrets} | set(secrets)
    clean = _cleaner(sorted(values, key=len, reverse=True), red)
    rank = {"critical": 0, "high": 1, "medium": 2, "low": 3}
    out = AIInsights()
    for f in sorted(findings, key=lambda f: (rank[f.severity], min(f.lines or [0]))):
        common = {
            "agent_id": f.agent_id,
            "fingerprint": f.fingerprint,
            "evidence": _evidence(f, ctx, clean),
            "count": max(1, f.count),
        }
        where = place(f.location)  # a word guessed from the line is no location
        loc = clean(where) if where else None
        if f.kind == "error":
            out.error_patterns.append(
                ErrorPattern(
                    pattern=clean(f.title), location=loc or "unknown", severity=f.severity,
                    impact=clean(f.detail), root_cause=clean(f.root_cause) if f.root_cause else None,
                    suggested_fix=clean(f.fix) if f.fix else None, **common,
                )
            )  # fmt: skip
        elif f.kind == "performance":
            out.performance_issues.append(
                PerformanceIssue(
                    issue=clean(f.title), metric=f.metric or "duration (ms)", threshold=f.threshold or 0.0,
                    actual=f.actual or 0.0, optimization=clean(f.fix), estimated_improvement=f.estimate or "",
                    location=loc, severity=f.severity, **common,
                )
            )  # fmt: skip
        elif f.kind == "security":
            out.security_concerns.append(
                SecurityConcern(
                    threat=clean(f.title), severity=f.severity, description=clean(f.detail),
                    mitigation=clean(f.fix), location=loc, **common,
                )
            )  # fmt: skip
        else:
            out.improvement_opportunities.append(
                ImprovementOpportunity(
                    area=clean(f.title), suggestion=clean(f.fix or f.detail), effort=f.effort, impact=f.impact,
                    location=loc, **common,
                )
            )  # fmt: skip
    return out
