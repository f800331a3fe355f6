"""Retention: log text stays in the store ``retention_days``, then it is taken out.

Once older than the retention (by its ``created`` time):

- an analysis loses its evidence lines (the log lines quoted under each finding): its body is
  rewritten without them and ``text_pruned`` set. The findings themselves, their
  fingerprints and counts, the scores and the money fields stay, so the dashboard's history,
  paying or reversing an old analysis and the ledger all work as before;
- a window's row is deleted (its digest holds the template example values);
- the answer kept for an Idempotency-Key is deleted (a copy of the analyses it returned): a
  retry with that key after the retention is a new request;
- and whatever the later stages hand in as ``also`` runs with the same cut-off: the daemon
  passes the event outbox's pruning and the pipeline's deletion of inbox rows its windows
  consumed (the store knows neither's rules).

Never touched: transactions, ledger entries and the chain (immutable, and they hold no log
text), balances, ``findings_seen`` (novelty needs every fingerprint for good) and templates
(masked text and counts).

In a fleet (the marketplace's store shared on PostgreSQL), the shared store's part (analyses,
idempotency answers, the outbox) is pruned by one daemon at a time, the one ``shared_turn``
says holds the fleet's retention lock; every daemon prunes its own file.

Each batch of rows is its own short transaction, so the inbox writer never waits long. The
store deletes with ``secure_delete`` on, and after a run that took anything out the
write-ahead log is checkpointed and truncated: the text is not left in free pages or in old
WAL frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import aiosqlite
import structlog

from logmarketd.metrics import Metrics
from logmarketd.store.db import Store

__all__ = ["DAY", "Prune", "Retention", "without_log_text"]

log = structlog.get_logger("logmarketd.retention")

DAY = 86400.0

# Another stage's pruning: given the caller's transaction and the cut-off time, how many
# rows it removed.
Prune = Callable[[aiosqlite.Connection, float], Awaitable[int]]

# Keys whose values are log text quoted verbatim, wherever they occur in a stored JSON body.
_TEXT_KEYS = ("evidence", "examples")


def without_log_text(value: Any) -> Any:
    """A JSON value with every evidence and examples list emptied, the rest as it was."""
    if isinstance(value, dict):
        return {k: [] if k in _TEXT_KEYS else without_log_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_log_text(v) for v in value]
    return value


class Retention:
    """The pruning job: :meth:`prune` once, or :meth:`run` to prune now and every
    ``interval`` seconds until :meth:`stop`."""

    def __init__(
        self,
        store: Store,
        *,
        days: int,
        also: Mapping[str, Prune] | None = None,
        shared: Any = None,
        shared_also: Mapping[str, Prune] | None = None,
        metrics: Metrics | None = None,
        shared_turn: Callable[[], Awaitable[bool]] | None = None,
        interval: float = 3600.0,
        batch: int = 200,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if days < 1:
            raise ValueError(f"the retention must be at least 1 day, got {days}")
        self.store = store
        # The marketplace's store when it is not this one (a fleet's, on PostgreSQL): the
        # analyses, idempotency keys and ``shared_also`` are pruned there.
        self.shared = shared if shared is not None else store
        self.days = days
        self.also = dict(also or {})
        self.shared_also = dict(shared_also or {})
        # In a fleet, whether this daemon prunes the shared store in this run (it holds the
        # fleet's retention lock): the shared part runs once per fleet, the rest in each.
        self.shared_turn = shared_turn
        self.metrics = metrics
        self.interval = interval
        self.batch = batch
        self.clock = clock
        self._stop = asyncio.Event()
        if metrics is not None:
            for name in self.tables:
                metrics.retention_pruned.labels(name)  # at 0 from the first scrape

    @property
    def tables(self) -> list[str]:
        """What a run reports a count for, in the order it prunes them."""
        return ["analyses", "windows", "idempotency_keys", *self.also, *self.shared_also]

    async def prune(self) -> dict[str, int]:
        """Take out everything older than the retention; how many rows, per table."""
        before = self.clock() - self.days * DAY
        ours = self.shared_turn is None or await self.shared_turn()
        counts = {
            "analyses": await self._strip_analyses(before) if ours else 0,
            "windows": await self._delete(self.store, "windows", before),
            "idempotency_keys": (
                await self._delete(self.shared, "idempotency_keys", before) if ours else 0
            ),
        }
        for name, step in self.also.items():
            async with self.store.transaction() as tx:
                counts[name] = await step(tx, before)
        for name, step in self.shared_also.items():
            counts[name] = 0
            if ours:
                async with self.shared.transaction() as tx:
                    counts[name] = await step(tx, before)
        if not ours:
            log.debug("the shared store's retention is another daemon's turn")
        if any(counts.values()):
            await asyncio.to_thread(_checkpoint, self.store.path)
        if self.metrics is not None:
            for name, n in counts.items():
                self.metrics.retention_pruned.labels(name).inc(n)
        if any(counts.values()):
            log.info("retention pruned", days=self.days, before=round(before, 3), **counts)
        return counts

    async def run(self) -> None:
        """Prune now, then every ``interval``; a failed run is logged, counted and tried
        again at the next one."""
        while not self._stop.is_set():
            try:
                await self.prune()
            except Exception:
                if self.metrics is not None:
                    self.metrics.retention_failures.inc()
                log.exception("retention run failed; tried again at the next")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval)

    def stop(self) -> None:
        """Stop after the current batch."""
        self._stop.set()

    async def _strip_analyses(self, before: float) -> int:
        total = 0
        while not self._stop.is_set():
            rows = await self.shared.fetchall(
                "SELECT id, body FROM analyses WHERE text_pruned IS NULL AND created < ?"
                " ORDER BY created LIMIT ?",
                (before, self.batch),
            )
            if not rows:
                break
            now = self.clock()
            stripped = [(json.dumps(without_log_text(json.loads(body)), separators=(",", ":")),
                         now, analysis_id) for analysis_id, body in rows]  # fmt: skip
            async with self.shared.transaction() as tx:
                await tx.executemany(
                    "UPDATE analyses SET body = ?, text_pruned = ?"
                    " WHERE id = ? AND text_pruned IS NULL",
                    stripped,
                )
            total += len(rows)
        return total

    async def _delete(self, store: Any, table: str, before: float) -> int:
        total = 0
        while not self._stop.is_set():
            async with store.transaction() as tx:
                cursor = await tx.execute(
                    f"DELETE FROM {table} WHERE rowid IN"
                    f" (SELECT rowid FROM {table} WHERE created < ? LIMIT ?)",
                    (before, self.batch),
                )
                deleted = cursor.rowcount
                await cursor.close()
            total += deleted
            if deleted < self.batch:
                break
        return total


def _checkpoint(path: Path) -> None:
    """Copy the write-ahead log into the file and truncate it, so the pages as they were
    before the pruning are gone from it too. Best effort: when readers hold it up past the
    busy timeout it is left for the next run (the pruned rows are gone either way)."""
    conn = sqlite3.connect(path, timeout=5.0)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        conn.close()
