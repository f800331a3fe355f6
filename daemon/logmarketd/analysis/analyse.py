"""One log in, one ``LogAnalysis`` out: run the enabled agents that monitor the log's source,
publish their findings (redacted), score. Pricing is a later stage: ``paymentAmount`` is 0 and
``paid`` is false here.

``inspect_log`` does the expensive part once (the agents); its ``Inspection`` is then scored
against the fingerprints already known (``Inspection.analysis(known)``), which is cheap.
``analyze_log`` is both in one call.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from itertools import islice
from typing import Any

from logmarketd.analysis.agents import AgentConfig, Context, Finding, agents_for, run_agents
from logmarketd.analysis.agents.base import KIND_TO_FIELD, declare_keywords
from logmarketd.analysis.agents.places import real_location
from logmarketd.analysis.agents.publish import to_insights
from logmarketd.analysis.agents.registry import enabled_agents
from logmarketd.analysis.agents.secrets import leaked_secrets
from logmarketd.analysis.scoring import FindingFacts, LogFacts, RoiRates, ScoreReport, score
from logmarketd.errors import LogmarketdError
from logmarketd.models import SOURCES, AIInsights, LogAnalysis, Source
from logmarketd.settings import Settings
from logmarketd.transform.mining.masking import shape

__all__ = [
    "AnalysisReport",
    "Inspection",
    "InvalidSourceError",
    "analyze_log",
    "config_from_settings",
    "enabled_agents",
    "insight_fingerprints",
    "inspect_log",
    "names_the_log",
    "real_location",
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


_WARN_ERR = ("warn", "err", "fatal", "crit", "severe")
declare_keywords(_WARN_ERR, folded=True)  # scanned after the agents: prefetched with theirs


def _log_facts(ctx: Context, findings: list[Finding], unscored: Collection[int] = ()) -> LogFacts:
    """What the log's own scores rest on; the shapes of lines in ``unscored`` (text
    addressed to an AI analyser) make nothing new."""
    skip = set(unscored)
    # blank lines: empty or whitespace only (str.isspace is re's \s), counted in C
    blank = ctx.lines.count("") + sum(map(str.isspace, ctx.lines))
    # the first non-blank lines: what the structure shares and the template sample read
    head = list(islice((line for line in ctx.lines if line.strip()), _TEMPLATE_SAMPLE))
    sample = head[:_SAMPLE]
    k = len(sample) or 1
    covered: set[int] = set()
    for f in findings:
        covered.update(f.lines)
    shaped = head
    if skip:
        kept = (line for n, line in enumerate(ctx.lines) if line.strip() and n not in skip)
        shaped = list(islice(kept, _TEMPLATE_SAMPLE))
    return LogFacts(
        lines=max(len(ctx.lines) - blank, 0),
        signal_lines=len(covered),
        # case-folded scans the level detector made already (cached): no pass of our own
        warn_error_lines=len(ctx.lines_with_ci(*_WARN_ERR)),
        timestamp_share=sum(1 for s in sample if _TS.search(s[:40])) / k,
        level_share=sum(1 for s in sample if _LVL.search(s[:80])) / k,
        templates=template_fingerprints(shaped),
    )


_QUOTES = "'\"`‘’“”"
_EDGES = _QUOTES + ",;:.!?()[]{}"
# a digit, path/code punctuation, camelCase, or a hyphenated name (a package, a host)
_IDENTIFIER = re.compile(r"[\d/_.:]|[a-z][A-Z]|\w-\w")


def names_the_log(text: str | None, lines: Sequence[str]) -> bool:
    """Whether ``text`` (a fix, a root cause) names something ``lines`` hold: a token of 3+
    characters that looks like an identifier (a digit, ``/ _ . :``, camelCase, a hyphenated
    name, quoted, or a call ``name()``) and occurs in the lines as a whole token (not inside
    a longer name). A real location of the finding counts as a line: it was captured there.

    The criterion of a *specific* fix or cause: a rule's constant sentence ("Profile this
    operation and remove the bottleneck.") quotes nothing from the log, whereas "Fix the code
    at eval.c:97:21" or "KeyError in insert()" does. A constant that happens to name an
    identifier ("Upgrade log4j") counts only when the log holds that very token.
    """
    if not text or not lines:
        return False
    covered = "\n".join(lines)
    for raw in text.split():
        token = raw.strip(_EDGES)
        if len(token) < 3:
            continue
        quoted = raw.lstrip("(")[:1] in _QUOTES
        call = raw.rstrip(".,;:").endswith("()")
        if not (quoted or call or _IDENTIFIER.search(token)):
            continue
        if re.search(rf"(?<![\w.]){re.escape(token)}(?!\w)", covered):
            return True
    return False


_COVERED_MAX = 200  # covered lines a fix or cause is looked up in (evidence lines first)
_COVERAGE = re.compile(r"coverage ([\d.]+)% is under ([\d.]+)%")


def _facts(f: Finding, ctx: Context) -> FindingFacts:
    real = real_location(f.location)
    picked = dict.fromkeys([*f.evidence_lines, *f.lines[:_COVERED_MAX]])
    covered = [ctx.lines[i] for i in picked if 0 <= i < len(ctx.lines)]
    if real and f.location:
        covered.append(f.location)  # a captured place: a fix that names it is specific
    measured = f.actual is not None and f.threshold is not None and f.actual > f.threshold
    cause = f.root_cause if f.kind == "error" else (f.root_cause or f.detail)
    metric, actual, threshold = f.metric, f.actual, f.threshold
    cov = _COVERAGE.search(f.title) if f.key == "coverage" else None
    if cov:  # the quality rule reports the measured coverage in its title only
        metric, actual, threshold = "line coverage (%)", float(cov[1]), float(cov[2])
    return FindingFacts(
        fingerprint=f.fingerprint,
        kind=f.kind,
        severity=f.severity,
        count=f.count,
        has_location=real,
        has_fix=bool(f.fix),
        has_root_cause=bool(f.root_cause) or f.kind != "error",
        has_evidence=bool(f.evidence_lines or f.lines),
        specific_fix=names_the_log(f.fix, covered),
        specific_cause=names_the_log(cause, covered) or (f.kind == "performance" and measured),
        blocks_build=f.kind == "error" and (f.key.startswith(("build:", "test:"))),
        location=f.location if real and f.location else "",
        lines=frozenset(f.lines),
        metric=metric,
        actual=actual,
        threshold=threshold,
    )


def insight_fingerprints(insights: AIInsights) -> frozenset[str]:
    """Stable fingerprints of every published finding: its own (the agents set one), else a
    hash of its kind and content, so the set is total for insights from any source."""
    out: set[str] = set()
    for kind, field in KIND_TO_FIELD.items():
        label = "quality" if kind == "improvement" else kind  # as recorded so far
        for f in getattr(insights, field):
            if f.fingerprint:
                out.add(f.fingerprint)
                continue
            content = sorted(f.model_dump().items())
            text = f"{label}|" + "|".join(str(v) for k, v in content if k not in _UNSTABLE)
            out.add(hashlib.sha256(text.encode()).hexdigest()[:16])
    return frozenset(out)


_UNSTABLE = ("evidence", "count")  # left out of a fallback fingerprint: they vary per log


@dataclass(frozen=True)
class Inspection:
    """One log after its agents ran: findings published, facts gathered; not yet scored.

    The score depends on which fingerprints are already known (uniqueness); ``report`` and
    ``analysis`` score against a known set without running anything again, so a caller can
    look ``fingerprints`` up first and score once.
    """

    source: Source
    sub_pkp_id: str | None
    analysis_id: str
    timestamp: datetime
    context: Context
    findings: list[Finding]
    insights: AIInsights  # shared by every analysis scored from here: copy before changing it
    fingerprints: frozenset[str]  # of every published finding (``insight_fingerprints``)
    ran: tuple[str, ...]  # names of the agents that ran
    facts: LogFacts
    scored: tuple[FindingFacts, ...]  # the findings that count for scores
    rates: RoiRates  # what estimatedROI values time at (settings)

    def report(self, known: Collection[str] = frozenset()) -> AnalysisReport:
        """Scored against ``known`` (finding and template fingerprints already reported)."""
        scores: ScoreReport = score(self.facts, self.scored, known, self.rates)
        ran = ", ".join(self.ran) or "none"
        analysis = LogAnalysis(
            id=self.analysis_id,
            source=self.source,
            timestamp=self.timestamp,
            sub_pkp_id=self.sub_pkp_id,
            ai_insights=self.insights,
            quality=scores.quality,
            value_score=scores.value_score,
            payment_amount=Decimal("0"),
            improvement_potential=scores.improvement_potential,
            paid=False,
        )
        return AnalysisReport(
            analysis=analysis,
            explanation=[f"agents run for source '{self.source}': {ran}", *scores.explanation],
            findings=self.findings,
            context=self.context,
        )

    def analysis(self, known: Collection[str] = frozenset()) -> LogAnalysis:
        """The seed's ``LogAnalysis``, scored against ``known``; see ``analyze_log``."""
        return self.report(known).analysis


def _normalised(text: str) -> str:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _ANSI.sub("", text) if "\x1b" in text else text


def inspect_log(
    text: str,
    source: str,
    sub_pkp_id: str | None = None,
    *,
    settings: Settings | None = None,
    config: AgentConfig | None = None,
    redact: Callable[[str], str] | None = None,
    analysis_id: str | None = None,
    now: datetime | None = None,
) -> Inspection:
    """Run the agents over one log and publish their findings, once; score with
    ``Inspection.analysis(known)``. Arguments as for ``analyze_log``."""
    if source not in SOURCES:
        raise InvalidSourceError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    text = _normalised(text)
    enabled = enabled_agents(settings)
    ran = agents_for(source, enabled)
    ctx, findings = run_agents(text, source, enabled, config or config_from_settings(settings))
    extra: list[str] = []
    if not any(leaked_secrets in a.detectors for a in ran):
        # the secret scan still runs, so that no evidence line shows a secret unmasked
        extra = [s for f in leaked_secrets(ctx) for s in f.secrets]
    insights = to_insights(findings, ctx, redact, extra)
    # log content addressing an AI is reported, but it must never move a score or a price
    scored = [f for f in findings if f.key != "ai-instruction"]
    addressed = [n for f in findings if f.key == "ai-instruction" for n in f.lines]
    return Inspection(
        source=source,
        sub_pkp_id=sub_pkp_id,
        analysis_id=analysis_id or f"la_{uuid.uuid4().hex}",
        timestamp=now or datetime.now(UTC),
        context=ctx,
        findings=findings,
        insights=insights,
        fingerprints=insight_fingerprints(insights),
        ran=tuple(a.name for a in ran),
        facts=_log_facts(ctx, scored, addressed),
        scored=tuple(_facts(f, ctx) for f in scored),
        rates=RoiRates.from_settings(settings),
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
    source. To score one log against several known sets, ``inspect_log`` runs the agents once.
    """
    return inspect_log(
        text, source, sub_pkp_id, settings=settings, config=config, redact=redact,
        analysis_id=analysis_id, now=now,
    ).analysis(known_fingerprints)  # fmt: skip
