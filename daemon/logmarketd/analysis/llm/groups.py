"""From an analysis's insights to finding groups and back: the glue around :class:`Enricher`.

Findings that share a fingerprint (one template, one agent, one kind) form one group, so a
model is asked once per template group, not per finding or per line. After enrichment the
results are written back onto copies of the findings; nothing else in the insights changes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from logmarketd.analysis.agents.base import KIND_TO_FIELD
from logmarketd.analysis.llm.types import (
    Enrichment,
    Finding,
    FindingGroup,
    FindingKind,
    apply_enrichment,
)
from logmarketd.models import AIInsights, Evidence, ImprovementOpportunity, Severity

__all__ = ["apply_to_insights", "groups_from_insights"]

_KINDS: tuple[tuple[FindingKind, str], ...] = tuple(KIND_TO_FIELD.items())
_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}

# Given a finding kind and the rules' severity, the highest severity the rules would accept.
SeverityCap = Callable[[FindingKind, Severity | None], Severity | None]


def _no_raise(kind: FindingKind, severity: Severity | None) -> Severity | None:
    return severity


def _worst(severities: list[Severity]) -> Severity | None:
    worst: Severity | None = None
    for s in severities:
        if worst is None or _RANK[s] > _RANK[worst]:
            worst = s
    return worst


def groups_from_insights(
    insights: AIInsights,
    *,
    severity_max: SeverityCap = _no_raise,
    max_evidence: int = 20,
    skip: Collection[str] = (),
) -> list[FindingGroup]:
    """One group per (kind, fingerprint) among the rules' findings that have a fingerprint and
    evidence.

    ``severity_max`` gives the rules' upper bound for a group (default: the rules' own severity,
    i.e. a model may lower it one step but never raise it). Findings whose fingerprint is in
    ``skip`` are not asked about (the report of text addressed to an AI: its evidence is that
    text, which no model should read).
    """
    groups: list[FindingGroup] = []
    for kind, attr in _KINDS:
        by_fp: dict[str, list[Finding]] = {}
        for finding in getattr(insights, attr):
            # a model's own discovery carries its answer already: not asked again
            if (
                finding.fingerprint
                and finding.evidence
                and finding.found_by != "model"
                and finding.fingerprint not in skip
            ):
                by_fp.setdefault(finding.fingerprint, []).append(finding)
        for fingerprint, findings in by_fp.items():
            evidence: dict[int, Evidence] = {}
            for f in findings:
                for e in f.evidence:
                    evidence.setdefault(e.line, e)
            severities: list[Severity] = [
                f.severity
                for f in findings
                if not isinstance(f, ImprovementOpportunity) and f.severity is not None
            ]
            severity = _worst(severities)
            groups.append(
                FindingGroup(
                    fingerprint=fingerprint,
                    kind=kind,
                    findings=findings,
                    evidence=[evidence[n] for n in sorted(evidence)[:max_evidence]],
                    severity=severity,
                    severity_max=severity_max(kind, severity),
                )
            )
    return groups


def apply_to_insights(
    insights: AIInsights, groups: Sequence[FindingGroup], enrichments: Sequence[Enrichment]
) -> AIInsights:
    """A copy of ``insights`` with each group's enrichment applied to its findings."""
    replaced: dict[int, Finding] = {}
    for group, enrichment in zip(groups, enrichments, strict=True):
        if enrichment.source == "rules":
            continue
        for old, new in zip(group.findings, apply_enrichment(group, enrichment), strict=True):
            replaced[id(old)] = new
    update = {attr: [replaced.get(id(f), f) for f in getattr(insights, attr)] for _, attr in _KINDS}
    return insights.model_copy(update=update)
