"""Sub-PKP API keys in the store: made by the admin, checked by ingest and the API, revoked.

A key looks like ``lmk_<keyid>_<secret>``; only a SHA-256 of the secret is stored (the secret
has 256 bits of entropy, so a slow hash adds nothing), and comparisons are constant-time. A
Sub-PKP exists for the socket when the admin has made a key for it (``logmarket keys create``).

Every check reads the key's row (one primary-key lookup), so a revocation — by the CLI in
another process or by the admin endpoint — holds from the very next check.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from logmarketd.store.db import Store
from logmarketd.store.engine import is_postgres_dsn, to_postgres

__all__ = [
    "RevokedKey",
    "check_key_hash",
    "create_key",
    "hash_secret",
    "key_owner",
    "load_key",
    "parse_key",
    "revoke_key",
    "revoke_keys",
]


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def check_key_hash(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def parse_key(key: str) -> tuple[str, str] | None:
    """``lmk_<keyid>_<secret>`` → (keyid, secret), or None if it is not shaped like one."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "lmk" or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


class _Translated:
    """A PostgreSQL connection with sqlite3's ``execute``/``executemany`` (common dialect)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(to_postgres(sql), tuple(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = [tuple(r) for r in rows]
        if rows:
            self.conn.cursor().executemany(to_postgres(sql), rows)


@contextlib.contextmanager
def _writing(where: Path | str) -> Iterator[Any]:
    """One transaction on the store at ``where``: the SQLite file, or the shared store a
    ``postgresql://`` DSN names; committed when the block ends, rolled back if it raises."""
    if isinstance(where, str) and is_postgres_dsn(where):
        import psycopg  # the fleet extra

        from logmarketd.store.pg import take_write_turn

        with psycopg.connect(where, connect_timeout=10) as pg:
            take_write_turn(pg)  # writers take turns fleet-wide, as the daemons' do
            yield _Translated(pg)
        return
    conn = sqlite3.connect(where, timeout=10)
    try:
        with conn:
            yield conn
    finally:
        conn.close()


def create_key(db_path: Path | str, sub_pkp_id: str) -> str:
    """Create an API key for a Sub-PKP directly in the store (the SQLite file, or a shared
    store's DSN); returns the key (shown once)."""
    if not sub_pkp_id or len(sub_pkp_id) > 256:
        raise ValueError("a Sub-PKP id is 1 to 256 characters")
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    with _writing(db_path) as conn:
        conn.execute(
            "INSERT INTO api_keys VALUES (?, ?, ?, ?, NULL)",
            (key_id, sub_pkp_id, hash_secret(secret), time.time()),
        )
    return f"lmk_{key_id}_{secret}"


@dataclass(frozen=True, slots=True)
class RevokedKey:
    key_id: str
    sub_pkp_id: str
    revoked: float  # Unix seconds; the first revocation's time when revoked again


_REVOKE = "UPDATE api_keys SET revoked = ? WHERE key_id = ? AND revoked IS NULL"
_REVOKED_ROW = "SELECT key_id, sub_pkp_id, revoked FROM api_keys WHERE key_id = ?"


def revoke_keys(db_path: Path | str, key_or_sub: str) -> list[RevokedKey]:
    """Revoke a key (by its key id, or the whole key) or, when no key has that id, every key
    of the Sub-PKP of that id. Revoking again changes nothing; returns what is now revoked
    (empty: no such key or Sub-PKP)."""
    parsed = parse_key(key_or_sub)
    key_id = parsed[0] if parsed else key_or_sub
    with _writing(db_path) as conn:
        ids = [r[0] for r in conn.execute("SELECT key_id FROM api_keys WHERE key_id = ?",
                                          (key_id,))]  # fmt: skip
        if not ids:
            ids = [r[0] for r in conn.execute(
                "SELECT key_id FROM api_keys WHERE sub_pkp_id = ?", (key_or_sub,))]  # fmt: skip
        now = time.time()
        conn.executemany(_REVOKE, [(now, i) for i in ids])
        rows = [conn.execute(_REVOKED_ROW, (i,)).fetchone() for i in ids]
    return [RevokedKey(*row) for row in rows]


async def revoke_key(store: Store, key_id: str) -> RevokedKey | None:
    """Revoke one key by its id in the daemon's store; None when there is no such key."""
    async with store.transaction() as tx:
        await tx.execute(_REVOKE, (time.time(), key_id))
        async with tx.execute(_REVOKED_ROW, (key_id,)) as cur:
            row = await cur.fetchone()
    return None if row is None else RevokedKey(*row)


async def load_key(store: Store, key_id: str) -> tuple[str, str] | None:
    """(Sub-PKP id, secret hash) of a live (not revoked) key, or None."""
    row = await store.fetchone(
        "SELECT sub_pkp_id, secret_hash FROM api_keys WHERE key_id = ? AND revoked IS NULL",
        (key_id,),
    )
    return None if row is None else (row[0], row[1])


async def key_owner(store: Store, key: str) -> tuple[str, str] | None:
    """(key id, Sub-PKP id) of a whole key that is live and whose secret matches, else None."""
    parsed = parse_key(key)
    if parsed is None:
        return None
    entry = await load_key(store, parsed[0])
    if entry is None or not check_key_hash(parsed[1], entry[1]):
        return None
    return parsed[0], entry[0]
