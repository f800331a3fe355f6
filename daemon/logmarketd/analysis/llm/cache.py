"""Enrichment cache: one model answer per (template fingerprint, provider, model, prompt version),
and the tokens spent per UTC day.

A template seen again (in the next window, or after a restart) costs no request. The answer is
stored as JSON with its citations as *positions* in the evidence list the model saw, so a hit
for a later window (same template, other line numbers) maps them onto that window's lines.

Two implementations behind one small interface: :class:`MemoryCache` (tests, ``rules``-only
runs) and :class:`SqliteCache` (aiosqlite, in the daemon's database or a file of its own).
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import aiosqlite

__all__ = ["CACHE_DDL", "CacheKey", "CachedAnswer", "EnrichmentCache", "MemoryCache", "SqliteCache"]

CACHE_DDL = """\
CREATE TABLE IF NOT EXISTS llm_cache (
    fingerprint    TEXT    NOT NULL,  -- template fingerprint of the finding group, or digest:<hash>
    provider       TEXT    NOT NULL,  -- openai | anthropic | openai-compatible
    model          TEXT    NOT NULL,
    prompt_version TEXT    NOT NULL,
    answer         TEXT    NOT NULL,  -- JSON: root_cause, suggested_fix, severity, evidence_index
                                      -- (a digest's: the list of findings the model reported)
    tokens         INTEGER NOT NULL DEFAULT 0,
    created_at     REAL    NOT NULL,  -- unix seconds
    hits           INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (fingerprint, provider, model, prompt_version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS llm_usage (
    day      TEXT    PRIMARY KEY,         -- UTC date, YYYY-MM-DD
    tokens   INTEGER NOT NULL DEFAULT 0,  -- tokens spent that day (what the providers reported)
    requests INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
"""


@dataclass(frozen=True, slots=True)
class CacheKey:
    """What makes two requests the same request."""

    fingerprint: str
    provider: str
    model: str
    prompt_version: str


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """A validated answer as cached: citations are 0-based positions in the evidence shown."""

    root_cause: str
    suggested_fix: str
    severity: str | None
    evidence_index: tuple[int, ...]
    tokens: int = 0

    def to_json(self) -> str:
        return json.dumps(
            {
                "root_cause": self.root_cause,
                "suggested_fix": self.suggested_fix,
                "severity": self.severity,
                "evidence_index": list(self.evidence_index),
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str, tokens: int = 0) -> CachedAnswer:
        data = json.loads(text)
        return cls(
            str(data["root_cause"]),
            str(data["suggested_fix"]),
            None if data["severity"] is None else str(data["severity"]),
            tuple(int(i) for i in data["evidence_index"]),
            tokens,
        )


class EnrichmentCache(Protocol):
    """The cache interface the enricher uses.

    It also keeps the tokens spent per UTC day, so a restart does not refill the budget.
    """

    async def get(self, key: CacheKey) -> CachedAnswer | None: ...

    async def put(self, key: CacheKey, answer: CachedAnswer) -> None: ...

    async def get_raw(self, key: CacheKey) -> tuple[str, int] | None: ...

    async def put_raw(self, key: CacheKey, answer: str, tokens: int) -> None: ...

    async def load_usage(self, day: str) -> int: ...

    async def add_usage(self, day: str, tokens: int) -> None: ...


class MemoryCache:
    """In-memory twin of :class:`SqliteCache`, bounded (least recently used goes first)."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._data: OrderedDict[CacheKey, tuple[str, int]] = OrderedDict()
        self._max = max_entries
        self._usage: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._data)

    async def get(self, key: CacheKey) -> CachedAnswer | None:
        raw = await self.get_raw(key)
        return None if raw is None else CachedAnswer.from_json(*raw)

    async def put(self, key: CacheKey, answer: CachedAnswer) -> None:
        await self.put_raw(key, answer.to_json(), answer.tokens)

    async def get_raw(self, key: CacheKey) -> tuple[str, int] | None:
        """A cached answer's JSON text and tokens (any answer: enrichment or discovery)."""
        raw = self._data.get(key)
        if raw is not None:
            self._data.move_to_end(key)
        return raw

    async def put_raw(self, key: CacheKey, answer: str, tokens: int) -> None:
        self._data[key] = (answer, tokens)
        self._data.move_to_end(key)
        while len(self._data) > self._max:
            self._data.popitem(last=False)

    async def load_usage(self, day: str) -> int:
        return self._usage.get(day, 0)

    async def add_usage(self, day: str, tokens: int) -> None:
        self._usage[day] = self._usage.get(day, 0) + tokens


class SqliteCache:
    """The ``llm_cache`` table through aiosqlite.

    Pass an open connection (the daemon's own store; this class creates the table but never
    closes it) or use :meth:`open` for a file of its own (closed by :meth:`close`).
    """

    def __init__(self, db: aiosqlite.Connection, *, owned: bool = False) -> None:
        self._db = db
        self._owned = owned
        self._ready = False

    @classmethod
    async def open(cls, path: str | Path) -> SqliteCache:
        """A cache in its own SQLite file (WAL), table created."""
        db = await aiosqlite.connect(str(path))
        await db.execute("PRAGMA journal_mode=WAL")
        cache = cls(db, owned=True)
        await cache._ensure()
        return cache

    async def _ensure(self) -> None:
        if not self._ready:
            await self._db.executescript(CACHE_DDL)
            await self._db.commit()
            self._ready = True

    async def get(self, key: CacheKey) -> CachedAnswer | None:
        raw = await self.get_raw(key)
        return None if raw is None else CachedAnswer.from_json(*raw)

    async def put(self, key: CacheKey, answer: CachedAnswer) -> None:
        await self.put_raw(key, answer.to_json(), answer.tokens)

    async def get_raw(self, key: CacheKey) -> tuple[str, int] | None:
        """A cached answer's JSON text and tokens (any answer: enrichment or discovery)."""
        await self._ensure()
        params = (key.fingerprint, key.provider, key.model, key.prompt_version)
        where = "fingerprint = ? AND provider = ? AND model = ? AND prompt_version = ?"
        async with self._db.execute(
            f"SELECT answer, tokens FROM llm_cache WHERE {where}", params
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        await self._db.execute(f"UPDATE llm_cache SET hits = hits + 1 WHERE {where}", params)
        await self._db.commit()
        return str(row[0]), int(row[1])

    async def put_raw(self, key: CacheKey, answer: str, tokens: int) -> None:
        await self._ensure()
        await self._db.execute(
            "INSERT INTO llm_cache (fingerprint, provider, model, prompt_version, answer, tokens,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (fingerprint, provider, model, prompt_version) DO UPDATE SET"
            " answer = excluded.answer, tokens = excluded.tokens, created_at = excluded.created_at",
            (
                key.fingerprint,
                key.provider,
                key.model,
                key.prompt_version,
                answer,
                tokens,
                time.time(),
            ),
        )
        await self._db.commit()

    async def load_usage(self, day: str) -> int:
        await self._ensure()
        async with self._db.execute("SELECT tokens FROM llm_usage WHERE day = ?", (day,)) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row is not None else 0

    async def add_usage(self, day: str, tokens: int) -> None:
        await self._ensure()
        await self._db.execute(
            "INSERT INTO llm_usage (day, tokens, requests) VALUES (?, ?, 1)"
            " ON CONFLICT (day) DO UPDATE SET tokens = tokens + excluded.tokens,"
            " requests = requests + 1",
            (day, tokens),
        )
        await self._db.commit()

    async def close(self) -> None:
        """Close the connection if this cache opened it."""
        if self._owned:
            await self._db.close()
