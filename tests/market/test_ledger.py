"""The ledger on a real SQLite file: one payment per analysis under concurrency, balances
that always reconcile, immutable entries, reversals, caps."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from logmarketd.market.game import GameRules
from logmarketd.market.ledger import POOL, Ledger, NotPayableError, from_micros
from logmarketd.models import (
    AIInsights,
    ErrorPattern,
    ImprovementPotential,
    LogAnalysis,
    PotentialMetric,
    Quality,
)
from logmarketd.store.db import Store

from tests.store.pgserver import REFUSED

PM = PotentialMetric(current=1, potential=2, improvement="x")


def analysis(aid: str, sub: str | None, amount: str, *, quality: float = 85) -> LogAnalysis:
    return LogAnalysis(
        id=aid, source="test", timestamp=datetime.now(UTC), subPKPId=sub,
        ai_insights=AIInsights(error_patterns=[ErrorPattern(
            pattern="TypeError", location="a.py:1", severity="critical", impact="i",
            fingerprint=f"fp-{aid}")]),
        quality=Quality(completeness=quality, relevance=quality, actionability=quality,
                        uniqueness=quality, overall=quality),
        value_score=80, payment_amount=Decimal(amount),
        improvement_potential=ImprovementPotential(development_speed=PM, code_quality=PM,
                                                   error_reduction=PM, estimatedROI=1),
    )  # fmt: skip


def make_ledger(store: Store, **kw: object) -> Ledger:
    return Ledger(store, GameRules(), **kw)  # type: ignore[arg-type]


async def record(ledger: Ledger, a: LogAnalysis, *, simulated: bool = False) -> None:
    async with ledger.store.transaction() as conn:
        await ledger.record(conn, a, new_fingerprints={f"fp-{a.id}"}, simulated=simulated,
                            content_sha256=None)  # fmt: skip


async def reconcile(store: Store) -> None:
    """Every balance equals the sum of its entries; the pool's outflow equals the payments."""
    bad = await store.fetchall(
        "SELECT b.account, b.balance_micros, SUM(e.amount_micros) FROM balances b"
        " JOIN ledger_entries e ON e.account = b.account GROUP BY b.account"
        " HAVING b.balance_micros != SUM(e.amount_micros)"
    )
    assert bad == []
    (pool,) = await store.fetchone("SELECT COALESCE(SUM(balance_micros), 0) FROM balances"
                                   " WHERE account = ?", (POOL,)) or (0,)  # fmt: skip
    (paid,) = await store.fetchone("SELECT COALESCE(SUM(amount_micros), 0) FROM transactions") or (
        0,
    )
    assert -pool == paid
    (total,) = await store.fetchone(
        "SELECT COALESCE(SUM(amount_micros), 0) FROM ledger_entries"
    ) or (0,)
    assert total == 0
    dup = await store.fetchall("SELECT analysis_id FROM transactions WHERE reverses IS NULL"
                               " GROUP BY analysis_id HAVING COUNT(*) > 1")  # fmt: skip
    assert dup == []


async def test_200_concurrent_pays_over_20_analyses_make_exactly_20_transactions(
    store: Store,
) -> None:
    """Ten payers per analysis at once: one transaction each, the same id to every payer."""
    ledger = make_ledger(store)
    for i in range(20):
        await record(ledger, analysis(f"a{i}", f"sub{i % 4}", "1.25"))
    calls = [ledger.pay(f"a{i % 20}") for i in range(200)]
    random.Random(7).shuffle(calls)
    results = await asyncio.gather(*calls)
    by_analysis: dict[str, set[str]] = {}
    for r in results:
        by_analysis.setdefault(r.transaction.analysis_id, set()).add(r.transaction.id)
    assert all(len(ids) == 1 for ids in by_analysis.values()) and len(by_analysis) == 20
    assert sum(r.created for r in results) == 20
    (n,) = await store.fetchone("SELECT COUNT(*) FROM transactions") or (0,)
    assert n == 20
    (bal,) = await store.fetchone("SELECT balance_micros FROM balances WHERE account = ?",
                                  ("sub-pkp:sub0",)) or (0,)  # fmt: skip
    assert from_micros(bal) == Decimal("6.25")  # five analyses × 1.25
    events = dict(await store.fetchall("SELECT type, COUNT(*) FROM events GROUP BY type"))
    assert events["log.payment.executed"] == 20 and events["game.points.awarded"] == 20
    await reconcile(store)


@pytest.mark.slow
async def test_entries_are_immutable(store: Store) -> None:
    """UPDATE and DELETE of a ledger entry are refused by the database itself."""
    ledger = make_ledger(store)
    await record(ledger, analysis("a", "s", "2.00"))
    await ledger.pay("a")
    for sql in ("UPDATE ledger_entries SET amount_micros = 0", "DELETE FROM ledger_entries"):
        with pytest.raises(REFUSED, match="immutable"):
            async with store.transaction() as conn:
                await conn.execute(sql)


async def test_reversal_restores_balances_and_keeps_the_original(store: Store) -> None:
    ledger = make_ledger(store)
    await record(ledger, analysis("a", "s", "3.10"))
    tx = (await ledger.pay("a")).transaction
    rev = await ledger.reverse(tx.id, "duplicate submission")
    assert rev.transaction.id != tx.id and rev.reverses == tx.id
    rows = await store.fetchall("SELECT amount_micros FROM transactions ORDER BY created")
    assert [r[0] for r in rows] == [3_100_000, -3_100_000]
    (bal,) = await store.fetchone(
        "SELECT balance_micros FROM balances WHERE account = 'sub-pkp:s'"
    ) or (0,)
    assert bal == 0
    assert (await ledger.pay("a")).transaction.id == tx.id  # still the one payment
    await reconcile(store)


async def test_unpayable_analyses_are_refused(store: Store) -> None:
    """Simulated, zero-earning and Sub-PKP-less analyses are never paid."""
    ledger = make_ledger(store)
    await record(ledger, analysis("sim", "s", "4.00"), simulated=True)
    await record(ledger, analysis("zero", "s", "0"))
    await record(ledger, analysis("anon", None, "1.00"))
    for aid, msg in (("sim", "simulated"), ("zero", "earned nothing"), ("anon", "no Sub-PKP")):
        with pytest.raises(NotPayableError, match=msg):
            await ledger.pay(aid)


async def test_daily_cap_stops_payouts(store: Store) -> None:
    """With a daily cap, a payment that would cross it is refused."""
    ledger = make_ledger(store, daily_cap=Decimal("5.00"))
    for i, amount in enumerate(("3.00", "2.00", "0.50")):
        await record(ledger, analysis(f"c{i}", "s", amount))
    await ledger.pay("c0")
    await ledger.pay("c1")
    with pytest.raises(NotPayableError, match="daily payout cap"):
        await ledger.pay("c2")
