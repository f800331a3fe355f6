"""The marketplace service: a log in, an analysis out, priced, recorded and (when it
qualifies) paid — the seed's ``analyzeLogEntry`` + ``payForLogData``.

Order of work for one log: rate limit (``MAX_LOGS_PER_HOUR`` per Sub-PKP) → analysis by the
agents (off the event loop) → in one write transaction: which findings are new (first
reporter), the price, the analysis row, and auto-pay when ``valueScore > AUTO_PAY_THRESHOLD``
→ after the commit, the events go to live listeners.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import aiosqlite

from logmarketd.errors import LogmarketdError
from logmarketd.market.ledger import Ledger, PaymentResult, to_micros
from logmarketd.metrics import Metrics

if TYPE_CHECKING:
    from logmarketd.analysis.llm.enrich import Enricher
from logmarketd.ingest.redact import Redactor
from logmarketd.market.pricing import PriceBreakdown, PricingRules, earned_bonuses, price
from logmarketd.models import AIInsights, LogAnalysis, Source
from logmarketd.settings import Settings
from logmarketd.store.db import Store

__all__ = [
    "Analyzer",
    "Marketplace",
    "RateLimitedError",
    "SubmitResult",
    "fingerprints_of",
    "rules_analyzer",
]

# (content, source, sub_pkp_id, known finding fingerprints) -> analysis (payment not set)
Analyzer = Callable[[str, Source, str | None, frozenset[str]], LogAnalysis]


def rules_analyzer(settings: Settings, redactor: Redactor) -> Analyzer:
    """The offline rule engine (the four agents), configured by the settings; evidence is
    redacted with the installation's key."""
    from logmarketd.analysis.analyse import analyze_log

    def analyzer(
        content: str, source: Source, sub_pkp_id: str | None, known: frozenset[str]
    ) -> LogAnalysis:
        return analyze_log(
            content, source, sub_pkp_id, settings=settings, known_fingerprints=known,
            redact=redactor.redact,
        )  # fmt: skip

    return analyzer


# Adds model-written root causes and fixes to rule findings (never scores or prices).
Enrich = Callable[[AIInsights], Awaitable[AIInsights]]


def llm_enrich(enricher: Enricher) -> Enrich:
    # Imported here: the model SDKs take seconds to import, and only a configured model needs them.
    from logmarketd.analysis.llm.groups import apply_to_insights, groups_from_insights

    async def enrich(insights: AIInsights) -> AIInsights:
        groups = groups_from_insights(insights)
        if not groups:
            return insights
        return apply_to_insights(insights, groups, await enricher.enrich(groups))

    return enrich


class RateLimitedError(LogmarketdError, RuntimeError):
    """Too many analysed logs for this Sub-PKP in the last hour."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limit reached; retry after {retry_after:.0f} s")
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class SubmitResult:
    analysis: LogAnalysis
    pricing: PriceBreakdown
    payment: PaymentResult | None

    def to_json(self) -> dict[str, Any]:
        body = self.analysis.to_json_dict()
        body["pricing"] = self.pricing.to_json()
        if self.payment is not None:
            body["transactionId"] = self.payment.transaction.id
        return body


def fingerprints_of(analysis: LogAnalysis) -> list[str]:
    """Stable fingerprints of every finding (the agents set them; a fallback keeps it total)."""
    out: list[str] = []
    ins = analysis.ai_insights
    groups: list[tuple[str, list[Any]]] = [
        ("error", ins.error_patterns), ("performance", ins.performance_issues),
        ("security", ins.security_concerns), ("quality", ins.improvement_opportunities),
    ]  # fmt: skip
    for kind, findings in groups:
        for f in findings:
            if f.fingerprint:
                out.append(f.fingerprint)
            else:
                text = f"{kind}|" + "|".join(
                    str(v)
                    for k, v in sorted(f.model_dump().items())
                    if k not in ("evidence", "count")
                )
                out.append(hashlib.sha256(text.encode()).hexdigest()[:16])
    return sorted(set(out))


class Marketplace:
    def __init__(
        self,
        store: Store,
        ledger: Ledger,
        settings: Settings,
        analyzer: Analyzer,
        publish: Callable[[list[Any]], None],
        *,
        redactor: Redactor,
        enrich: Enrich | None = None,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.metrics = metrics
        self.redactor = redactor
        self.enrich = enrich
        self.store = store
        self.ledger = ledger
        self.settings = settings
        self.analyzer = analyzer
        self.publish = publish
        self.clock = clock
        self.rules = PricingRules(
            min_payment=settings.log_marketplace_min_payment,
            max_payment=settings.log_marketplace_max_payment,
            quality_threshold=settings.log_marketplace_quality_threshold,
        )

    async def check_rate(self, sub_pkp_id: str | None, incoming: int = 1) -> None:
        """Refuse when ``incoming`` more logs would pass MAX_LOGS_PER_HOUR for this Sub-PKP."""
        if sub_pkp_id is None:
            return
        now = self.clock()
        row = await self.store.fetchone(
            "SELECT COUNT(*), MIN(created) FROM analyses"
            " WHERE sub_pkp_id = ? AND simulated = 0 AND created > ?",
            (sub_pkp_id, now - 3600),
        )
        count, oldest = row or (0, None)
        if count + incoming > self.settings.max_logs_per_hour:
            wait = oldest + 3600 - now if oldest is not None else 3600.0
            raise RateLimitedError(retry_after=max(1.0, wait))

    async def within_rate(self, sub_pkp_id: str | None) -> bool:
        """Whether one more log of this Sub-PKP stays within MAX_LOGS_PER_HOUR."""
        try:
            await self.check_rate(sub_pkp_id)
        except RateLimitedError:
            return False
        return True

    async def submit(
        self,
        content: str,
        source: Source,
        sub_pkp_id: str | None,
        *,
        simulated: bool = False,
        auto_pay: bool = True,
        enforce_rate: bool = True,
        in_tx: Callable[[aiosqlite.Connection, str], Awaitable[None]] | None = None,
    ) -> SubmitResult:
        """Analyse, price, record and (maybe) pay one log; ``in_tx(conn, analysis_id)`` runs
        inside the same transaction (the window pipeline records its progress there).

        ``enforce_rate``: refuse with :class:`RateLimitedError` over MAX_LOGS_PER_HOUR (the
        API's answer); the pipeline decides on its own (``auto_pay``) and passes False."""
        if not simulated and enforce_rate:
            await self.check_rate(sub_pkp_id)
        started = time.perf_counter()
        analysis = await asyncio.to_thread(self.analyzer, content, source, sub_pkp_id, frozenset())
        fps = fingerprints_of(analysis)
        known = await self._known(fps)
        if known:  # score again knowing which findings are old news (uniqueness)
            analysis = await asyncio.to_thread(self.analyzer, content, source, sub_pkp_id, known)
        rule_insights = insights = analysis.ai_insights
        if self.enrich is not None:
            insights = await self.enrich(insights)
        analysis = analysis.model_copy(
            update={
                "id": f"la_{uuid.uuid4().hex}",
                "sub_pkp_id": sub_pkp_id,
                # Nothing leaves here unredacted: evidence, model text, locations.
                "ai_insights": self.redactor.redact_model(insights),
            }
        )
        digest = hashlib.sha256(content.encode("utf-8", "replace")).hexdigest()
        payment: PaymentResult | None = None
        async with self.store.transaction() as conn:
            new = await self.ledger.new_fingerprints(conn, fps) if not simulated else set()
            if simulated:
                new = set(fps) - known
            # Prices follow the rules' findings: a model's word never moves money.
            bonuses = earned_bonuses(rule_insights, has_new_finding=bool(new))
            breakdown = price(
                quality=analysis.quality.overall,
                value_score=analysis.value_score,
                bonuses=bonuses,
                rules=self.rules,
            )
            analysis = analysis.model_copy(update={"payment_amount": breakdown.amount})
            await self.ledger.record(
                conn, analysis, new_fingerprints=new, simulated=simulated, content_sha256=digest
            )
            await self._count_agents(conn, analysis)
            if in_tx is not None:
                await in_tx(conn, analysis.id)
            if (
                auto_pay
                and not simulated
                and self.settings.log_marketplace_enabled
                and sub_pkp_id is not None
                and breakdown.amount > 0
                and analysis.value_score > self.settings.auto_pay_threshold
            ):
                payment = await self.ledger.pay_in(conn, analysis.id)
                await self.attribute(conn, analysis, breakdown.amount)
        if payment is not None:
            analysis = analysis.model_copy(
                update={"paid": True, "paid_at": payment.transaction.timestamp}
            )
            self.publish(payment.events)
            self._count_payment(payment)
        if self.metrics is not None:
            self.metrics.analyses.labels(source).inc()
            path = "window" if in_tx is not None else "api"
            self.metrics.analysis_seconds.labels(path).observe(time.perf_counter() - started)
        return SubmitResult(analysis, breakdown, payment)

    def _count_payment(self, payment: PaymentResult) -> None:
        if self.metrics is not None and payment.created:
            self.metrics.payments.inc()
            self.metrics.paid_dollars.inc(float(payment.transaction.amount))

    async def pay(self, analysis_id: str) -> PaymentResult:
        """Pay an analysis (idempotent: paying again returns the first transaction)."""
        async with self.store.transaction() as conn:
            result = await self.ledger.pay_in(conn, analysis_id)
            if result.created:
                row = await (await conn.execute(
                    "SELECT body FROM analyses WHERE id = ?", (analysis_id,)
                )).fetchone()  # fmt: skip
                assert row is not None
                analysis = LogAnalysis.model_validate_json(row[0])
                await self.attribute(conn, analysis, result.transaction.amount)
        if result.created:
            self.publish(result.events)
            self._count_payment(result)
        return result

    async def _known(self, fps: list[str]) -> frozenset[str]:
        if not fps:
            return frozenset()
        marks = ",".join("?" * len(fps))
        rows = await self.store.fetchall(
            f"SELECT fingerprint FROM findings_seen WHERE fingerprint IN ({marks})", fps
        )
        return frozenset(r[0] for r in rows)

    async def _count_agents(self, conn: Any, analysis: LogAnalysis) -> None:
        """Each agent that ran on this log: one more log analysed, its findings as insights."""
        from logmarketd.analysis.agents import agents_for
        from logmarketd.analysis.analyse import enabled_agents

        counts = agent_finding_counts(analysis)
        ran = {a.id for a in agents_for(analysis.source, enabled_agents(self.settings))}
        await conn.executemany(
            "INSERT INTO agent_stats (agent_id, logs_analyzed, insights, money_micros)"
            " VALUES (?, 1, ?, 0) ON CONFLICT(agent_id) DO UPDATE SET"
            " logs_analyzed = logs_analyzed + 1, insights = insights + excluded.insights",
            [(agent, counts.get(agent, 0)) for agent in sorted(ran | set(counts))],
        )

    async def attribute(self, conn: Any, analysis: LogAnalysis, amount: Decimal) -> None:
        """Split a payment across the agents whose findings earned it, exactly."""
        counts = {a: n for a, n in agent_finding_counts(analysis).items() if n}
        if not counts:
            return
        total = sum(counts.values())
        micros = to_micros(amount)
        shares = {a: micros * n // total for a, n in counts.items()}
        remainder = micros - sum(shares.values())
        top = max(sorted(counts), key=lambda a: counts[a])
        shares[top] += remainder  # the cent fractions go to the biggest contributor
        await conn.executemany(
            "UPDATE agent_stats SET money_micros = money_micros + ? WHERE agent_id = ?",
            [(m, a) for a, m in sorted(shares.items())],
        )


_KIND_TO_AGENT = {
    "error_patterns": "error-detective",
    "performance_issues": "performance-analyzer",
    "security_concerns": "security-guardian",
    "improvement_opportunities": "quality-inspector",
}


def agent_finding_counts(analysis: LogAnalysis) -> dict[str, int]:
    """Findings per agent (by each finding's agentId, else by its kind)."""
    counts: dict[str, int] = {}
    for kind, default in _KIND_TO_AGENT.items():
        for f in getattr(analysis.ai_insights, kind):
            agent = f.agent_id or default
            counts[agent] = counts.get(agent, 0) + 1
    return counts
