"""One log in, one ``LogAnalysis`` out: run the enabled agents that monitor the log's source,
publish their findings (redacted), score. Pricing is a later stage: ``paymentAmount`` is 0 and
``paid`` is false here.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from logmarketd.analysis.agents import AgentConfig, Context, Finding, agents_for, run_agents
from logmarketd.analysis.agents.publish import to_insights
from logmarketd.analysis.agents.registry import enabled_agents
from logmarketd.analysis.agents.secrets import leaked_secrets
from logmarketd.analysis.scoring import FindingFacts, LogFacts, ScoreReport, score
from logmarketd.errors import LogmarketdError
from logmarketd.models import SOURCES, LogAnalysis
from logmarketd.settings import Settings
from logmarketd.transform.mining.masking import shape

__all__ = [
    "AnalysisReport",
    "InvalidSourceError",
    "analyze_log",
    "analyze_log_report",
    "config_from_settings",
    "enabled_agents",
    "template_fingerprints",
]


class InvalidSourceError(LogmarketdError, ValueError):
    """The log's source is not one of build, test, deploy, runtime."""


@dataclass
class AnalysisReport:
    """The analysis, why it scored as it did, and the raw findings (with every covered line)."""

    analysis: LogAnalysis
    explanation: list[str]
    findings: list[Finding]
    context: Context


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_TS = re.compile(r"\d{2}:\d{2}:\d{2}|\b\d{10}(?:\.\d+)?\b|\d{4}-\d{2}-\d{2}")
_LVL = re.compile(
    r"\b(?:DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|FATAL|CRITICAL|SEVERE|TRACE)\b|\blevel="
)
_SAMPLE = 500  # structure shares (timestamps, levels) are estimated on this many lines
_TEMPLATE_SAMPLE = 2000  # line shapes taken for the uniqueness score


def config_from_settings(settings: Settings | None) -> AgentConfig:
    """Rule-engine thresholds and allowlists from the settings, where the settings define them.

    Read by name (``agents_<field>``, e.g. ``agents_allow_addresses``) so that a deployment can
    tune them without code; fields the settings lack keep ``AgentConfig``'s defaults.
    """
    base = AgentConfig()
    if settings is None:
        return base
    values: dict[str, Any] = {}
    for name in base.__dataclass_fields__:
        value = getattr(settings, f"agents_{name}", None)
        if value is not None:
            values[name] = frozenset(value) if name.startswith("allow_") else value
    return replace(base, **values)


def template_fingerprints(lines: list[str]) -> frozenset[str]:
    """Stable ids of the log's line shapes (``shape``: every digit read as 0), for the
    uniqueness score."""
    # on a sample, since a shape count beyond this changes no score; one shape of the
    # joined sample is several times cheaper than one per line
    joined = "\n".join(line for line in lines[:_TEMPLATE_SAMPLE] if line.strip())
    shapes = set(shape(joined).split("\n")) - {""}
    return frozenset(hashlib.blake2b(s.encode(), digest_size=8).hexdigest() for s in shapes)


def _log_facts(ctx: Context, findings: list[Finding]) -> LogFacts:
    lines = [line for line in ctx.lines if line.strip()]
    sample = lines[:_SAMPLE]
    k = len(sample) or 1
    covered: set[int] = set()
    for f in findings:
        covered.update(f.lines)
    return LogFacts(
        lines=len(lines),
        signal_lines=len(covered),
        # case-folded scans the level detector made already (cached): no pass of our own
        warn_error_lines=len(ctx.lines_with_ci("warn", "err", "fatal", "crit", "severe")),
        timestamp_share=sum(1 for s in sample if _TS.search(s[:40])) / k,
        level_share=sum(1 for s in sample if _LVL.search(s[:80])) / k,
        templates=template_fingerprints(lines),
    )


def _facts(f: Finding) -> FindingFacts:
    return FindingFacts(
        fingerprint=f.fingerprint,
        kind=f.kind,
        severity=f.severity,
        count=f.count,
        has_location=bool(f.location),
        has_fix=bool(f.fix),
        has_root_cause=bool(f.root_cause) or f.kind != "error",
        has_evidence=bool(f.evidence_lines or f.lines),
        blocks_build=f.kind == "error" and (f.key.startswith(("build:", "test:"))),
    )


def analyze_log_report(
    text: str,
    source: str,
    sub_pkp_id: str | None = None,
    *,
    settings: Settings | None = None,
    config: AgentConfig | None = None,
    known_fingerprints: Collection[str] = frozenset(),
    redact: Callable[[str], str] | None = None,
    analysis_id: str | None = None,
    now: datetime | None = None,
) -> AnalysisReport:
    """Analyse one log; see ``analyze_log``. Also returns the explanation and raw findings."""
    if source not in SOURCES:
        raise InvalidSourceError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    enabled = enabled_agents(settings)
    ctx, findings = run_agents(text, source, enabled, config or config_from_settings(settings))
    extra: list[str] = []
    if not any(leaked_secrets in a.detectors for a in agents_for(source, enabled)):
        # the secret scan still runs, so that no evidence line shows a secret unmasked
        extra = [s for f in leaked_secrets(ctx) for s in f.secrets]
    insights = to_insights(findings, ctx, redact, extra)
    # log content addressing an AI is reported, but it must never move a score or a price
    scored = [f for f in findings if f.key != "ai-instruction"]
    facts = _log_facts(ctx, scored)
    report: ScoreReport = score(facts, [_facts(f) for f in scored], known_fingerprints)
    ran = ", ".join(a.name for a in agents_for(source, enabled)) or "none"
    explanation = [f"agents run for source '{source}': {ran}", *report.explanation]
    analysis = LogAnalysis(
        id=analysis_id or f"la_{uuid.uuid4().hex}",
        source=source,
        timestamp=now or datetime.now(UTC),
        sub_pkp_id=sub_pkp_id,
        ai_insights=insights,
        quality=report.quality,
        value_score=report.value_score,
        payment_amount=Decimal("0"),
        improvement_potential=report.improvement_potential,
        paid=False,
    )
    return AnalysisReport(
        analysis=analysis, explanation=explanation, findings=findings, context=ctx
    )


def analyze_log(
    text: str,
    source: str,
    sub_pkp_id: str | None = None,
    *,
    settings: Settings | None = None,
    config: AgentConfig | None = None,
    known_fingerprints: Collection[str] = frozenset(),
    redact: Callable[[str], str] | None = None,
    analysis_id: str | None = None,
    now: datetime | None = None,
) -> LogAnalysis:
    """Analyse one log text from ``source`` (build, test, deploy, runtime) for ``sub_pkp_id``.

    Runs the agents that monitor the source and are enabled in ``settings`` (all when None),
    scores the result against ``known_fingerprints`` (finding and template fingerprints already
    reported; empty: everything is new) and returns the seed's ``LogAnalysis`` with
    ``payment_amount`` 0 and ``paid`` false. Evidence passes through ``redact`` (default:
    ``logmarketd.ingest.redact.redact`` when available). Raises ``InvalidSourceError`` for an unknown
    source.
    """
    return analyze_log_report(
        text, source, sub_pkp_id, settings=settings, config=config, known_fingerprints=known_fingerprints,
        redact=redact, analysis_id=analysis_id, now=now,
    ).analysis  # fmt: skip
