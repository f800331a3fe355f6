"""The ledger's hash chain: every transaction signed, in order, checkable offline.

Each transaction (a payment, its settlement or a reversal) gets one link in ``ledger_chain``, written in the
same database transaction as the transaction itself. A link holds its sequence number, the
previous link's hash, and the SHA-256 of its canonical content (:func:`canonical`: the
sequence number, the previous hash, the transaction row and its ledger entries, money in
integer micros); the marketplace's Ed25519 key signs that hash. ``ledger_head`` holds the
last link's number and hash, signed as the head, so cutting links off the end shows too.

:func:`verify_ledger` needs only the SQLite file and the public key: it recomputes every
link from the rows, checks the signatures and the back links, that every transaction and
entry is in a link, and that every balance is the sum of its entries. It cannot see a whole
file swapped for an older copy of itself: compare the head with one kept elsewhere (the
public-key endpoint serves it) for that.

Transactions already stored when the chain was added are chained once, at the first signed
start (``genesis`` links, in the order they were written); after that, nothing unsigned is
ever chained, so a row slipped in later is reported, not sealed.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosqlite
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from logmarketd.market.signing import LedgerKey, signature_ok
from logmarketd.store.engine import is_postgres_dsn, redacted, to_postgres

__all__ = [
    "ChainReport",
    "LedgerUnreadableError",
    "append_link",
    "canonical",
    "head_signed_by",
    "seal_genesis",
    "verify_ledger",
]

START = "0" * 64  # the "previous hash" of the first link
_LINK = b"logmarket-ledger-link-v1\n"
_HEAD = b"logmarket-ledger-head-v1\n"
_TX = (
    "SELECT id, analysis_id, sub_pkp_id, amount_micros, created, reverses, body, settles"
    " FROM transactions"
)
_ENTRIES = "SELECT id, tx_id, account, amount_micros, created FROM ledger_entries"


class LedgerUnreadableError(ValueError):
    """The file is not a store with a signed ledger (missing, not SQLite, too old)."""


def canonical(seq: int, prev: str, tx: Sequence[Any], entries: Sequence[Sequence[Any]]) -> bytes:
    """The bytes a link's hash covers: one JSON text, keys sorted, no spaces, ASCII."""
    doc = {"v": 1, "seq": seq, "prev": prev, "tx": list(tx), "entries": [list(e) for e in entries]}
    return json.dumps(
        doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def _hash(seq: int, prev: str, tx: Sequence[Any], entries: Sequence[Sequence[Any]]) -> str:
    # ``settles`` (the last column) came later: a row without it hashes as it always did.
    row = tx[:-1] if tx[-1] is None else tx
    return hashlib.sha256(canonical(seq, prev, row, entries)).hexdigest()


def _link_message(digest: str) -> bytes:
    return _LINK + bytes.fromhex(digest)


def _head_message(seq: int, digest: str) -> bytes:
    return _HEAD + f"{seq}:{digest}".encode("ascii")


# -- writing (inside the caller's transaction) ----------------------------------------------


async def append_link(
    conn: aiosqlite.Connection, key: LedgerKey, tx_id: str, *, genesis: bool = False
) -> None:
    """Chain the transaction ``tx_id`` (already written, with its entries) after the last link."""
    async with conn.execute("SELECT seq, hash FROM ledger_chain ORDER BY seq DESC LIMIT 1") as cur:
        last = await cur.fetchone()
    seq, prev = (int(last[0]) + 1, str(last[1])) if last else (1, START)
    async with conn.execute(_TX + " WHERE id = ?", (tx_id,)) as cur:
        tx = await cur.fetchone()
    assert tx is not None, tx_id
    async with conn.execute(
        "SELECT id, account, amount_micros, created FROM ledger_entries WHERE tx_id = ?"
        " ORDER BY id",
        (tx_id,),
    ) as cur:
        entries = list(await cur.fetchall())
    digest = _hash(seq, prev, tx, entries)
    await conn.execute(
        "INSERT INTO ledger_chain (seq, tx_id, prev_hash, hash, signature, genesis)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (seq, tx_id, prev, digest, key.sign(_link_message(digest)).hex(), int(genesis)),
    )
    await conn.execute(
        "INSERT INTO ledger_head (id, seq, hash, signature) VALUES (1, ?, ?, ?)"
        " ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash,"
        " signature = excluded.signature",
        (seq, digest, key.sign(_head_message(seq, digest)).hex()),
    )


async def seal_genesis(conn: aiosqlite.Connection, key: LedgerKey) -> int:
    """Chain the transactions stored before the ledger was signed, once; how many."""
    async with conn.execute("SELECT value FROM ledger_meta WHERE name = 'genesis'") as cur:
        row = await cur.fetchone()
    if row is None or row[0] != "pending":
        return 0
    async with conn.execute(
        "SELECT id FROM transactions WHERE id NOT IN (SELECT tx_id FROM ledger_chain)"
        " ORDER BY rowid"
    ) as cur:
        ids = [str(r[0]) for r in await cur.fetchall()]
    for tx_id in ids:
        await append_link(conn, key, tx_id, genesis=True)
    await conn.execute("UPDATE ledger_meta SET value = 'done' WHERE name = 'genesis'")
    return len(ids)


async def head_signed_by(store: Any, public_key: Ed25519PublicKey) -> bool | None:
    """Whether the chain's head was signed with ``public_key``'s key (None: no head yet).
    A fleet's daemons must all sign with one key."""
    row = await store.fetchone("SELECT seq, hash, signature FROM ledger_head WHERE id = 1")
    if row is None:
        return None
    return _signed(public_key, row[2], _head_message, int(row[0]), str(row[1]))


# -- verifying (offline, from the file) -----------------------------------------------------


@dataclass(slots=True)
class ChainReport:
    """What :func:`verify_ledger` found; ``problems`` in the order met, the first bad first."""

    transactions: int = 0
    entries: int = 0
    links: int = 0
    sealed: int = 0  # links made for rows from before the ledger was signed
    head: tuple[int, str] = (0, START)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if not self.ok:
            more = len(self.problems) - 1
            return f"ledger NOT intact: {self.problems[0]}" + (
                f" ({more} more problem{'s' * (more > 1)})" if more else ""
            )
        sealed = f", {self.sealed} sealed from before signing" if self.sealed else ""
        return (
            f"ledger intact: {self.transactions} transactions, {self.entries} entries in "
            f"{self.links} signed links{sealed}; head {self.head[0]} {self.head[1][:16]}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "transactions": self.transactions, "entries": self.entries,
            "links": self.links, "sealed": self.sealed,
            "head": {"sequence": self.head[0], "hash": self.head[1]},
            "firstProblem": self.problems[0] if self.problems else None,
            "problems": self.problems, "summary": self.summary(),
        }  # fmt: skip


def verify_ledger(db: Path | str, public_key: Ed25519PublicKey) -> ChainReport:
    """Check the ledger in the SQLite file ``db`` (opened read-only), or in the PostgreSQL
    store a ``postgresql://`` DSN names (in one read-only transaction), against
    ``public_key``; ``LedgerUnreadableError`` when it holds no signed ledger to check."""
    if isinstance(db, str) and is_postgres_dsn(db):
        return _verify_postgres(db, public_key)
    db = Path(db)
    if not db.is_file():
        raise LedgerUnreadableError(f"no store at {db}")
    try:
        conn = sqlite3.connect(db.resolve().as_uri() + "?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise LedgerUnreadableError(f"cannot open {db}: {exc}") from None
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        columns = {r[1] for r in conn.execute("PRAGMA table_info(transactions)")}
        if "ledger_chain" not in tables or "settles" not in columns:
            raise LedgerUnreadableError(
                "this store has no signed ledger yet: start the daemon once to upgrade it"
            )
        return _verify(conn, public_key)
    except sqlite3.Error as exc:
        raise LedgerUnreadableError(f"cannot read the ledger in {db}: {exc}") from None
    finally:
        conn.close()


class _PgReader:
    """A read-only PostgreSQL connection with sqlite3's ``execute`` (common-dialect SQL)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(to_postgres(sql), tuple(params))


def _verify_postgres(dsn: str, public_key: Ed25519PublicKey) -> ChainReport:
    try:
        import psycopg
    except ImportError:
        raise LedgerUnreadableError("reading a PostgreSQL store needs the fleet extra") from None
    try:
        with psycopg.connect(dsn) as conn:
            conn.read_only = True
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ  # one snapshot
            found = conn.execute(
                "SELECT count(*) FROM information_schema.columns WHERE table_schema ="
                " current_schema() AND table_name = 'transactions' AND column_name = 'settles'"
            ).fetchone()
            if not found or not found[0]:
                raise LedgerUnreadableError("this store has no signed ledger yet")
            return _verify(_PgReader(conn), public_key)
    except psycopg.Error as exc:
        raise LedgerUnreadableError(f"cannot read the ledger in {redacted(dsn)}: {exc}") from None


def _verify(conn: Any, public_key: Ed25519PublicKey) -> ChainReport:
    txs = {str(r[0]): r for r in conn.execute(_TX + " ORDER BY rowid")}
    entries: dict[str, list[tuple[Any, ...]]] = {}
    for eid, tx_id, account, micros, created in conn.execute(_ENTRIES + " ORDER BY id"):
        entries.setdefault(str(tx_id), []).append((eid, account, micros, created))
    report = ChainReport(transactions=len(txs), entries=sum(map(len, entries.values())))
    links = conn.execute(
        "SELECT seq, tx_id, prev_hash, hash, signature, genesis FROM ledger_chain ORDER BY seq"
    ).fetchall()
    _check_links(report, links, txs, entries, public_key)
    head = conn.execute("SELECT seq, hash, signature FROM ledger_head WHERE id = 1").fetchone()
    _check_head(report, head, public_key)
    pending = conn.execute("SELECT value FROM ledger_meta WHERE name = 'genesis'").fetchone()
    _check_unchained(report, txs, entries, pending is not None and pending[0] == "pending")
    _check_balances(report, conn)
    return report


def _check_links(
    report: ChainReport,
    links: list[tuple[Any, ...]],
    txs: dict[str, tuple[Any, ...]],
    entries: dict[str, list[tuple[Any, ...]]],
    public_key: Ed25519PublicKey,
) -> None:
    """Every link in order: its number, its back link, its content's hash, its signature.
    The transactions and entries it covers are taken out of ``txs`` and ``entries``."""
    problems = report.problems
    expected, prev = 1, START
    for seq, tx_id, prev_hash, digest, signature, genesis in links:
        if seq != expected:
            problems.append(f"link {expected} is missing: link {seq} follows link {expected - 1}")
        elif prev_hash != prev:
            problems.append(f"link {seq} does not follow link {seq - 1} (its back link differs)")
        tx = txs.pop(str(tx_id), None)
        if tx is None:
            problems.append(f"link {seq} names transaction {tx_id}, which is not in the store")
        elif _hash(seq, prev_hash, tx, entries.pop(str(tx_id), [])) != digest:
            problems.append(
                f"link {seq}: transaction {tx_id} or its entries were altered, removed or added"
                " (the content no longer matches the signed hash)"
            )
        if not _signed(public_key, signature, _link_message, digest):
            problems.append(f"link {seq}: the signature does not match (forged or altered link)")
        expected, prev = seq + 1, str(digest)
        report.sealed += int(bool(genesis))
    report.links = len(links)
    report.head = (expected - 1, prev)


def _signed(public_key: Ed25519PublicKey, signature: Any, message: Any, *args: Any) -> bool:
    try:
        return signature_ok(public_key, bytes.fromhex(str(signature)), message(*args))
    except ValueError:  # not hex: a signature nobody made
        return False


def _check_head(
    report: ChainReport, head: tuple[Any, ...] | None, public_key: Ed25519PublicKey
) -> None:
    last_seq, last_hash = report.head
    if head is None:
        if last_seq:
            report.problems.append(f"the signed head is missing (the chain has {last_seq} links)")
        return
    seq, digest, signature = head
    if not _signed(public_key, signature, _head_message, int(seq), str(digest)):
        report.problems.append("the head's signature does not match (forged or altered head)")
    elif (seq, digest) != (last_seq, last_hash):
        report.problems.append(
            f"the signed head names link {seq} but the chain ends at link {last_seq}"
            " (links were cut off or the head was replaced)"
        )


def _check_unchained(
    report: ChainReport,
    txs: dict[str, tuple[Any, ...]],
    entries: dict[str, list[tuple[Any, ...]]],
    pending: bool,
) -> None:
    """What no link covers: transactions and entries slipped in (or never sealed)."""
    why = (
        " (written before the ledger was signed: start the daemon once to seal it)"
        if pending
        else " (inserted?)"
    )
    for tx_id in txs:
        report.problems.append(f"transaction {tx_id} is in no signed link{why}")
    for tx_id, rows in entries.items():
        for row in rows:
            report.problems.append(
                f"ledger entry {row[0]} (transaction {tx_id}) is in no signed link{why}"
            )


def _check_balances(report: ChainReport, conn: Any) -> None:
    """Balances are kept for speed; each must be the sum of its account's entries."""
    sums = dict(
        conn.execute("SELECT account, SUM(amount_micros) FROM ledger_entries GROUP BY account")
    )
    balances = dict(conn.execute("SELECT account, balance_micros FROM balances"))
    for account in sorted(set(sums) | set(balances)):
        kept, summed = balances.get(account, 0), sums.get(account, 0)
        if kept != summed:
            report.problems.append(
                f"the balance of {account} is {kept} micros but its entries sum to {summed}"
            )
