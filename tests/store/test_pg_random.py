"""The signed ledger driven through 10,000 random operations spread over three stores (each
its own pool, as each daemon has) on one PostgreSQL: every answer is the one the model
expects whichever store gives it, the balances are what the model says, and the fleet's one
chain verifies. The operations and the model are those of the SQLite run
(tests/market/test_chain_random.py)."""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from logmarketd.market.chain import verify_ledger
from logmarketd.market.game import GameRules
from logmarketd.market.ledger import POOL, Ledger
from logmarketd.market.signing import load_or_create_ledger_key
from logmarketd.store.pg import PgStore

from tests.market.test_chain_random import HOLD, MICRO, OPERATIONS, SEED, STEPS, SUBS, Clock, drive
from tests.store.pgserver import PgServer, pg_server  # noqa: F401

pytestmark = pytest.mark.slow  # 10,000 signed PostgreSQL transactions


class Fleet:
    """Several daemons' ledgers as one: each attribute asked for is the next one's."""

    def __init__(self, ledgers: list[Ledger]) -> None:
        self._turn = itertools.cycle(ledgers)
        self.clock = ledgers[0].clock

    def __getattr__(self, name: str) -> Any:
        return getattr(next(self._turn), name)


async def test_10000_random_operations_across_three_stores_keep_one_set_of_books(
    pg_server: PgServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    dsn = pg_server.create_database()
    key = load_or_create_ledger_key(tmp_path / "ledger.key")
    clock = Clock()
    stores = [await PgStore.open(dsn) for _ in range(3)]
    try:
        ledgers = [Ledger(s, GameRules(), hold_seconds=HOLD, clock=clock, signer=key)
                   for s in stores]  # fmt: skip
        w = await drive(Fleet(ledgers), SEED, STEPS)  # type: ignore[arg-type]
        balances = dict(await stores[0].fetchall("SELECT account, balance_micros FROM balances"))
    finally:
        for s in stores:
            await s.close()
    assert set(w.counts) == {op.__name__ for _, op in OPERATIONS}, w.counts
    assert len(w.payments) > 1000 and len(w.reversals) > 300, w.counts
    report = verify_ledger(dsn, key.public_key)
    assert report.ok, report.problems[:5]
    moves = len(w.payments) + len(w.reversals) + len(w.settlements)
    assert report.transactions == moves == report.links
    assert report.entries == 2 * report.transactions
    for sub in SUBS:
        assert Decimal(balances.get(f"sub-pkp:{sub}", 0)) * MICRO == w.balance(sub), sub
        assert Decimal(balances.get(f"pending:sub-pkp:{sub}", 0)) * MICRO == w.pending(sub), sub
    outflow = sum((w.balance(sub) + w.pending(sub) for sub in SUBS), Decimal(0))
    assert Decimal(balances[POOL]) * MICRO == -outflow
