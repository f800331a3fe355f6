"""The enrichment cache: DDL, the in-memory twin and the SQLite implementation agree."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiosqlite
import pytest
from logmarketd.analysis.llm import CACHE_DDL, CachedAnswer, CacheKey, MemoryCache, SqliteCache

KEY = CacheKey("tpl-1", "openai", "gpt-4o-mini", "v1")
ANSWER = CachedAnswer("pool exhausted", "raise the pool size", "high", (0, 2), 321)


def test_ddl_creates_the_table_with_the_cache_key_as_primary_key() -> None:
    """The DDL is valid SQLite, idempotent, and keyed by the four parts of the cache key."""
    db = sqlite3.connect(":memory:")
    db.executescript(CACHE_DDL)
    db.executescript(CACHE_DDL)
    pk = [row[1] for row in db.execute("PRAGMA table_info(llm_cache)") if row[5]]
    assert pk == ["fingerprint", "provider", "model", "prompt_version"]


async def test_memory_cache_round_trip_and_bound() -> None:
    """Answers come back as stored; past the bound the least recently used goes."""
    cache = MemoryCache(max_entries=2)
    assert await cache.get(KEY) is None
    await cache.put(KEY, ANSWER)
    assert await cache.get(KEY) == ANSWER
    other = [CacheKey(f"tpl-{i}", "openai", "m", "v1") for i in range(2, 4)]
    for k in other:
        await cache.put(k, ANSWER)
    assert len(cache) == 2 and await cache.get(KEY) is None


@pytest.mark.parametrize("differs", ["fingerprint", "provider", "model", "prompt_version"])
async def test_sqlite_cache_keys_on_all_four_parts(tmp_path: Path, differs: str) -> None:
    """A different provider, model or prompt version is a miss, the same key a hit."""
    cache = await SqliteCache.open(tmp_path / "c.db")
    await cache.put(KEY, ANSWER)
    assert await cache.get(KEY) == ANSWER
    values = {
        "fingerprint": "tpl-1",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "prompt_version": "v1",
    }
    values[differs] = "other"
    assert await cache.get(CacheKey(**values)) is None
    await cache.close()


async def test_sqlite_cache_on_a_shared_connection_updates_in_place(tmp_path: Path) -> None:
    """On the daemon's own connection the table is created, rows replaced, hits counted."""
    async with aiosqlite.connect(tmp_path / "store.db") as db:
        cache = SqliteCache(db)
        await cache.put(KEY, ANSWER)
        newer = CachedAnswer("new cause", "new fix", None, (1,), 10)
        await cache.put(KEY, newer)
        assert await cache.get(KEY) == newer
        await cache.close()  # not owned: the connection stays open
        async with db.execute("SELECT count(*), sum(hits) FROM llm_cache") as cur:
            assert await cur.fetchone() == (1, 1)


async def test_token_usage_accumulates_per_day_and_survives_reopening(tmp_path: Path) -> None:
    """Usage adds up per UTC day in the table and is there after a restart."""
    cache = await SqliteCache.open(tmp_path / "u.db")
    await cache.add_usage("2026-01-01", 100)
    await cache.add_usage("2026-01-01", 50)
    await cache.add_usage("2026-01-02", 7)
    await cache.close()
    cache = await SqliteCache.open(tmp_path / "u.db")
    assert await cache.load_usage("2026-01-01") == 150
    assert await cache.load_usage("2026-01-02") == 7
    assert await cache.load_usage("2026-01-03") == 0
    await cache.close()
    memory = MemoryCache()
    await memory.add_usage("d", 5)
    await memory.add_usage("d", 5)
    assert await memory.load_usage("d") == 10
