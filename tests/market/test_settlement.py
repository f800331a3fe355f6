"""Settlement: a payment is held as pending, settles after the hold (or when the admin pays
it), can be held longer or reversed from where its money is; daily caps refuse the payment
that would cross them, under concurrency too. Every move is signed and verifies."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest
from logmarketd.market.chain import verify_ledger
from logmarketd.market.game import GameRules
from logmarketd.market.ledger import (
    POOL,
    CapReachedError,
    Ledger,
    NotReversibleError,
    NotSettleableError,
    account,
    pending_account,
)
from logmarketd.market.signing import LedgerKey
from logmarketd.store.db import Store

from tests.market.test_ledger import analysis, record
from tests.store.pgserver import location

DAY = 86400.0


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def balance(store: Store, name: str) -> Decimal:
    row = await store.fetchone("SELECT balance_micros FROM balances WHERE account = ?", (name,))
    return Decimal(row[0] if row else 0) / 1_000_000


async def paid(ledger: Ledger, aid: str, sub: str, amount: str) -> str:
    await record(ledger, analysis(aid, sub, amount))
    return (await ledger.pay(aid)).transaction.id


async def test_a_held_payment_is_pending_until_the_hold_is_over(
    store: Store, key: LedgerKey, tmp_path: Path
) -> None:
    clock = Clock()
    ledger = Ledger(store, GameRules(), hold_seconds=DAY, clock=clock, signer=key)
    await paid(ledger, "a1", "alice", "3.25")
    assert await balance(store, pending_account("alice")) == Decimal("3.25")
    assert await balance(store, account("alice")) == 0
    clock.now += DAY - 1
    assert await ledger.settle_due() == []
    clock.now += 1
    (settled,) = await ledger.settle_due()
    assert settled.links["settles"] and settled.created
    assert await balance(store, pending_account("alice")) == 0
    assert await balance(store, account("alice")) == Decimal("3.25")
    assert await balance(store, POOL) == Decimal("-3.25")
    assert await ledger.settle_due() == []  # once
    report = verify_ledger(location(store), key.public_key)
    assert report.ok, report.problems
    assert report.transactions == 2


async def test_no_hold_credits_the_balance_at_once(store: Store) -> None:
    ledger = Ledger(store, GameRules(), hold_seconds=0)
    await paid(ledger, "a1", "alice", "1.00")
    assert await balance(store, account("alice")) == Decimal("1.00")
    assert await balance(store, pending_account("alice")) == 0


async def test_the_admin_pays_holds_and_reverses_pending_payouts(
    store: Store, key: LedgerKey, tmp_path: Path
) -> None:
    clock = Clock()
    ledger = Ledger(store, GameRules(), hold_seconds=DAY, clock=clock, signer=key)
    now_paid = await paid(ledger, "a1", "alice", "2.00")
    kept = await paid(ledger, "a2", "alice", "5.00")
    refused = await paid(ledger, "a3", "alice", "7.00")

    first = await ledger.settle(now_paid, "checked by hand")
    assert (await ledger.settle(now_paid)).transaction.id == first.transaction.id  # once
    assert (await ledger.pay("a1")).transaction.id == now_paid  # the payment, not its settlement
    await ledger.hold(kept, "asking the reporter")
    reversal = await ledger.reverse(refused, "made up")
    assert reversal.links == {"reverses": refused, "reason": "made up"}
    with pytest.raises(NotSettleableError):
        await ledger.settle(refused)
    with pytest.raises(NotSettleableError):
        await ledger.hold(now_paid, "too late")
    with pytest.raises(NotReversibleError):
        await ledger.reverse(first.transaction.id, "a settlement is not a payment")

    clock.now += 2 * DAY
    assert await ledger.settle_due() == []  # held: waits for the admin
    assert await balance(store, account("alice")) == Decimal("2.00")
    assert await balance(store, pending_account("alice")) == Decimal("5.00")

    # A settled payment is reversed from the balance.
    await ledger.reverse(now_paid, "duplicate after all")
    assert await balance(store, account("alice")) == 0
    await ledger.settle(kept)
    assert await balance(store, account("alice")) == Decimal("5.00")
    assert await balance(store, pending_account("alice")) == 0
    assert await balance(store, POOL) == Decimal("-5.00")
    report = verify_ledger(location(store), key.public_key)
    assert report.ok, report.problems


async def test_the_per_sub_pkp_cap_and_the_market_budget_refuse_what_crosses_them(
    store: Store,
) -> None:
    clock = Clock()
    ledger = Ledger(store, GameRules(), daily_cap=Decimal("10"), daily_budget=Decimal("15"),
                    hold_seconds=DAY, clock=clock)  # fmt: skip
    await paid(ledger, "a1", "alice", "6")
    await paid(ledger, "a2", "alice", "4")  # exactly at the cap
    await record(ledger, analysis("a3", "alice", "0.50"))
    with pytest.raises(CapReachedError) as cap:
        await ledger.pay("a3")
    assert cap.value.reason == "sub-pkp-cap"
    await paid(ledger, "b1", "bob", "5")
    await record(ledger, analysis("b2", "bob", "0.01"))
    with pytest.raises(CapReachedError) as budget:
        await ledger.pay("b2")
    assert budget.value.reason == "market-budget"
    clock.now += DAY  # the next UTC day
    assert (await ledger.pay("a3")).created


async def test_concurrent_payers_never_cross_the_cap(store: Store) -> None:
    ledger = Ledger(store, GameRules(), daily_cap=Decimal("10"), hold_seconds=DAY)
    for i in range(30):
        await record(ledger, analysis(f"a{i}", "alice", "1.00"))

    async def pay(i: int) -> bool:
        try:
            await ledger.pay(f"a{i}")
        except CapReachedError:
            return False
        return True

    results = await asyncio.gather(*(pay(i) for i in range(30)))
    assert sum(results) == 10
    assert await balance(store, pending_account("alice")) == Decimal("10.00")
