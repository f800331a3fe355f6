"""Windows: the record stream in the inbox becomes analysed "logs".

Records are grouped per (Sub-PKP, source, stream); a window closes when it holds
``window_max_records`` records, when ``window_seconds`` have passed since its first record,
or when a record says its stream ended (``"eof": true``, as a tailed pipeline log's last
line). A closed window is rendered back to text and goes through the marketplace (agents,
scores, price, auto-pay) as one LogAnalysis.

Exactly once across restarts: each key's position — (inbox row, record index) of the last
record in a closed window — is written in the same transaction as the window's analysis, and
inbox rows below every open window are deleted in that transaction too (raw records are not
kept after analysis). After a crash the pipeline re-reads the inbox and skips what each key
already consumed, so no record is analysed twice and none is lost.

Each record also goes through the template miner: the window keeps a digest (template,
count, first/last time, a few example values; the "new" templates never seen in this store),
stored with the window, and the templates with their counts are saved in the same
transaction.

Over ``MAX_LOGS_PER_HOUR`` a window is still analysed and recorded, but not auto-paid.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiosqlite
import structlog

from logmarketd.ingest.inbox import InboxWriter
from logmarketd.market.marketplace import Marketplace
from logmarketd.models import SOURCES, Source
from logmarketd.store.db import Store
from logmarketd.transform.mining import (
    TEMPLATES_SELECT,
    TEMPLATES_UPSERT,
    Miner,
    TemplateRow,
    WindowDigest,
)

__all__ = ["Pipeline", "render_record"]

log = structlog.get_logger("logmarketd.pipeline")


Key = tuple[str | None, str, str | None]  # (subPKPId, source, stream)
Pos = tuple[int, int]  # (inbox row id, record index in the row)


def render_record(rec: dict[str, Any]) -> str:
    """A record as log text: app records get a header line, raw lines stay as they were."""
    message = str(rec.get("message", ""))
    if "level" in rec and "logger" in rec:
        ts = rec.get("ts")
        stamp = (
            datetime.fromtimestamp(float(ts), UTC).strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
            if isinstance(ts, int | float)
            else "-"
        )
        line = f"{stamp} {rec['level']} {rec['logger']}: {message}"
    else:
        line = message
    parts = [line]
    for extra in ("exc", "stack"):
        if rec.get(extra):
            parts.append(str(rec[extra]))
    return "\n".join(parts)


def _key_text(key: Key) -> str:
    return json.dumps(list(key))


@dataclass
class _Window:
    key: Key
    opened: float
    first: Pos
    last: Pos = (0, 0)
    lines: list[str] = field(default_factory=list)
    chars: int = 0
    digest: WindowDigest = field(default_factory=WindowDigest)
    closing: str | None = None  # why it is due to close, when it could not close yet
    retry_at: float = 0.0
    failures: int = 0


def _digest_json(digest: WindowDigest, limit: int = 50) -> str:
    entries = sorted(digest.entries(), key=lambda e: -e.count)[:limit]
    return json.dumps([
        {"templateId": e.template_id, "template": e.template, "count": e.count,
         "firstTs": e.first_ts, "lastTs": e.last_ts, "new": e.is_new_template,
         "examples": e.examples}
        for e in entries
    ])  # fmt: skip


class Pipeline:
    """Reads the inbox in order and turns it into analysed windows; run :meth:`run`."""

    def __init__(
        self,
        store: Store,
        inbox: InboxWriter,
        market: Marketplace,
        *,
        max_records: int = 2000,
        max_chars: int = 4 * 1024 * 1024,
        window_seconds: float = 60.0,
        poll: float = 0.2,
    ) -> None:
        self.store = store
        self.inbox = inbox
        self.market = market
        self.max_records = max_records
        self.max_chars = max_chars
        self.window_seconds = window_seconds
        self.poll = poll
        self.windows: dict[Key, _Window] = {}
        self.cursors: dict[Key, Pos] = {}
        self.next_row = 0
        self.analysed = 0
        self.failures = 0
        self.miner = Miner()
        self._stop = asyncio.Event()

    async def run(self) -> None:
        rows = await self.store.fetchall(TEMPLATES_SELECT)
        self.miner = Miner.from_rows([TemplateRow(*r) for r in rows])
        rows = await self.store.fetchall("SELECT key, row_id, rec_index FROM window_cursors")
        self.cursors = {tuple(json.loads(k)): (r, i) for k, r, i in rows}
        while not self._stop.is_set():
            try:
                read = await self._read_some()
                await self._close_due(time.time())
            except Exception:  # one bad window must not end the stage; counted and logged
                self.failures += 1
                if self.market.metrics is not None:
                    self.market.metrics.pipeline_failures.inc()
                log.exception("pipeline step failed")
                read = 0
            if not read:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.poll)

    def stop(self) -> None:
        """Stop after the current step; open windows stay in the inbox for the next start."""
        self._stop.set()

    async def _read_some(self, limit: int = 200) -> int:
        rows = await self.store.fetchall(
            "SELECT id, source, sub_pkp_id, stream, frame FROM inbox WHERE id >= ?"
            " ORDER BY id LIMIT ?",
            (self.next_row, limit),
        )
        now = time.time()
        for row_id, source, sub, stream, frame in rows:
            obj = json.loads(frame)
            records = obj["records"] if obj.get("type") == "batch" else [obj]
            for index, rec in enumerate(records):
                rsource = rec.get("source", source)
                key: Key = (
                    rec.get("subPKPId", sub),
                    rsource if rsource in SOURCES else "runtime",
                    rec.get("stream", stream),
                )
                if (row_id, index) <= self.cursors.get(key, (-1, -1)):
                    continue  # analysed before a restart
                await self._add(key, (row_id, index), rec, now)
            self.next_row = row_id + 1
        return len(rows)

    async def _add(self, key: Key, pos: Pos, rec: dict[str, Any], now: float) -> None:
        window = self.windows.get(key)
        if window is None:
            window = self.windows[key] = _Window(key, now, pos)
        ts = rec.get("ts")
        stamp = float(ts) if isinstance(ts, int | float) else now
        window.digest.add(self.miner.add(str(rec.get("message", "")), stamp), stamp)
        text = render_record(rec)
        window.lines.append(text)
        window.chars += len(text) + 1
        window.last = pos
        if rec.get("eof"):
            await self._try_close(window, "end-of-stream", now)
        elif len(window.lines) >= self.max_records or window.chars >= self.max_chars:
            await self._try_close(window, "size", now)

    async def _close_due(self, now: float) -> None:
        for window in list(self.windows.values()):
            if window.closing is not None and now >= window.retry_at:
                await self._try_close(window, window.closing, now)
            elif window.closing is None and now - window.opened >= self.window_seconds:
                await self._try_close(window, "time", now)

    async def flush(self) -> None:
        """Close every open window now (used by tests and at a quiet shutdown)."""
        await self._read_some(10_000)
        for window in list(self.windows.values()):
            await self._close(window, "flush")

    async def _try_close(self, window: _Window, reason: str, now: float) -> None:
        """Close ``window``; when that fails, keep it (its records stay in the inbox) and try
        again later, so one window that cannot close never stops the others."""
        try:
            await self._close(window, reason)
        except Exception:
            window.closing = reason
            window.failures += 1
            window.retry_at = now + min(60.0, self.poll * 2**window.failures)
            self.failures += 1
            if self.market.metrics is not None:
                self.market.metrics.pipeline_failures.inc()
            log.exception("window analysis failed; kept and retried", sub_pkp=window.key[0],
                          failures=window.failures)  # fmt: skip

    async def _close(self, window: _Window, reason: str) -> None:
        sub, source, _stream = window.key
        content = "\n".join(window.lines)
        src: Source = source  # type: ignore[assignment]
        # Rows below every open window's first row and below the next unread row hold only
        # records of closed windows: they go in the same transaction as this analysis.
        others = [w.first[0] for w in self.windows.values() if w is not window]
        low_water = min([*others, self.next_row])
        deleted = [0]

        async def in_tx(conn: aiosqlite.Connection, analysis_id: str) -> None:
            await conn.execute(
                "INSERT INTO window_cursors VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE"
                " SET row_id = excluded.row_id, rec_index = excluded.rec_index",
                (_key_text(window.key), *window.last),
            )
            entries = window.digest.entries()
            await conn.execute(
                "INSERT INTO windows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (analysis_id, _key_text(window.key), *window.first, *window.last,
                 len(window.lines), reason, time.time(), len(entries),
                 sum(1 for e in entries if e.is_new_template), _digest_json(window.digest)),
            )  # fmt: skip
            await conn.executemany(
                TEMPLATES_UPSERT, [dataclasses.astuple(r) for r in self.miner.export_rows()]
            )
            async with conn.execute(
                "SELECT COALESCE(SUM(n_records), 0) FROM inbox WHERE id < ?", (low_water,)
            ) as cur:
                row = await cur.fetchone()
            deleted[0] = int(row[0]) if row else 0
            await conn.execute("DELETE FROM inbox WHERE id < ?", (low_water,))

        # The one rate decision for this window: over the hourly limit it is analysed and
        # recorded, not paid (a window is never refused: its records are already accepted).
        auto_pay = await self.market.within_rate(sub)
        await self.market.submit(
            content, src, sub, auto_pay=auto_pay, enforce_rate=False, in_tx=in_tx
        )
        del self.windows[window.key]
        self.cursors[window.key] = window.last
        self.inbox.consumed(deleted[0])
        if self.market.metrics is not None:
            self.market.metrics.windows.labels(reason).inc()
        self.analysed += 1
        log.info("window analysed", sub_pkp=sub, source=source, records=len(window.lines),
                 closed_by=reason)  # fmt: skip
