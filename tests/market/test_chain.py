"""The signed, hash-chained ledger: an untouched file verifies offline with the public key
alone; an entry edited, removed or inserted in the SQLite file is named."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from logmarketd.market.chain import verify_ledger
from logmarketd.market.game import GameRules
from logmarketd.market.ledger import Ledger, NotReversibleError
from logmarketd.market.signing import LedgerKey, load_or_create_ledger_key, load_public_key
from logmarketd.store.db import Store
from logmarketd.store.schema import MIGRATIONS

from tests.market.test_ledger import analysis, record
from tests.store.pgserver import location


async def three_payments(store: Store, key: LedgerKey) -> tuple[Ledger, list[str]]:
    """Three payments and one reversal, signed: four links."""
    ledger = Ledger(store, GameRules(), signer=key)
    ids = []
    for i, amount in enumerate(("1.00", "2.50", "4.00")):
        await record(ledger, analysis(f"a{i}", "s", amount))
        ids.append((await ledger.pay(f"a{i}")).transaction.id)
    await ledger.reverse(ids[1], "duplicate submission")
    return ledger, ids


# Tampering edits the SQLite file directly (the marks on these tests): the other checks run
# on both engines.
SQLITE_FILE = pytest.mark.parametrize("store", ["sqlite"], indirect=True)


@contextlib.contextmanager
def edit(db: Path) -> Iterator[sqlite3.Connection]:
    """The SQLite file opened as anyone could, immutability triggers dropped."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        names = conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()
        for (name,) in names:
            conn.execute(f"DROP TRIGGER {name}")
        yield conn
    finally:
        conn.close()


async def test_an_untouched_ledger_verifies(store: Store, key: LedgerKey) -> None:
    await three_payments(store, key)
    report = verify_ledger(location(store), key.public_key)
    assert report.ok, report.problems
    assert (report.transactions, report.entries) == (4, 8)
    assert "intact" in report.summary() and "4 transactions" in report.summary()


async def test_an_empty_ledger_verifies(store: Store, key: LedgerKey) -> None:
    assert verify_ledger(location(store), key.public_key).ok


async def test_another_key_does_not_verify(store: Store, key: LedgerKey, tmp_path: Path) -> None:
    await three_payments(store, key)
    other = load_or_create_ledger_key(tmp_path / "other.key")
    report = verify_ledger(location(store), other.public_key)
    assert not report.ok and "signature" in report.problems[0]


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("UPDATE ledger_entries SET amount_micros = amount_micros + 1 WHERE id = 3", "altered"),
        ("UPDATE transactions SET body = replace(body, 'log-data', 'log-date')"
         " WHERE id = (SELECT tx_id FROM ledger_chain WHERE seq = 2)", "altered"),
        ("UPDATE transactions SET amount_micros = 1"
         " WHERE id = (SELECT tx_id FROM ledger_chain WHERE seq = 1)", "altered"),
        ("UPDATE ledger_chain SET hash = '00' || substr(hash, 3) WHERE seq = 2", "link 2"),
    ],
)  # fmt: skip
@SQLITE_FILE
async def test_an_edited_entry_is_named(store: Store, key: LedgerKey, sql: str, named: str) -> None:
    await three_payments(store, key)
    with edit(store.path) as conn:
        conn.execute(sql)
    report = verify_ledger(location(store), key.public_key)
    assert not report.ok
    assert named in report.problems[0]


@SQLITE_FILE
async def test_a_deleted_entry_is_named(store: Store, key: LedgerKey) -> None:
    await three_payments(store, key)
    with edit(store.path) as conn:
        conn.execute("DELETE FROM ledger_entries WHERE id = 4")
    report = verify_ledger(location(store), key.public_key)
    assert not report.ok and "link 2" in report.problems[0]


@SQLITE_FILE
async def test_a_deleted_transaction_and_its_link_is_named(store: Store, key: LedgerKey) -> None:
    """The chain has a gap: the next link's predecessor is missing."""
    await three_payments(store, key)
    with edit(store.path) as conn:
        (tx,) = conn.execute("SELECT tx_id FROM ledger_chain WHERE seq = 2").fetchone()
        conn.execute("DELETE FROM ledger_entries WHERE tx_id = ?", (tx,))
        conn.execute("DELETE FROM transactions WHERE id = ?", (tx,))
        conn.execute("DELETE FROM ledger_chain WHERE seq = 2")
    report = verify_ledger(location(store), key.public_key)
    assert not report.ok and "link 2" in report.problems[0]


@SQLITE_FILE
async def test_the_last_transaction_cut_off_is_named(store: Store, key: LedgerKey) -> None:
    """The signed head names the last link: cutting the tail does not go unnoticed."""
    await three_payments(store, key)
    with edit(store.path) as conn:
        (tx,) = conn.execute("SELECT tx_id FROM ledger_chain WHERE seq = 4").fetchone()
        conn.execute("DELETE FROM ledger_entries WHERE tx_id = ?", (tx,))
        conn.execute("DELETE FROM transactions WHERE id = ?", (tx,))
        conn.execute("DELETE FROM ledger_chain WHERE seq = 4")
    report = verify_ledger(location(store), key.public_key)
    assert not report.ok and "head" in report.problems[0]


@SQLITE_FILE
async def test_an_inserted_entry_is_named(store: Store, key: LedgerKey) -> None:
    await three_payments(store, key)
    with edit(store.path) as conn:
        (tx,) = conn.execute("SELECT tx_id FROM ledger_chain WHERE seq = 3").fetchone()
        conn.execute(
            "INSERT INTO ledger_entries (tx_id, account, amount_micros, created)"
            " VALUES (?, 'sub-pkp:s', 5000000, 0)", (tx,)
        )  # fmt: skip
    report = verify_ledger(location(store), key.public_key)
    assert not report.ok and "link 3" in report.problems[0]


@SQLITE_FILE
async def test_an_inserted_transaction_is_named(store: Store, key: LedgerKey) -> None:
    await three_payments(store, key)
    with edit(store.path) as conn:
        conn.execute(
            "INSERT INTO transactions (id, analysis_id, sub_pkp_id, amount_micros, created,"
            " reverses, body) VALUES ('tx_forged', 'ghost', 's', 9000000, 0, NULL, '{}')"
        )
        conn.execute(
            "INSERT INTO ledger_entries (tx_id, account, amount_micros, created)"
            " VALUES ('tx_forged', 'sub-pkp:s', 9000000, 0)"
        )
    report = verify_ledger(location(store), key.public_key)
    assert not report.ok and "tx_forged" in report.problems[0]


@SQLITE_FILE
async def test_an_inserted_link_is_named(store: Store, key: LedgerKey) -> None:
    """A forged link in the middle: its signature (and its successor's back link) fail."""
    await three_payments(store, key)
    with edit(store.path) as conn:
        conn.execute("UPDATE ledger_chain SET seq = -seq WHERE seq >= 2")
        conn.execute("UPDATE ledger_chain SET seq = 1 - seq WHERE seq < 0")
        conn.execute(
            "INSERT INTO ledger_chain (seq, tx_id, prev_hash, hash, signature, genesis)"
            " SELECT 2, 'tx_forged', hash, hash, signature, 0 FROM ledger_chain WHERE seq = 1"
        )
    report = verify_ledger(location(store), key.public_key)
    assert not report.ok and "link 2" in report.problems[0]


@SQLITE_FILE
async def test_an_edited_balance_is_named(store: Store, key: LedgerKey) -> None:
    await three_payments(store, key)
    with edit(store.path) as conn:
        conn.execute("UPDATE balances SET balance_micros = 0 WHERE account = 'sub-pkp:s'")
    report = verify_ledger(location(store), key.public_key)
    assert not report.ok and "sub-pkp:s" in report.problems[0]


async def test_reversing_takes_back_the_points_once(store: Store, key: LedgerKey) -> None:
    """A reversal takes back the payment's points; reversing again answers the same
    reversal; a reversal itself cannot be reversed."""
    ledger = Ledger(store, GameRules(), signer=key)
    await record(ledger, analysis("a", "s", "3.00"))  # quality 85: 30 points × 1.5
    tx = (await ledger.pay("a")).transaction
    (points,) = await store.fetchone("SELECT points_micro FROM game_state") or (0,)
    assert points == 45_000_000
    first = await ledger.reverse(tx.id, "refund")
    again = await ledger.reverse(tx.id, "refund")
    assert again.transaction.id == first.transaction.id and not again.created
    (points, xp) = await store.fetchone("SELECT points_micro, xp FROM game_state") or (0, 0)
    assert points == 0
    assert xp == 550  # First Sale and Data Detective stay, with their XP
    with pytest.raises(NotReversibleError):
        await ledger.reverse(first.transaction.id, "again")
    (n,) = await store.fetchone("SELECT COUNT(*) FROM transactions") or (0,)
    assert n == 2
    events = [r[0] for r in await store.fetchall("SELECT type FROM events ORDER BY id")]
    assert events.count("log.payment.reversed") == 1
    assert verify_ledger(location(store), key.public_key).ok


async def test_rows_written_before_signing_are_sealed_once(
    store: Store, key: LedgerKey, tmp_path: Path
) -> None:
    """Rows from before the ledger was signed are chained at the first signed start; rows
    added unsigned after that are reported as inserted."""
    unsigned = Ledger(store, GameRules())
    await record(unsigned, analysis("old", "s", "1.00"))
    await unsigned.pay("old")
    assert not verify_ledger(location(store), key.public_key).ok
    signed = Ledger(store, GameRules(), signer=key)
    await signed.seal()
    report = verify_ledger(location(store), key.public_key)
    assert report.ok and report.sealed == 1
    await record(unsigned, analysis("late", "s", "1.00"))
    await unsigned.pay("late")
    report = verify_ledger(location(store), key.public_key)
    assert not report.ok and "is in no signed link" in report.problems[0]


async def test_a_store_from_before_the_migration_is_sealed(tmp_path: Path, key: LedgerKey) -> None:
    """A store at the last unsigned schema version, with a payment in it, upgraded."""
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db, isolation_level=None)
    from logmarketd.store.db import _split_sql

    for script in MIGRATIONS[:7]:
        for statement in _split_sql(script):
            conn.execute(statement)
    conn.execute("PRAGMA user_version=7")
    conn.close()
    store = await Store.open(db, sync="normal")
    try:
        old = Ledger(store, GameRules())
        await record(old, analysis("old", "s", "2.00"))
        await old.pay("old")
        await Ledger(store, GameRules(), signer=key).seal()
        report = verify_ledger(db, key.public_key)
        assert report.ok and report.sealed == 1
    finally:
        await store.close()


def test_the_key_is_made_once_private_and_a_damaged_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.key"
    key = load_or_create_ledger_key(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_or_create_ledger_key(path).public_pem() == key.public_pem()
    assert load_public_key(key.public_pem()).public_bytes_raw() == key.public_raw()
    assert load_public_key(key.public_b64()).public_bytes_raw() == key.public_raw()
    path.write_text("not a key\n")
    with pytest.raises(ValueError, match=r"ledger\.key"):
        load_or_create_ledger_key(path)
    assert path.read_text() == "not a key\n"  # never replaced
