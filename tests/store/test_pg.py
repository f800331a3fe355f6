"""The shared store on a real PostgreSQL: the migrations, the dialect translation, and the
ledger's invariants with several stores (each its own pool, as each daemon has) on one
database at once."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from logmarketd.errors import StartupError
from logmarketd.market.chain import verify_ledger
from logmarketd.market.events import StoreOutboxReader, append_event
from logmarketd.market.game import GameRules
from logmarketd.market.ledger import CapReachedError, Ledger, pending_account
from logmarketd.market.signing import load_or_create_ledger_key
from logmarketd.store.db import Store
from logmarketd.store.engine import redacted, to_postgres
from logmarketd.store.pg import PgStore
from logmarketd.store.retention import Retention
from logmarketd.store.schema import SCHEMA_VERSION

from tests.market.test_ledger import analysis, reconcile, record
from tests.store.pgserver import PgServer, pg_server  # noqa: F401

DAY = 86400.0


def test_the_common_dialect_translates_in_one_place() -> None:
    assert to_postgres("SELECT a FROM t WHERE b = ? AND c LIKE '%?%'") == (
        "SELECT a FROM t WHERE b = %s AND c LIKE '%%?%%'"
    )
    assert to_postgres("INSERT OR IGNORE INTO f VALUES (?, ?)") == (
        "INSERT INTO f VALUES (%s, %s) ON CONFLICT DO NOTHING"
    )
    assert to_postgres("SELECT 100 % 7") == "SELECT 100 %% 7"
    assert redacted("postgresql://u:secret@h:5/d") == "postgresql://u:***@h:5/d"
    assert redacted("postgresql://u@h:5/d") == "postgresql://u@h:5/d"


@pytest.fixture
async def fleet(pg_server: PgServer) -> AsyncIterator[list[PgStore]]:  # noqa: F811
    """Three stores on one new database, opened at once (the first migrates, the others
    wait on the advisory lock)."""
    dsn = pg_server.create_database()
    stores = await asyncio.gather(*(PgStore.open(dsn) for _ in range(3)))
    try:
        yield list(stores)
    finally:
        for s in stores:
            await s.close()


async def test_concurrent_starts_migrate_once(fleet: list[PgStore]) -> None:
    for s in fleet:
        assert await s.fetchall("SELECT version FROM logmarket_schema") == [(SCHEMA_VERSION,)]
    again = await PgStore.open(fleet[0].dsn)
    await again.close()
    assert await fleet[0].fetchall("SELECT version FROM logmarket_schema") == [(SCHEMA_VERSION,)]


async def test_a_schema_newer_than_the_daemon_is_refused(fleet: list[PgStore]) -> None:
    async with fleet[0].transaction() as tx:
        await tx.execute("UPDATE logmarket_schema SET version = version + 1")
    with pytest.raises(StartupError, match="newer than this daemon"):
        await PgStore.open(fleet[0].dsn)


async def test_an_unreachable_store_is_a_startup_error(pg_server: PgServer) -> None:  # noqa: F811
    with pytest.raises(StartupError, match="cannot reach the store"):
        await PgStore.open(f"postgresql://postgres@127.0.0.1:{pg_server.port}/nothere", timeout=2)


async def test_200_pays_over_20_analyses_across_three_stores_make_20_transactions(
    fleet: list[PgStore], tmp_path: Path
) -> None:
    """Ten payers per analysis, spread over three stores (pools), all at once: one
    transaction each; the balances reconcile and the signed chain verifies."""
    key = load_or_create_ledger_key(tmp_path / "ledger.key")
    ledgers = [Ledger(s, GameRules(), signer=key) for s in fleet]
    for i in range(20):
        await record(ledgers[i % 3], analysis(f"a{i}", f"sub{i % 4}", "1.25"))
    calls = [ledgers[i % 3].pay(f"a{i % 20}") for i in range(200)]
    random.Random(11).shuffle(calls)
    results = await asyncio.gather(*calls)
    ids: dict[str, set[str]] = {}
    for r in results:
        ids.setdefault(r.transaction.analysis_id, set()).add(r.transaction.id)
    assert len(ids) == 20 and all(len(v) == 1 for v in ids.values())
    assert sum(r.created for r in results) == 20
    assert await fleet[1].fetchone("SELECT COUNT(*) FROM transactions") == (20,)
    await reconcile(fleet[2])
    report = verify_ledger(fleet[0].dsn, key.public_key)
    assert report.ok, report.problems
    assert report.transactions == 20


async def test_a_finding_reported_through_two_stores_has_one_first_reporter(
    fleet: list[PgStore],
) -> None:
    """The same finding recorded at once through each store: claimed once, by one analysis."""
    ledgers = [Ledger(s, GameRules()) for s in fleet]

    async def claim(i: int) -> set[str]:
        ledger = ledgers[i]
        async with ledger.store.transaction() as tx:
            new = await ledger.new_fingerprints(tx, ["fp-shared"])
            a = analysis(f"r{i}", f"sub{i}", "1.00")
            await ledger.record(tx, a, new_fingerprints=new, simulated=False, content_sha256=None)
            return new

    claimed = await asyncio.gather(*(claim(i) for i in range(3)))
    assert sorted(len(c) for c in claimed) == [0, 0, 1]
    assert await fleet[0].fetchone("SELECT COUNT(*) FROM findings_seen") == (1,)


async def test_concurrent_payers_across_stores_never_cross_the_cap(fleet: list[PgStore]) -> None:
    ledgers = [Ledger(s, GameRules(), daily_cap=Decimal("10"), hold_seconds=DAY) for s in fleet]
    for i in range(30):
        await record(ledgers[0], analysis(f"a{i}", "alice", "1.00"))

    async def pay(i: int) -> bool:
        try:
            await ledgers[i % 3].pay(f"a{i}")
        except CapReachedError:
            return False
        return True

    assert sum(await asyncio.gather(*(pay(i) for i in range(30)))) == 10
    (pending,) = await fleet[0].fetchone(
        "SELECT balance_micros FROM balances WHERE account = ?", (pending_account("alice"),)
    ) or (0,)
    assert pending == 10_000_000


async def test_a_commit_that_appends_events_wakes_the_listeners(fleet: list[PgStore]) -> None:
    """LISTEN/NOTIFY: a store waiting for events is woken by another store's commit (long
    before its own timeout); a rolled-back append leaves no event to read."""
    listener, writer = fleet[0], fleet[1]
    await listener.wait_for_events(0.1)  # listening from here on
    waiting = asyncio.create_task(listener.wait_for_events(120))
    await asyncio.sleep(0.2)
    with contextlib.suppress(RuntimeError):
        async with writer.transaction() as tx:
            await append_event(tx, "log.payment.refused", {"n": 0}, 1.0)
            raise RuntimeError("rolled back")
    async with writer.transaction() as tx:
        await append_event(tx, "log.payment.refused", {"n": 1}, 1.0)
    await asyncio.wait_for(waiting, 60)
    assert [e.payload for e in await StoreOutboxReader(listener).after(0)] == [{"n": 1}]


async def test_the_shared_retention_runs_in_one_daemon_of_the_fleet(
    fleet: list[PgStore], tmp_path: Path
) -> None:
    """Two daemons' retention jobs (each its own SQLite file and pool), wired as the daemon
    wires them: the shared store's old rows are pruned by the job holding the fleet's
    retention lock only; the other's runs prune its own file and skip the shared store,
    until the holder stops and it takes over."""
    now = time.time()
    old = now - 40 * DAY
    holder = await PgStore.open(fleet[0].dsn)  # daemon a's pool; a stops midway
    locals_ = [await Store.open(tmp_path / f"{n}.db") for n in "ab"]
    try:
        jobs = [
            Retention(local, days=30, shared=shared, clock=lambda: now,
                      shared_turn=functools.partial(shared.hold_lock, "retention"))
            for local, shared in zip(locals_, [holder, fleet[1]], strict=True)
        ]  # fmt: skip

        async def old_keys(*names: str) -> None:
            async with fleet[2].transaction() as tx:
                await tx.executemany("INSERT INTO idempotency_keys VALUES (?, 'h', 200, '{}', ?)",
                                     [(n, old) for n in names])  # fmt: skip

        async def left() -> list[str]:
            rows = await fleet[2].fetchall("SELECT key FROM idempotency_keys ORDER BY key")
            return [str(r[0]) for r in rows]

        await old_keys("k1", "k2", "k3")
        assert (await jobs[0].prune())["idempotency_keys"] == 3
        await old_keys("k4", "k5")
        async with locals_[1].transaction() as tx:  # an old window in b's own file
            await tx.execute("INSERT INTO windows VALUES ('an', 'w', 1, 0, 1, 0, 1, 'eof', ?,"
                             " 0, 0, '{}')", (old,))  # fmt: skip
        b = await jobs[1].prune()
        assert (b["idempotency_keys"], b["windows"]) == (0, 1)
        assert await left() == ["k4", "k5"]  # a's turn, not b's
        assert (await jobs[0].prune())["idempotency_keys"] == 2
        await holder.close()  # a stops: its lock goes with its session
        await old_keys("k6")
        assert (await jobs[1].prune())["idempotency_keys"] == 1
        assert await left() == []
    finally:
        for local in locals_:
            await local.close()
        await holder.close()
