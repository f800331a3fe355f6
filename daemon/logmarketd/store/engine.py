"""The marketplace's store, on either engine: the embedded SQLite (:class:`~.db.Store`, the
default) or a PostgreSQL shared by a fleet of daemons (:class:`~.pg.PgStore`).

The market's code (ledger, marketplace, chain, events, keys) speaks to one interface:
:class:`MarketStore` (``transaction()``, ``fetchone``, ``fetchall``) and, inside a
transaction, :class:`Conn` (``execute`` usable as ``await`` or ``async with``,
``executemany``, ``execute_insert``, ``in_transaction``) — the shape of an aiosqlite
connection, which the SQLite store hands out as it is. Its SQL is written once, in the
common dialect of both engines (``?`` parameters, ``INSERT … ON CONFLICT``, qualified columns
in an upsert's ``SET``); :func:`to_postgres` is the one place it is translated.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "POSTGRES_SCHEMES",
    "Conn",
    "MarketStore",
    "StoreUnavailableError",
    "is_postgres_dsn",
    "redacted",
    "to_postgres",
]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class StoreUnavailableError(ConnectionError):
    """The shared store cannot be reached now (an OSError, as a SQLite file that cannot be
    read is): what waits on it waits, ingest goes on."""


def is_postgres_dsn(value: str | None) -> bool:
    return value is not None and value.startswith(POSTGRES_SCHEMES)


class Conn(Protocol):
    """A connection inside a transaction (an aiosqlite connection has this shape)."""

    @property
    def in_transaction(self) -> bool: ...

    def execute(self, sql: str, parameters: Iterable[Any] | None = ...) -> Any: ...

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> Any: ...

    async def execute_insert(self, sql: str, parameters: Iterable[Any] | None = ...) -> Any: ...


class MarketStore(Protocol):
    """Where the marketplace keeps its state."""

    engine: str  # "sqlite" or "postgresql"

    def transaction(self) -> AbstractAsyncContextManager[Any]: ...

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> tuple[Any, ...] | None: ...

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]: ...

    async def close(self) -> None: ...


# A quoted literal, or one of the things translated outside literals.
_TOKENS = re.compile(r"'(?:[^']|'')*'|\?|%|\bINSERT\s+OR\s+IGNORE\s+INTO\b", re.IGNORECASE)


def to_postgres(sql: str) -> str:
    """The PostgreSQL text of a statement in the common dialect: ``?`` -> ``%s``, a literal
    ``%`` doubled (psycopg's placeholders), ``INSERT OR IGNORE`` -> ``ON CONFLICT DO NOTHING``.
    Quoted literals are left as they are."""
    ignore = False

    def sub(m: re.Match[str]) -> str:
        nonlocal ignore
        text = m.group(0)
        if text.startswith("'"):
            return text.replace("%", "%%")
        if text == "?":
            return "%s"
        if text == "%":
            return "%%"
        ignore = True
        return "INSERT INTO"

    out = _TOKENS.sub(sub, sql)
    if ignore:
        out = out.rstrip().rstrip(";") + " ON CONFLICT DO NOTHING"
    return out


def redacted(dsn: str) -> str:
    """The DSN without its password (for messages and logs)."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))
