"""The market: an analysed log priced, recorded and (when it qualifies) paid — the seed's
``payForLogData`` — in a transaction its caller owns.

For one log: :meth:`Marketplace.settle` (in the caller's transaction) decides which findings
are new (first reporter), prices the log, records the analysis, counts the agents and auto-pays
when ``valueScore > AUTO_PAY_THRESHOLD``; after the commit :meth:`Marketplace.published` hands
the events to live listeners. The caller reserves the rate limit (``MAX_LOGS_PER_HOUR`` per
Sub-PKP) in the same transaction with :meth:`reserve`, and keeps an ``Idempotency-Key``'s
answer there too (:meth:`replay`, :meth:`remember`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aiosqlite
import structlog

from logmarketd.analysis.agents.registry import agents_for, enabled_agents, insight_fields
from logmarketd.analysis.agents.secrets import LEAK
from logmarketd.analysis.analyser import Analysed
from logmarketd.errors import LogmarketdError
from logmarketd.market.events import Event, append_event
from logmarketd.market.ledger import (
    CapReachedError,
    Ledger,
    NotFoundError,
    NotSettleableError,
    PaymentResult,
    to_micros,
)
from logmarketd.market.pricing import (
    PriceBreakdown,
    PricingRules,
    earned_bonuses,
    nothing_new,
    price,
)
from logmarketd.metrics import Metrics
from logmarketd.models import AIInsights, LogAnalysis
from logmarketd.settings import Settings
from logmarketd.store.engine import MarketStore

__all__ = [
    "Idempotency",
    "KeyReusedError",
    "Marketplace",
    "MarketplaceDisabledError",
    "Paid",
    "RateLimitedError",
    "SubmitResult",
]


log = structlog.get_logger("logmarketd.market")


class RateLimitedError(LogmarketdError, RuntimeError):
    """Too many analysed logs for this Sub-PKP in the last hour."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limit reached; retry after {retry_after:.0f} s")
        self.retry_after = retry_after


_SEVERITY = ["low", "medium", "high", "critical"]


class MarketplaceDisabledError(LogmarketdError, PermissionError):
    """LOG_MARKETPLACE_ENABLED is off: nothing is analysed or paid."""


class KeyReusedError(LogmarketdError, ValueError):
    """An ``Idempotency-Key`` came back with a different request."""


@dataclass(frozen=True, slots=True)
class Idempotency:
    key: str  # the client's Idempotency-Key
    request_hash: str  # SHA-256 of what the key stands for (method, path, body)


@dataclass(frozen=True, slots=True)
class Paid:
    transaction: str  # the payment transaction as JSON
    replayed: bool  # the answer kept with the Idempotency-Key, not a new payment


@dataclass(frozen=True, slots=True)
class SubmitResult:
    analysis: LogAnalysis
    pricing: PriceBreakdown
    payment: PaymentResult | None
    alerts: list[Event] = field(default_factory=list)  # published with the payment's events

    def to_json(self) -> dict[str, Any]:
        body = self.analysis.to_json_dict()
        body["pricing"] = self.pricing.to_json()
        if self.payment is not None:
            body["transactionId"] = self.payment.transaction.id
        return body


class Marketplace:
    def __init__(
        self,
        store: MarketStore,
        ledger: Ledger,
        settings: Settings,
        publish: Callable[[list[Any]], None],
        *,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.metrics = metrics
        self.store = store
        self.ledger = ledger
        self.settings = settings
        self.publish = publish
        self.clock = clock
        self.rules = PricingRules(
            min_payment=settings.log_marketplace_min_payment,
            max_payment=settings.log_marketplace_max_payment,
            quality_threshold=settings.log_marketplace_quality_threshold,
        )

    async def reserve(
        self, tx: aiosqlite.Connection, sub_pkp_id: str | None, incoming: int, *, refuse: bool
    ) -> bool:
        """Whether ``incoming`` more logs of this Sub-PKP fit MAX_LOGS_PER_HOUR, counted in
        ``tx``, the transaction that records them (writers take turns, so two requests cannot
        both pass on the same count). Over the limit: :class:`RateLimitedError` when
        ``refuse`` (the API's answer), else False (recorded, not paid: a window's records are
        already accepted)."""
        if sub_pkp_id is None:
            return True
        now = self.clock()
        async with tx.execute(
            "SELECT COUNT(*), MIN(created) FROM analyses"
            " WHERE sub_pkp_id = ? AND simulated = 0 AND created > ?",
            (sub_pkp_id, now - 3600),
        ) as cur:
            count, oldest = await cur.fetchone() or (0, None)
        if count + incoming <= self.settings.max_logs_per_hour:
            return True
        if refuse:
            wait = oldest + 3600 - now if oldest is not None else 3600.0
            raise RateLimitedError(retry_after=max(1.0, wait))
        return False

    def require_enabled(self) -> None:
        """``MarketplaceDisabledError`` when LOG_MARKETPLACE_ENABLED is off: the daemon then
        ingests and stores only, on every path."""
        if not self.settings.log_marketplace_enabled:
            raise MarketplaceDisabledError(
                "LOG_MARKETPLACE_ENABLED is off: this daemon ingests and stores only"
            )

    async def replayed(self, idempotency: Idempotency) -> str | None:
        """The answer kept with this Idempotency-Key, read outside any transaction (a hint that
        spares the work; :meth:`replay` in the transaction decides)."""
        row = await self.store.fetchone(
            "SELECT request_hash, response FROM idempotency_keys WHERE key = ?",
            (idempotency.key,),
        )
        return _kept(row, idempotency)

    async def replay(self, tx: aiosqlite.Connection, idempotency: Idempotency) -> str | None:
        """The answer kept with this Idempotency-Key, or None; :class:`KeyReusedError` when
        the key was used with another request."""
        async with tx.execute(
            "SELECT request_hash, response FROM idempotency_keys WHERE key = ?",
            (idempotency.key,),
        ) as cur:
            return _kept(await cur.fetchone(), idempotency)

    async def remember(self, tx: aiosqlite.Connection, idempotency: Idempotency, body: str) -> None:
        """Keep ``body`` as the answer to this Idempotency-Key, in the transaction that made it."""
        await tx.execute(
            "INSERT INTO idempotency_keys VALUES (?, ?, 200, ?, ?)",
            (idempotency.key, idempotency.request_hash, body, self.clock()),
        )

    async def settle(
        self,
        tx: aiosqlite.Connection,
        analysed: Analysed,
        content: str,
        *,
        simulated: bool = False,
        auto_pay: bool = True,
    ) -> SubmitResult:
        """Price, record and (maybe) pay one analysed log in ``tx``, the caller's transaction;
        hand the result to :meth:`published` after the commit."""
        analysis, fps = analysed.analysis, analysed.fingerprints
        if simulated:
            new = set(fps) - analysed.known
        else:
            new = await self.ledger.new_fingerprints(tx, fps)
        value = analysed.value_of(new & analysed.earning)
        breakdown = self._price(analysed, new, value)
        analysis = analysis.model_copy(
            update={"payment_amount": breakdown.amount, "value_score": value}
        )
        digest = hashlib.sha256(content.encode("utf-8", "replace")).hexdigest()
        await self.ledger.record(
            tx, analysis, new_fingerprints=new, simulated=simulated, content_sha256=digest
        )
        await self._count_agents(tx, analysis)
        alerts = [] if simulated else await self._alert_leaks(tx, analysed, new)
        payment = None
        if auto_pay and not simulated and self._payable(analysis, breakdown.amount):
            # Above AUTO_PAY_THRESHOLD it settles after the hold; below, the admin decides.
            review = analysis.value_score <= self.settings.auto_pay_threshold
            try:
                payment = await self.ledger.pay_in(tx, analysis.id, review=review)
            except CapReachedError as exc:
                alerts.append(await self._refused(tx, analysis, breakdown.amount, exc))
            else:
                await self.attribute(tx, analysis, breakdown.amount)
                analysis = analysis.model_copy(
                    update={"paid": True, "paid_at": payment.transaction.timestamp}
                )
        return SubmitResult(analysis, breakdown, payment, alerts)

    async def _refused(
        self, tx: aiosqlite.Connection, analysis: LogAnalysis, amount: Decimal, exc: CapReachedError
    ) -> Event:
        """An auto-payment a daily cap refused: counted (``payouts_refused:REASON``) and an
        event; the analysis stays recorded, unpaid (not retried: the admin may pay it on a
        later day)."""
        await tx.execute(
            "INSERT INTO counters (name, value) VALUES (?, 1)"
            " ON CONFLICT(name) DO UPDATE SET value = counters.value + 1",
            (f"payouts_refused:{exc.reason}",),
        )
        payload = {"analysisId": analysis.id, "subPKPId": analysis.sub_pkp_id,
                   "amount": float(amount), "reason": exc.reason, "detail": str(exc)}  # fmt: skip
        return await append_event(tx, "log.payment.refused", payload, self.clock())

    async def run_settlement(
        self,
        stop: asyncio.Event,
        interval: float = 60.0,
        turn: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        """Settle the payouts whose hold is over, now and every ``interval`` seconds until
        ``stop``; a failed round is logged and tried again at the next. With ``turn`` (a
        fleet's job lock), a round runs only when it answers true, else it is skipped."""
        while not stop.is_set():
            try:
                if turn is None or await turn():
                    while settled := await self.ledger.settle_due():
                        self.publish([e for s in settled for e in s.events])
                        if self.metrics is not None:
                            self.metrics.payouts_settled.inc(len(settled))
            except Exception:
                log.exception("settling due payouts failed; tried again at the next round")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    def _price(self, analysed: Analysed, new: set[str], value: float) -> PriceBreakdown:
        """Novelty decides value: only findings first reported here earn bonuses and count
        for the ``value`` score, and a log with none is credited nothing. Prices follow the
        rules' findings: a model's word never moves money, nor does text in the log addressed
        to one."""
        new = new & analysed.earning
        if not new:
            return nothing_new()
        bonuses = earned_bonuses(only(analysed.rule_insights, new), has_new_finding=True)
        return price(quality=analysed.analysis.quality.overall, value_score=value,
                     bonuses=bonuses, rules=self.rules)  # fmt: skip

    async def _alert_leaks(
        self, tx: aiosqlite.Connection, analysed: Analysed, new: set[str]
    ) -> list[Event]:
        """A secret newly seen leaking is an alert (event, webhook), never a bonus: one event
        per analysis that holds any, naming the (redacted) leaks."""
        analysis = analysed.analysis
        leaks = [s for s in analysis.ai_insights.security_concerns
                 if s.threat.startswith(LEAK) and s.fingerprint in new]  # fmt: skip
        if not leaks:
            return []
        payload = {"analysisId": analysis.id, "subPKPId": analysis.sub_pkp_id,
                   "source": analysis.source, "threats": [s.threat for s in leaks],
                   "severity": max((s.severity for s in leaks), key=_SEVERITY.index)}  # fmt: skip
        return [await append_event(tx, "security.secret.leaked", payload, self.clock())]

    def _payable(self, analysis: LogAnalysis, amount: Decimal) -> bool:
        return (
            self.settings.log_marketplace_enabled and analysis.sub_pkp_id is not None and amount > 0
        )

    def published(self, result: SubmitResult) -> SubmitResult:
        """After the commit of :meth:`settle`: its events to the listeners, its payment counted."""
        if result.alerts:
            self.publish(result.alerts)
            if self.metrics is not None:
                for e in result.alerts:
                    if e.type == "log.payment.refused":
                        self.metrics.payouts_refused.labels(e.payload["reason"]).inc()
        if result.payment is not None:
            self.publish(result.payment.events)
            self._count_payment(result.payment)
        return result

    def _count_payment(self, payment: PaymentResult) -> None:
        if self.metrics is not None and payment.created:
            self.metrics.payments.inc()
            self.metrics.paid_dollars.inc(float(payment.transaction.amount))

    async def pay(self, analysis_id: str, idempotency: Idempotency | None = None) -> Paid:
        """Pay an analysis. Paying it again returns the first transaction; with an
        ``Idempotency-Key`` the first answer is kept with the key, in the payment's own
        transaction, and replayed (a key reused for another request: :class:`KeyReusedError`)."""
        self.require_enabled()
        async with self.store.transaction() as conn:
            if idempotency is not None and (kept := await self.replay(conn, idempotency)):
                return Paid(kept, replayed=True)
            result = await self.ledger.pay_in(conn, analysis_id)
            if result.created:
                analysis = await self.ledger.analysis(conn, analysis_id)
                await self.attribute(conn, analysis, result.transaction.amount)
            # The admin paying is the triage's yes: a held or pending payout settles now (one
            # settled already, or reversed, stays as it is: paying again answers the payment).
            settled = None
            with contextlib.suppress(NotSettleableError):
                settled = await self.ledger.settle_in(conn, result.transaction.id, "paid")
            body = result.transaction.model_dump_json(by_alias=True)
            if idempotency is not None:
                await self.remember(conn, idempotency, body)
        if result.created:
            self.publish(result.events)
            self._count_payment(result)
        if settled is not None and settled.created:
            self.publish(settled.events)
        return Paid(body, replayed=False)

    async def judge(self, fingerprint: str, *, valid: bool, note: str | None) -> dict[str, Any]:
        """The admin's verdict on a finding (the last one counts), kept with the agent that
        found it for the agents' feedback (their measured precision on ``/agents``);
        :class:`NotFoundError` for a fingerprint nobody reported."""
        async with self.store.transaction() as tx:
            async with tx.execute(
                "SELECT a.body FROM findings_seen f JOIN analyses a ON a.id = f.first_analysis"
                " WHERE f.fingerprint = ?",
                (fingerprint,),
            ) as cur:
                row = await cur.fetchone()
            if row is None:
                raise NotFoundError(f"no finding {fingerprint}")
            agent = _agent_of(LogAnalysis.model_validate_json(row[0]), fingerprint)
            await tx.execute(
                "INSERT INTO finding_verdicts VALUES (?, ?, ?, ?, ?) ON CONFLICT(fingerprint)"
                " DO UPDATE SET valid = excluded.valid, note = excluded.note,"
                " decided = excluded.decided",
                (fingerprint, agent, int(valid), note, self.clock()),
            )
        return {"fingerprint": fingerprint, "valid": valid, "note": note}

    async def _count_agents(self, conn: Any, analysis: LogAnalysis) -> None:
        """Each agent that ran on this log: one more log analysed, its findings as insights."""
        counts = agent_finding_counts(analysis)
        ran = {a.id for a in agents_for(analysis.source, enabled_agents(self.settings))}
        await conn.executemany(
            "INSERT INTO agent_stats (agent_id, logs_analyzed, insights, money_micros)"
            " VALUES (?, 1, ?, 0) ON CONFLICT(agent_id) DO UPDATE SET"
            " logs_analyzed = agent_stats.logs_analyzed + 1,"
            " insights = agent_stats.insights + excluded.insights",
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


def agent_finding_counts(analysis: LogAnalysis) -> dict[str, int]:
    """Findings per agent (by each finding's agentId, else by its kind)."""
    counts: dict[str, int] = {}
    for kind, default in insight_fields().items():
        for f in getattr(analysis.ai_insights, kind):
            agent = f.agent_id or default
            counts[agent] = counts.get(agent, 0) + 1
    return counts


def _agent_of(analysis: LogAnalysis, fingerprint: str) -> str | None:
    """The agent whose finding in ``analysis`` has this fingerprint (by its agentId, else by
    its kind), or None."""
    for kind, default in insight_fields().items():
        for f in getattr(analysis.ai_insights, kind):
            if f.fingerprint == fingerprint:
                return f.agent_id or default
    return None


def _kept(row: Any, idempotency: Idempotency) -> str | None:
    if row is None:
        return None
    if row[0] != idempotency.request_hash:
        raise KeyReusedError("this Idempotency-Key was used with a different request")
    return str(row[1])


def only(insights: AIInsights, fingerprints: set[str]) -> AIInsights:
    """The findings of ``insights`` whose fingerprint is one of ``fingerprints``."""
    return insights.model_copy(update={
        field: [f for f in getattr(insights, field) if f.fingerprint in fingerprints]
        for field in insight_fields()
    })  # fmt: skip
