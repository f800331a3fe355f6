"""What the enrichment stage takes and gives back, and the answer schema a model must meet.

Input: one :class:`FindingGroup` per new template group (a template fingerprint, the rule
findings, the evidence lines with their line numbers, the severity range the rules permit).
Output: one :class:`Enrichment` per group: text (root cause, suggested fix), a severity moved at
most one step and never outside the rules' range, the cited lines, and where it came from
(``llm``, ``cache`` or ``rules``). Nothing here can carry a score, a value or a price.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from logmarketd.models import (
    ErrorPattern,
    Evidence,
    ImprovementOpportunity,
    PerformanceIssue,
    SecurityConcern,
    Severity,
)

__all__ = [
    "SEVERITIES",
    "Enrichment",
    "Finding",
    "FindingGroup",
    "FindingKind",
    "ModelAnswer",
    "Source",
    "allowed_severities",
    "apply_enrichment",
    "clamp_severity",
]

SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high", "critical")
_RANK = {s: i for i, s in enumerate(SEVERITIES)}

Finding = ErrorPattern | PerformanceIssue | SecurityConcern | ImprovementOpportunity
FindingKind = Literal["error", "performance", "security", "improvement"]
Source = Literal["llm", "cache", "rules"]


class FindingGroup(BaseModel):
    """The rule findings of one template group, with the evidence a model may look at.

    ``severity`` is the rule engine's; ``severity_min``/``severity_max`` bound what a model
    may move it to (the rules' range). Without a maximum a model cannot raise the severity;
    without a minimum it may lower it one step. Evidence text should already be redacted (it is
    redacted again before a prompt is built).
    """

    model_config = ConfigDict(extra="forbid")

    fingerprint: str = Field(min_length=1, max_length=200)
    kind: FindingKind
    findings: list[Finding] = Field(min_length=1)
    evidence: list[Evidence] = Field(min_length=1)
    severity: Severity | None = None
    severity_min: Severity | None = None
    severity_max: Severity | None = None

    @model_validator(mode="after")
    def _range(self) -> FindingGroup:
        lo, hi = self.severity_min, self.severity_max
        if lo is not None and hi is not None and _RANK[lo] > _RANK[hi]:
            raise ValueError(f"severity_min {lo} is above severity_max {hi}")
        if len({e.line for e in self.evidence}) != len(self.evidence):
            raise ValueError("evidence line numbers must be unique")
        return self


def allowed_severities(group: FindingGroup) -> tuple[Severity, ...]:
    """Severities a model may choose for ``group``: one step around the rules', within range."""
    if group.severity is None:
        return ()
    rank = _RANK[group.severity]
    lo = max(rank - 1, _RANK[group.severity_min] if group.severity_min else rank - 1)
    hi = min(rank + 1, _RANK[group.severity_max] if group.severity_max else rank)
    # The rules' own severity always stays allowed, even if a range was given that excludes it.
    lo, hi = min(lo, rank), max(hi, rank)
    return SEVERITIES[max(lo, 0) : hi + 1]


def clamp_severity(group: FindingGroup, proposed: Severity | None) -> Severity | None:
    """The severity to keep: ``proposed`` pulled into :func:`allowed_severities`."""
    allowed = allowed_severities(group)
    if group.severity is None or proposed is None or not allowed:
        return group.severity
    rank = _RANK[proposed]
    rank = max(_RANK[allowed[0]], min(rank, _RANK[allowed[-1]]))
    return SEVERITIES[rank]


class ModelAnswer(BaseModel):
    """The JSON object a model must return; any other field is refused (no score, no price)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    root_cause: str = Field(min_length=1, max_length=2000)
    suggested_fix: str = Field(min_length=1, max_length=2000)
    severity: Severity | None = None
    evidence_lines: list[int] = Field(min_length=1, max_length=50)


class Enrichment(BaseModel):
    """The enrichment of one group. ``source='rules'`` means nothing was added.

    ``fallback`` names why the rules were used when a model was configured (``breaker-open``,
    ``budget``, ``timeout``, ``server-error``, ``invalid-answer``, ...).
    """

    model_config = ConfigDict(extra="forbid")

    fingerprint: str
    source: Source
    provider: str
    model: str | None = None
    root_cause: str | None = None
    suggested_fix: str | None = None
    severity: Severity | None = None
    cited_lines: list[int] = Field(default_factory=list)
    fallback: str | None = None
    tokens: int = 0


def apply_enrichment(group: FindingGroup, enrichment: Enrichment) -> list[Finding]:
    """Copies of the group's findings with the enrichment applied.

    Text goes into ``root_cause`` / ``suggested_fix`` where the finding type has those fields:
    in place of the rules' (a stock sentence per rule) when the answer is grounded — it cites
    lines of the log it was shown (checked when it was parsed) — else only where the rules
    left them empty. The severity (already clamped) goes where there is one.
    """
    grounded = enrichment.source != "rules" and bool(enrichment.cited_lines)
    out: list[Finding] = []
    for finding in group.findings:
        update: dict[str, object] = {}
        fields = type(finding).model_fields
        for name in ("root_cause", "suggested_fix"):
            text = getattr(enrichment, name)
            if name in fields and text and (grounded or getattr(finding, name) is None):
                update[name] = text
        if "severity" in fields and enrichment.severity is not None:
            update["severity"] = clamp_severity(group, enrichment.severity)
        out.append(finding.model_copy(update=update))
    return out
