"""The SQLite store: one file under the state directory, WAL mode, schema migrated on open.

Everything durable lives here: the inbox of received batches, per-client sequence state,
running totals (kept as counters, so they survive pruning and restarts), and the tables later
stages add. One :class:`Store` owns one aiosqlite connection; the inbox writer is its only
writer on the hot path.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import aiosqlite
import structlog

from logmarketd.errors import StartupError
from logmarketd.store.schema import MIGRATIONS, SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION", "Store", "Write", "apply_writes"]

# One statement and the parameter rows to run it with: written by one stage, to be committed
# in a transaction another owns (so that both commit or neither does).
Write = tuple[str, list[tuple[Any, ...]]]


async def apply_writes(tx: aiosqlite.Connection, writes: Iterable[Write]) -> None:
    """Run each write in ``tx``, the caller's transaction."""
    for sql, rows in writes:
        await tx.executemany(sql, rows)


log = structlog.get_logger("logmarketd.store")


class Store:
    """An open store. Use :meth:`open` to get one and :meth:`close` when done.

    Two connections: ``db`` writes, only inside :meth:`transaction` (an asyncio lock makes
    the writers take turns, so two coroutines never interleave statements of their
    transactions); ``reader`` serves queries, and under WAL it sees only committed data.
    """

    engine = "sqlite"

    def __init__(self, path: Path, db: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self.path = path
        self.db = db
        self.reader = reader
        self._write_lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` on the writer; ``ROLLBACK`` if the body raises."""
        async with self._write_lock:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    await self.db.execute("ROLLBACK")
                raise
            try:
                await self.db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    await self.db.execute("ROLLBACK")
                raise

    @classmethod
    async def open(cls, path: Path, *, sync: str = "full") -> Store:
        """Open (creating if needed) and migrate the store; ``StartupError`` when it cannot."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # First with plain sqlite3: a file that cannot be opened fails here. aiosqlite's
            # failed connect stops its worker thread without waiting, and that thread then
            # reports to an event loop already closed (a traceback after the clear error).
            sqlite3.connect(path).close()
            db = await aiosqlite.connect(path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StartupError(f"cannot open the store at {path}: {exc}") from exc
        reader: aiosqlite.Connection | None = None
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute(f"PRAGMA synchronous={'FULL' if sync == 'full' else 'NORMAL'}")
            await db.execute("PRAGMA busy_timeout=5000")
            # Deleted rows (analysed records) are overwritten, not left in free pages.
            await db.execute("PRAGMA secure_delete=ON")
            await _check_integrity(db, path)
            await _migrate(db)
            await _check_inbox_sequence(db)
            reader = await aiosqlite.connect(path, isolation_level=None)
            await reader.execute("PRAGMA busy_timeout=5000")
            await reader.execute("PRAGMA query_only=1")
        except sqlite3.Error as exc:
            await db.close()
            if reader is not None:
                await reader.close()
            raise StartupError(
                f"the store at {path} cannot be used ({exc}); if the file is damaged, move it "
                "aside and start again (clients resend what was not acknowledged)"
            ) from exc
        return cls(path, db, reader)

    async def close(self) -> None:
        await self.reader.close()
        await self.db.close()

    # -- small queries ----------------------------------------------------------------

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> tuple[Any, ...] | None:
        """One row of a read-only query, on the reader (committed data only)."""
        async with self.reader.execute(sql, tuple(params)) as cur:
            row = await cur.fetchone()
        return tuple(row) if row is not None else None

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows of a read-only query, on the reader (committed data only)."""
        async with self.reader.execute(sql, tuple(params)) as cur:
            rows = await cur.fetchall()
        return [tuple(r) for r in rows]

    async def counters(self) -> dict[str, int]:
        return {name: int(value) for name, value in await self.fetchall("SELECT * FROM counters")}

    async def inbox_depth(self) -> int:
        row = await self.fetchone("SELECT COALESCE(SUM(n_records), 0) FROM inbox")
        return int(row[0]) if row else 0

    async def client_secret(self, client_id: str) -> str | None:
        """The SHA-256 (hex) of the secret a client id is bound to; None if not bound yet."""
        row = await self.fetchone(
            "SELECT secret_sha256 FROM clients WHERE client_id = ?", (client_id,)
        )
        return str(row[0]) if row and row[0] is not None else None

    async def bind_client_secret(self, client_id: str, secret_sha256: str, now: float) -> str:
        """Bind a client id to a secret unless it is bound already; the hash in force."""
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO clients (client_id, last_seq, dropped, first_seen, last_seen,"
                " secret_sha256) VALUES (?, -1, 0, ?, ?, ?) ON CONFLICT(client_id) DO UPDATE"
                " SET secret_sha256 = excluded.secret_sha256 WHERE secret_sha256 IS NULL",
                (client_id, now, now, secret_sha256),
            )
            async with db.execute(
                "SELECT secret_sha256 FROM clients WHERE client_id = ?", (client_id,)
            ) as cur:
                row = await cur.fetchone()
        assert row is not None
        return str(row[0])

    async def client_state(self, client_id: str) -> tuple[int, int]:
        """(last committed seq, cumulative dropped reported) of a client; (-1, 0) if new."""
        row = await self.fetchone(
            "SELECT last_seq, dropped FROM clients WHERE client_id = ?", (client_id,)
        )
        return (int(row[0]), int(row[1])) if row else (-1, 0)


async def _check_integrity(db: aiosqlite.Connection, path: Path) -> None:
    """Refuse a damaged store before anything is written into it."""
    async with db.execute("PRAGMA quick_check(5)") as cur:
        problems = [str(r[0]) for r in await cur.fetchall()]
    if problems != ["ok"]:
        raise StartupError(
            f"the store at {path} is damaged ({'; '.join(problems)[:400]}). Stop every "
            f"logmarketd using it, move {path.name} and its -wal/-shm files aside (keep them: "
            f"'sqlite3 {path.name} .recover' salvages what is readable) and start again; "
            "clients resend whatever was not acknowledged"
        )


async def _check_inbox_sequence(db: aiosqlite.Connection) -> None:
    """The inbox's next row id must lie above every position the pipeline recorded, or new
    rows would be skipped as already analysed."""
    async with db.execute(
        "SELECT (SELECT seq FROM sqlite_sequence WHERE name = 'inbox'),"
        " MAX((SELECT COALESCE(MAX(row_id), 0) FROM window_cursors),"
        " (SELECT COALESCE(MAX(last_row), 0) FROM windows))"
    ) as cur:
        row = await cur.fetchone()
    assert row is not None
    seq, highest = int(row[0] or 0), int(row[1] or 0)
    if seq < highest:
        # Only a store changed outside logmarketd gets here (the migration to v7 set it).
        log.warning("inbox row ids were below the pipeline's position; raised", seq=seq,
                    position=highest)  # fmt: skip
        await db.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'inbox'", (highest,))


async def _migrate(db: aiosqlite.Connection) -> None:
    async with db.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    version = int(row[0]) if row else 0
    if version > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(
            f"schema version {version} is newer than this daemon's {SCHEMA_VERSION}"
        )
    for i in range(version, SCHEMA_VERSION):
        await db.execute("BEGIN IMMEDIATE")
        try:
            for statement in _split_sql(MIGRATIONS[i]):
                await db.execute(statement)
            await db.execute(f"PRAGMA user_version={i + 1}")
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise


def _split_sql(script: str) -> list[str]:
    """The statements of a migration script, triggers (with inner semicolons) included."""
    statements: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip():
        raise sqlite3.DatabaseError(f"incomplete statement in migration: {current.strip()[:80]}")
    return statements
