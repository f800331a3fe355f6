"""The analysis stage as the daemon runs it: one log in, one :class:`Analysed` out.

The agents run once, off the event loop; a configured model then reads the log's digest and
may report what the rules missed (kept only when grounded in the log's lines, and priced by
the same rules as any finding); the findings are scored against the fingerprints the store
already holds (uniqueness); the model may then add root causes and fixes (text: no score moves);
and nothing leaves unredacted. Pricing and payment are the market's: ``payment_amount`` is 0 here.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from logmarketd.analysis.agents.secrets import LEAK
from logmarketd.analysis.analyse import inspect_log
from logmarketd.analysis.scoring import FindingFacts, value_score
from logmarketd.ingest.redact import Redactor
from logmarketd.models import AIInsights, LogAnalysis, ModelRun, Source
from logmarketd.settings import Settings
from logmarketd.store.db import Store

if TYPE_CHECKING:
    from logmarketd.analysis.agents import Finding
    from logmarketd.analysis.llm.enrich import Enricher
    from logmarketd.analysis.llm.types import Enrichment, FindingGroup

__all__ = ["Analysed", "Analyser", "known_fingerprints"]


@dataclass(frozen=True, slots=True)
class Analysed:
    """One analysed log, ready to be priced and settled."""

    analysis: LogAnalysis  # scored, enriched, redacted; a fresh id; payment not set
    # What prices follow: the rules' findings and a model's grounded discoveries as the rules
    # bound them, before any model text was added (a model's word never moves money).
    rule_insights: AIInsights
    fingerprints: list[str]  # of every finding, sorted
    known: frozenset[str]  # those the store held already when the log was scored
    # The findings that count for scores: all but what only reports text addressed to an AI
    # reviewer, which is data about the log and must never be what makes it pay.
    scored: tuple[FindingFacts, ...]

    @property
    def earning(self) -> frozenset[str]:
        """The fingerprints of the findings that can earn: the scored ones but a secret the
        contributor's own log leaks (an alert, never income: else the market pays people to
        leak secrets)."""
        leaks = {s.fingerprint for s in self.rule_insights.security_concerns
                 if s.threat.startswith(LEAK)}  # fmt: skip
        return frozenset(f.fingerprint for f in self.scored) - leaks

    def value_of(self, fingerprints: Collection[str]) -> float:
        """The valueScore counting only these findings (the new ones): a finding the market
        knows already adds no value."""
        counted = [f for f in self.scored if f.fingerprint in fingerprints]  # see ``earning``
        return value_score(self.analysis.quality.overall, counted)


async def known_fingerprints(store: Store, fingerprints: list[str]) -> frozenset[str]:
    """Which of ``fingerprints`` some earlier analysis reported already."""
    if not fingerprints:
        return frozenset()
    marks = ",".join("?" * len(fingerprints))
    rows = await store.fetchall(
        f"SELECT fingerprint FROM findings_seen WHERE fingerprint IN ({marks})", fingerprints
    )
    return frozenset(r[0] for r in rows)


class Analyser:
    """Runs the agents configured in ``settings`` on one log at a time (see the module doc)."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        redactor: Redactor,
        *,
        enricher: Enricher | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.redactor = redactor
        self.enricher = enricher

    async def analyse(
        self, content: str, source: Source, sub_pkp_id: str | None, *, log_id: str | None = None
    ) -> Analysed:
        """Analyse one log; its analysis gets the id ``log_id`` (default: a new one)."""
        inspection = await asyncio.to_thread(
            inspect_log, content, source, sub_pkp_id, settings=self.settings,
            redact=self.redactor.redact, analysis_id=log_id or f"la_{uuid.uuid4().hex}",
        )  # fmt: skip
        run: ModelRun | None = None
        enriching = None
        if self.enricher is not None:
            # The rules' findings are explained while the model looks for what they missed.
            enriching = asyncio.create_task(self._enrich(inspection.insights, inspection.findings))
        try:
            if self.enricher is not None:
                # Imported here: the model SDKs take seconds to import; only a model needs them.
                from logmarketd.analysis.llm.merge import discover_in

                inspection, run = await discover_in(self.enricher, inspection, self.redactor)
            fingerprints = sorted(inspection.fingerprints)
            known = await known_fingerprints(self.store, fingerprints)
            analysis = inspection.analysis(known)
            rule_insights = insights = analysis.ai_insights
            if enriching is not None:
                insights, run = self._applied(rule_insights, await enriching, run)
        finally:
            if enriching is not None and not enriching.done():
                enriching.cancel()
        # Nothing leaves here unredacted: evidence, model text, locations.
        analysis = analysis.model_copy(
            update={"ai_insights": self.redactor.redact_model(insights), "llm": run}
        )
        return Analysed(analysis, rule_insights, fingerprints, known, inspection.scored)

    async def _enrich(
        self, insights: AIInsights, findings: list[Finding]
    ) -> tuple[list[FindingGroup], list[Enrichment]]:
        """Model-written root causes and fixes for the rules' finding groups (they never change
        a score or a price). The report of text addressed to an AI is not asked about: its
        evidence is that text."""
        from logmarketd.analysis.llm.groups import groups_from_insights

        assert self.enricher is not None
        skip = {f.fingerprint for f in findings if f.key == "ai-instruction"}
        groups = groups_from_insights(insights, skip=skip)
        return groups, (await self.enricher.enrich(groups) if groups else [])

    @staticmethod
    def _applied(
        insights: AIInsights, enriched: tuple[list[FindingGroup], list[Enrichment]],
        run: ModelRun | None,
    ) -> tuple[AIInsights, ModelRun | None]:  # fmt: skip
        """``insights`` with the enrichments on the findings they were asked for."""
        from logmarketd.analysis.llm.groups import apply_to_insights

        groups, enrichments = enriched
        if run is not None:
            asked = [e for e in enrichments if e.source == "llm"]
            run = run.model_copy(update={"calls": run.calls + len(asked),
                                         "tokens": run.tokens + sum(e.tokens for e in asked)})  # fmt: skip
        return apply_to_insights(insights, groups, enrichments), run
