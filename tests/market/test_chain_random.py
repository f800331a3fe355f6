"""The signed ledger driven through 10,000 random operations (record, pay, pay again, reverse,
reverse again, reverse a reversal, settle, hold, time passing and due payouts settling),
checked against a model kept beside it in ``Decimal``: every answer is the one the model
expects, the untouched file verifies offline, each Sub-PKP's settled and pending balances are
what the model says its payouts hold, and a copy of the file with one entry edited, one
removed or one transaction slipped in (balances fixed up to match) does not verify.

The operations are a table of (weight, coroutine): a new kind of operation is one more
coroutine taking the :class:`World` and one more row in :data:`OPERATIONS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from logmarketd.market.chain import verify_ledger
from logmarketd.market.game import GameRules
from logmarketd.market.ledger import (
    POOL,
    Ledger,
    NotFoundError,
    NotPayableError,
    NotReversibleError,
    NotSettleableError,
)
from logmarketd.market.signing import LedgerKey, load_or_create_ledger_key
from logmarketd.store.db import Store

from tests.market.test_ledger import analysis, record

pytestmark = pytest.mark.slow  # about 10 s: 10,000 signed SQLite transactions

SEED = 20260412
STEPS = 10_000
MICRO = Decimal("0.000001")
SUBS = [f"s{i}" for i in range(12)]
HOLD = 3600.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    """The ledger under test and what the test knows it must hold, computed on its own."""

    ledger: Ledger
    rng: random.Random
    step: int = 0
    amounts: dict[str, Decimal] = field(default_factory=dict)  # analysis -> its price
    owners: dict[str, str | None] = field(default_factory=dict)  # analysis -> Sub-PKP
    unpayable: set[str] = field(default_factory=set)  # simulated, free or without a Sub-PKP
    clock: Clock = field(default_factory=Clock)
    payments: dict[str, str] = field(default_factory=dict)  # analysis -> its payment
    paid_for: dict[str, str] = field(default_factory=dict)  # payment -> its analysis
    reversals: dict[str, str] = field(default_factory=dict)  # payment -> its reversal
    settlements: dict[str, str] = field(default_factory=dict)  # payment -> its settlement
    states: dict[str, str] = field(default_factory=dict)  # payment -> pending|held|settled|reversed
    due: dict[str, float] = field(default_factory=dict)  # payment -> when its hold ends
    counts: dict[str, int] = field(default_factory=dict)  # operation -> times run

    def held(self, sub: str, states: tuple[str, ...]) -> Decimal:
        """What the Sub-PKP's payouts in ``states`` add up to."""
        return sum(
            (self.amounts[aid] for tx, aid in self.paid_for.items()
             if self.owners[aid] == sub and self.states[tx] in states),
            Decimal(0),
        )  # fmt: skip

    def balance(self, sub: str) -> Decimal:
        return self.held(sub, ("settled",))

    def pending(self, sub: str) -> Decimal:
        return self.held(sub, ("pending", "held"))


def draw_amount(rng: random.Random) -> Decimal:
    """Mostly cents, sometimes micro-dollars, now and then nothing at all."""
    roll = rng.random()
    if roll < 0.08:
        return Decimal(0)
    if roll < 0.25:
        return Decimal(rng.randint(1, 20_000_000)) * MICRO
    return Decimal(rng.randint(1, 2000)) / 100


async def op_record(w: World) -> None:
    """A new analysis; now and then one that must never be paid."""
    aid = f"a{w.step}"
    amount = draw_amount(w.rng)
    sub: str | None = w.rng.choice(SUBS) if w.rng.random() > 0.03 else None
    simulated = w.rng.random() < 0.03
    await record(w.ledger, analysis(aid, sub, str(amount)), simulated=simulated)
    w.amounts[aid], w.owners[aid] = amount, sub
    if simulated or sub is None or amount <= 0:
        w.unpayable.add(aid)


async def op_pay(w: World) -> None:
    """Pay a recorded analysis: the first time a payment, after that the same one."""
    if not w.amounts:
        return await op_record(w)
    aid = w.rng.choice(list(w.amounts))
    if aid in w.unpayable:
        with pytest.raises(NotPayableError):
            await w.ledger.pay(aid)
        return None
    result = await w.ledger.pay(aid)
    tx = result.transaction
    if aid in w.payments:
        assert not result.created and tx.id == w.payments[aid]
        return None
    assert result.created and tx.analysis_id == aid and tx.amount == w.amounts[aid]
    owner = w.owners[aid]
    assert owner is not None and tx.sub_pkp_id == owner
    w.payments[aid], w.paid_for[tx.id] = tx.id, aid
    w.states[tx.id], w.due[tx.id] = "pending", w.clock.now + HOLD
    return None


async def op_pay_again(w: World) -> None:
    """Pay a paid analysis again (reversed or not): the first transaction, nothing new."""
    if not w.payments:
        return await op_pay(w)
    aid = w.rng.choice(list(w.payments))
    result = await w.ledger.pay(aid)
    assert not result.created and result.transaction.id == w.payments[aid]
    assert result.events == []
    return None


async def op_reverse(w: World) -> None:
    """Reverse a payment; one reversed before answers its first reversal."""
    if not w.paid_for:
        return await op_pay(w)
    txid = w.rng.choice(list(w.paid_for))
    result = await w.ledger.reverse(txid, f"correction {w.step}")
    assert result.reverses == txid
    if txid in w.reversals:
        assert not result.created and result.transaction.id == w.reversals[txid]
        return None
    assert result.created and result.transaction.id not in w.paid_for
    aid = w.paid_for[txid]
    owner = w.owners[aid]
    assert owner is not None and result.transaction.amount == w.amounts[aid]
    w.reversals[txid] = result.transaction.id
    w.states[txid] = "reversed"
    return None


async def op_reverse_again(w: World) -> None:
    """Reverse a reversed payment once more: the same reversal comes back."""
    if not w.reversals:
        return await op_reverse(w)
    txid = w.rng.choice(list(w.reversals))
    result = await w.ledger.reverse(txid, "once more")
    assert not result.created and result.transaction.id == w.reversals[txid]
    assert result.events == []
    return None


async def op_reverse_a_reversal(w: World) -> None:
    """A reversal is never reversed."""
    if not w.reversals:
        return await op_reverse(w)
    reversal = w.rng.choice(list(w.reversals.values()))
    with pytest.raises(NotReversibleError):
        await w.ledger.reverse(reversal, "undo the undo")
    return None


async def op_unknown(w: World) -> None:
    """Paying an analysis or reversing a transaction nobody made is refused."""
    with pytest.raises(NotFoundError):
        if w.rng.random() < 0.5:
            await w.ledger.pay(f"nobody-{w.step}")
        else:
            await w.ledger.reverse(f"tx_nobody_{w.step}", "x")


async def op_settle(w: World) -> None:
    """Pay a payout now: a pending or held one settles, a settled one answers its
    settlement, a reversed one is refused."""
    if not w.paid_for:
        return await op_pay(w)
    txid = w.rng.choice(list(w.paid_for))
    if w.states[txid] == "reversed":
        with pytest.raises(NotSettleableError):
            await w.ledger.settle(txid)
        return None
    result = await w.ledger.settle(txid)
    assert result.links == {"settles": txid}
    if w.states[txid] == "settled":
        assert not result.created and result.transaction.id == w.settlements[txid]
        return None
    assert result.created and result.transaction.amount == w.amounts[w.paid_for[txid]]
    w.settlements[txid], w.states[txid] = result.transaction.id, "settled"
    return None


async def op_hold(w: World) -> None:
    """Hold a payout: a pending one waits for the admin; any other is refused."""
    if not w.paid_for:
        return await op_pay(w)
    txid = w.rng.choice(list(w.paid_for))
    if w.states[txid] in ("settled", "reversed"):
        with pytest.raises(NotSettleableError):
            await w.ledger.hold(txid, "triage")
        return None
    await w.ledger.hold(txid, "triage")
    w.states[txid] = "held"
    return None


async def op_time_passes(w: World) -> None:
    """Time passes and the due payouts settle: exactly the pending ones whose hold is over."""
    w.clock.now += w.rng.uniform(0, HOLD / 4)
    due = {tx for tx, st in w.states.items() if st == "pending" and w.due[tx] <= w.clock.now}
    settled: set[str] = set()
    while batch := await w.ledger.settle_due():
        settled |= {r.links["settles"] for r in batch}
        for r in batch:
            w.settlements[r.links["settles"]] = r.transaction.id
    assert settled == due
    for tx in due:
        w.states[tx] = "settled"
    return None


Operation = Callable[[World], Awaitable[None]]

OPERATIONS: list[tuple[float, Operation]] = [
    (30, op_record),
    (30, op_pay),
    (10, op_pay_again),
    (12, op_reverse),
    (6, op_reverse_again),
    (6, op_reverse_a_reversal),
    (2, op_unknown),
    (6, op_settle),
    (3, op_hold),
    (8, op_time_passes),
]


async def drive(ledger: Ledger, seed: int, steps: int) -> World:
    """``steps`` operations drawn from :data:`OPERATIONS` by weight."""
    w = World(ledger, random.Random(seed), clock=ledger.clock)  # type: ignore[arg-type]
    weights = [weight for weight, _ in OPERATIONS]
    ops = [op for _, op in OPERATIONS]
    for w.step in range(steps):
        (op,) = w.rng.choices(ops, weights)
        w.counts[op.__name__] = w.counts.get(op.__name__, 0) + 1
        await op(w)
    return w


@dataclass(frozen=True)
class Driven:
    """The ledger file after the run (the store closed), its key, and the model."""

    db: Path
    key: LedgerKey
    world: World


async def _drive_a_store(root: Path) -> Driven:
    key = load_or_create_ledger_key(root / "ledger.key")
    store = await Store.open(root / "ledger.db", sync="normal")
    try:
        ledger = Ledger(store, GameRules(), hold_seconds=HOLD, clock=Clock(), signer=key)
        world = await drive(ledger, SEED, STEPS)
    finally:
        await store.close()
    return Driven(store.path, key, world)


@pytest.fixture(scope="module")
def driven(tmp_path_factory: pytest.TempPathFactory) -> Driven:
    """One run for the module's tests: each checks it, or a copy of its file."""
    return asyncio.run(_drive_a_store(tmp_path_factory.mktemp("random-ledger")))


def copy_of(db: Path, to: Path) -> Path:
    """A consistent copy of the live file (WAL included), through SQLite's backup."""
    with (
        contextlib.closing(sqlite3.connect(db)) as src,
        contextlib.closing(sqlite3.connect(to)) as dst,
    ):
        src.backup(dst)
    return to


@contextlib.contextmanager
def tampered(db: Path) -> Iterator[sqlite3.Connection]:
    """The copy opened as anyone could, the immutability triggers dropped."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
            conn.execute(f"DROP TRIGGER {name}")
        yield conn
    finally:
        conn.close()


def micros_of(db: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return dict(conn.execute("SELECT account, balance_micros FROM balances"))


def test_10000_random_operations_keep_the_books_and_the_chain(driven: Driven) -> None:
    w = driven.world
    assert set(w.counts) == {op.__name__ for _, op in OPERATIONS}, w.counts
    assert len(w.payments) > 1000 and len(w.reversals) > 300, w.counts
    report = verify_ledger(driven.db, driven.key.public_key)
    assert report.ok, report.problems[:5]
    assert len(w.settlements) > 300, w.counts
    moves = len(w.payments) + len(w.reversals) + len(w.settlements)
    assert report.transactions == moves == report.links
    assert report.entries == 2 * report.transactions

    balances = micros_of(driven.db)
    for sub in SUBS:
        kept = Decimal(balances.get(f"sub-pkp:{sub}", 0)) * MICRO
        assert kept == w.balance(sub), (sub, kept, w.balance(sub))
        waiting = Decimal(balances.get(f"pending:sub-pkp:{sub}", 0)) * MICRO
        assert waiting == w.pending(sub), (sub, waiting, w.pending(sub))
    outflow = sum((w.balance(sub) + w.pending(sub) for sub in SUBS), Decimal(0))
    assert Decimal(balances[POOL]) * MICRO == -outflow
    accounts = {f"{kind}sub-pkp:{s}" for s in SUBS for kind in ("", "pending:")}
    assert set(balances) <= {POOL} | accounts


def test_an_entry_edited_in_a_copy_fails_verification(driven: Driven, tmp_path: Path) -> None:
    """One entry's amount (drawn at random) raised by a cent, and its account's balance with
    it, so only the chain can tell."""
    db = copy_of(driven.db, tmp_path / "edited.db")
    with tampered(db) as conn:
        eid = entry_drawn(conn, random.Random(SEED + 1))
        (account,) = conn.execute(
            "SELECT account FROM ledger_entries WHERE id = ?", (eid,)
        ).fetchone()
        conn.execute("UPDATE ledger_entries SET amount_micros = amount_micros + 10000 WHERE id = ?",
                     (eid,))  # fmt: skip
        conn.execute("UPDATE balances SET balance_micros = balance_micros + 10000"
                     " WHERE account = ?", (account,))  # fmt: skip
    report = verify_ledger(db, driven.key.public_key)
    assert not report.ok
    assert len(report.problems) == 1 and "altered" in report.problems[0], report.problems
    assert verify_ledger(driven.db, driven.key.public_key).ok  # the original is untouched


def test_an_entry_deleted_in_a_copy_fails_verification(driven: Driven, tmp_path: Path) -> None:
    """One entry (drawn at random) removed, its account's balance put back to match."""
    db = copy_of(driven.db, tmp_path / "deleted.db")
    with tampered(db) as conn:
        eid = entry_drawn(conn, random.Random(SEED + 2))
        account, micros = conn.execute(
            "SELECT account, amount_micros FROM ledger_entries WHERE id = ?", (eid,)
        ).fetchone()
        conn.execute("DELETE FROM ledger_entries WHERE id = ?", (eid,))
        conn.execute("UPDATE balances SET balance_micros = balance_micros - ?"
                     " WHERE account = ?", (micros, account))  # fmt: skip
    report = verify_ledger(db, driven.key.public_key)
    assert not report.ok
    assert len(report.problems) == 1 and "altered" in report.problems[0], report.problems


def test_a_transaction_inserted_in_a_copy_fails_verification(
    driven: Driven, tmp_path: Path
) -> None:
    """A payment written as the ledger writes one (its two entries, both balances moved) for
    a payable analysis that was never paid, but outside the signed chain."""
    w = driven.world
    unpaid = sorted(a for a in w.amounts if a not in w.payments and a not in w.unpayable)
    aid = random.Random(SEED + 3).choice(unpaid)
    sub, micros = w.owners[aid], 7_770_000
    db = copy_of(driven.db, tmp_path / "inserted.db")
    with tampered(db) as conn:
        conn.execute(
            "INSERT INTO transactions (id, analysis_id, sub_pkp_id, amount_micros, created,"
            " reverses, body) VALUES ('tx_slipped_in', ?, ?, ?, 0, NULL, '{}')",
            (aid, sub, micros),
        )
        moves = [(POOL, -micros), (f"sub-pkp:{sub}", micros)]
        conn.executemany(
            "INSERT INTO ledger_entries (tx_id, account, amount_micros, created)"
            " VALUES ('tx_slipped_in', ?, ?, 0)",
            moves,
        )
        conn.executemany(
            "INSERT INTO balances (account, balance_micros) VALUES (?, ?) ON CONFLICT(account)"
            " DO UPDATE SET balance_micros = balance_micros + excluded.balance_micros",
            moves,
        )
    report = verify_ledger(db, driven.key.public_key)
    assert not report.ok
    assert "tx_slipped_in" in report.problems[0] and "no signed link" in report.problems[0]
    assert all("tx_slipped_in" in p for p in report.problems), report.problems


def entry_drawn(conn: sqlite3.Connection, rng: random.Random) -> int:
    ids = [int(r[0]) for r in conn.execute("SELECT id FROM ledger_entries ORDER BY id")]
    return rng.choice(ids)
