"""Persistence of templates as rows: the DDL, a tiny interface, an in-memory twin, sqlite3.

The miner never does I/O: the pipeline calls ``miner.export_rows()`` (what changed since
the last export) and hands the rows to ``store.save(rows)``; at startup
``Miner.from_rows(store.load())`` rebuilds it. Ids are fingerprints of the template text,
so saving is an idempotent upsert: counts are absolute values, never increments.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import astuple
from pathlib import Path
from typing import Protocol

from logmarketd.store.schema import TEMPLATES_DDL
from logmarketd.transform.mining.templates import TemplateRow

__all__ = [
    "TEMPLATES_DDL",
    "TEMPLATES_SELECT",
    "TEMPLATES_UPSERT",
    "MemoryTemplateStore",
    "SqliteTemplateStore",
    "TemplateStore",
]

# For the store's migrations. ``superseded_by`` links a template that was generalised (or
# merged into a more general one) to its successor; live templates have NULL there.

# Parameters: the fields of a TemplateRow in order (``dataclasses.astuple(row)``). Counts
# are absolute, so replaying a save is harmless.
TEMPLATES_UPSERT = """
INSERT INTO templates (template_id, template, count, first_seen, last_seen, superseded_by)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (template_id) DO UPDATE SET
    count = max(templates.count, excluded.count),
    first_seen = min(templates.first_seen, excluded.first_seen),
    last_seen = max(templates.last_seen, excluded.last_seen),
    superseded_by = excluded.superseded_by
"""


TEMPLATES_SELECT = (
    "SELECT template_id, template, count, first_seen, last_seen, superseded_by"
    " FROM templates ORDER BY last_seen"
)


class TemplateStore(Protocol):
    """Where template rows live between daemon runs."""

    def save(self, rows: Iterable[TemplateRow]) -> None:
        """Upsert rows (idempotent: saving the same rows twice changes nothing)."""

    def load(self) -> list[TemplateRow]:
        """Every stored row, live and superseded."""

    def contains(self, template_id: str) -> bool:
        """Whether this id was ever stored (the miner's ``known`` hook)."""


def _merge(old: TemplateRow | None, new: TemplateRow) -> TemplateRow:
    if old is None:
        return new
    return TemplateRow(
        new.template_id,
        new.template,
        max(old.count, new.count),
        min(old.first_seen, new.first_seen),
        max(old.last_seen, new.last_seen),
        new.superseded_by,
    )


class MemoryTemplateStore:
    """The in-memory twin of :class:`SqliteTemplateStore`, for tests."""

    def __init__(self) -> None:
        self._rows: dict[str, TemplateRow] = {}

    def save(self, rows: Iterable[TemplateRow]) -> None:
        """Upsert rows with the same rules as the SQL store."""
        for row in rows:
            self._rows[row.template_id] = _merge(self._rows.get(row.template_id), row)

    def load(self) -> list[TemplateRow]:
        """Every stored row."""
        return list(self._rows.values())

    def contains(self, template_id: str) -> bool:
        """Whether this id was ever stored."""
        return template_id in self._rows


class SqliteTemplateStore:
    """Template rows in a SQLite file (blocking ``sqlite3``: for the CLI and tests).

    The daemon keeps its rows in its own store (same DDL) through its async connection.
    """

    def __init__(self, path: str | Path) -> None:
        self._db = sqlite3.connect(str(path))
        self._db.execute("PRAGMA journal_mode=WAL")
        exists = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'templates'"
        ).fetchone()
        if not exists:
            self._db.executescript(TEMPLATES_DDL)

    def save(self, rows: Iterable[TemplateRow]) -> None:
        """Upsert rows in one transaction."""
        with self._db:
            self._db.executemany(TEMPLATES_UPSERT, [astuple(r) for r in rows])

    def load(self) -> list[TemplateRow]:
        """Every stored row."""
        cur = self._db.execute(TEMPLATES_SELECT)
        return [TemplateRow(*row) for row in cur]

    def contains(self, template_id: str) -> bool:
        """Whether this id was ever stored."""
        cur = self._db.execute("SELECT 1 FROM templates WHERE template_id = ?", (template_id,))
        return cur.fetchone() is not None

    def close(self) -> None:
        """Close the connection."""
        self._db.close()
