"""Fixtures for the market's tests: a real SQLite store and the ledger's signing key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from logmarketd.market.signing import LedgerKey, load_or_create_ledger_key
from logmarketd.store.db import Store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "ledger.db", sync="normal")
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def key(tmp_path: Path) -> LedgerKey:
    return load_or_create_ledger_key(tmp_path / "ledger.key")
