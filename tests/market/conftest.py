"""Fixtures for the market's tests: a real store on each engine (the embedded SQLite, and a
PostgreSQL database of its own on a server the session starts) and the ledger's signing key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from logmarketd.market.signing import LedgerKey, load_or_create_ledger_key
from logmarketd.store.db import Store
from logmarketd.store.engine import MarketStore

from tests.store.pgserver import PgServer, open_store, pg_server  # noqa: F401


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MarketStore]:
    s = await open_store(request, tmp_path)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "ledger.db", sync="normal")
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def key(tmp_path: Path) -> LedgerKey:
    return load_or_create_ledger_key(tmp_path / "ledger.key")
