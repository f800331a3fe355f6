"""Windows: the record stream in the inbox becomes analysed "logs".

Records are grouped per (Sub-PKP, source, stream) — the Sub-PKP being the one ingest credited
the row to (the connection's key), the source and stream a record's own or its row's; a window closes when it holds
``window_max_records`` records, when ``window_seconds`` have passed since its first record,
or when a record says its stream ended (``"eof": true``, as a tailed pipeline log's last
line). A closed window is rendered back to text and handed on as a :class:`ClosedWindow` to
the sink the daemon wires in (analysis, price, settlement: later stages this one does not
know), which writes the window's own rows (:meth:`ClosedWindow.record`) in the transaction
that settles it.

Exactly once across restarts: each key's position — (inbox row, record index) of the last
record in a closed window — is written in the same transaction as the window's analysis, and
inbox rows below every open window are deleted in that transaction too (raw records are not
kept after analysis). After a crash the pipeline re-reads the inbox and skips what each key
already consumed, so no record is analysed twice and none is lost.

Each record also goes through the template miner when its window closes: a raw line (a
record with neither level nor logger: tailed files, ``logmarket send``) is mined without its
header, cut with the format auto-detected on its stream's first lines (as ``logmarket
templates`` does); a logging record's message is mined as it is. The window keeps a digest
(template, count, first/last time, a few example values; the "new" templates never seen in
this store) and each record's template id (:attr:`ClosedWindow.line_templates`),
stored with the window, and the templates with their counts are saved in the same
transaction. The stored example values have PII (IP and e-mail addresses, ...) replaced by the
redactor's keyed placeholders whether or not ``redact_pii`` is on: examples only illustrate a
template, while the window's text handed on for analysis stays as ingest stored it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiosqlite
import structlog

from logmarketd.ingest.inbox import InboxWriter
from logmarketd.ingest.redact import Redactor, default_redactor
from logmarketd.metrics import Metrics
from logmarketd.models import SOURCES, Source
from logmarketd.store.db import Store, Write
from logmarketd.transform.mining import (
    TEMPLATES_SELECT,
    TEMPLATES_UPSERT,
    HeaderCutter,
    Miner,
    TemplateRow,
    WindowDigest,
)

__all__ = ["ClosedWindow", "Pipeline", "WindowSink", "render_record"]

log = structlog.get_logger("logmarketd.pipeline")


Key = tuple[str | None, str, str | None]  # (subPKPId, source, stream)
Pos = tuple[int, int]  # (inbox row id, record index in the row)


def render_record(rec: dict[str, Any]) -> str:
    """A record as log text: its time, level and logger (those it has) before its message;
    a raw line (none of them) stays as it was. A record with a logger and no time gets
    ``-`` for the time, as before."""
    message = str(rec.get("message", ""))
    head = []
    ts = rec.get("ts")
    level, logger = rec.get("level"), rec.get("logger")
    if level is not None or logger is not None:
        if isinstance(ts, int | float):
            head.append(
                datetime.fromtimestamp(float(ts), UTC).strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
            )
        elif logger is not None and level is not None:
            head.append("-")
        if level is not None:
            head.append(str(level))
        if logger is not None:
            head.append(f"{logger}:")
    line = " ".join([*head, message]) if head else message
    parts = [line]
    for extra in ("exc", "stack"):
        if rec.get(extra):
            parts.append(str(rec[extra]))
    return "\n".join(parts)


def _key_text(key: Key) -> str:
    return json.dumps(list(key))


def _records(
    source: str, sub: str | None, stream: str | None, frame: str
) -> Iterator[tuple[Key, int, dict[str, Any]]]:
    """(key, index in the row, record) of each record of an inbox row."""
    obj = json.loads(frame)
    records = obj["records"] if obj.get("type") == "batch" else [obj]
    for index, rec in enumerate(records):
        rsource = rec.get("source", source)
        # The Sub-PKP is the row's, which ingest took from the connection's key; a
        # record's own ``subPKPId`` is only a claim and credits no one.
        key: Key = (sub, rsource if rsource in SOURCES else "runtime", rec.get("stream", stream))
        yield key, index, rec


@dataclass
class _Window:
    key: Key
    opened: float
    first: Pos
    last: Pos = (0, 0)
    lines: list[str] = field(default_factory=list)
    chars: int = 0
    digest: WindowDigest = field(default_factory=WindowDigest)
    # (message, time, whether it is a raw line whose header is still on), mined at close
    messages: list[tuple[str, float, bool]] = field(default_factory=list)
    mined: bool = False
    closing: str | None = None  # why it is due to close, when it could not close yet
    retry_at: float = 0.0
    failures: int = 0


def _digest_json(digest: WindowDigest, mask: Callable[[str], str], limit: int = 50) -> str:
    """The digest as stored: the most frequent templates, their example values masked."""
    entries = sorted(digest.entries(), key=lambda e: -e.count)[:limit]
    return json.dumps([
        {"templateId": e.template_id, "template": e.template, "count": e.count,
         "firstTs": e.first_ts, "lastTs": e.last_ts, "new": e.is_new_template,
         "examples": [[mask(v) for v in values] for values in e.examples]}
        for e in entries
    ])  # fmt: skip


@dataclass(frozen=True, slots=True)
class ClosedWindow:
    """A window that is due to close: its log, and the rows that record it as consumed.

    ``writes`` are to be committed in the same transaction as the log's analysis (exactly
    once: the window's position moves with its analysis); ``log_id`` is that analysis's id.
    """

    sub_pkp_id: str | None
    source: Source
    stream: str | None
    log_id: str
    content: str
    reason: str
    writes: tuple[Write, ...]
    line_templates: tuple[str, ...] = ()  # each record's template id (its form at the close)


# Takes a closed window on (analysis, price, settlement); when it raises, the window stays
# open, its records stay in the inbox, and it is offered again later.
WindowSink = Callable[[ClosedWindow], Awaitable[None]]


class Pipeline:
    """Reads the inbox in order and turns it into analysed windows; run :meth:`run`.

    ``redactor`` (the installation's) masks the example values stored in digests, with its
    PII rules on (:meth:`Redactor.with_pii`); without one, a per-process key masks them.
    """

    def __init__(
        self,
        store: Store,
        inbox: InboxWriter,
        sink: WindowSink,
        *,
        metrics: Metrics | None = None,
        max_records: int = 2000,
        max_chars: int = 4 * 1024 * 1024,
        window_seconds: float = 60.0,
        poll: float = 0.2,
        redactor: Redactor | None = None,
    ) -> None:
        self.store = store
        self.mask_example = (redactor or default_redactor()).with_pii().redact
        self.inbox = inbox
        self.sink = sink
        self.metrics = metrics
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
        self._cutters: dict[Key, HeaderCutter] = {}
        self._unsaved: list[TemplateRow] = []
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
                if self.metrics is not None:
                    self.metrics.pipeline_failures.inc()
                log.exception("pipeline step failed")
                read = 0
            if not read:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.poll)

    def stop(self) -> None:
        """Stop after the current step; open windows stay in the inbox for the next start."""
        self._stop.set()

    async def prune_consumed(self, conn: aiosqlite.Connection, before: float) -> int:
        """Delete inbox rows received before ``before`` whose every record is in a closed
        window (at or below its key's committed position), in the caller's transaction; how
        many. A window's own transaction deletes the rows no open window needs, but only
        those below the row being read: the last row of a stream that went quiet waits for
        the next window to close. Retention takes it out."""
        async with conn.execute("SELECT key, row_id, rec_index FROM window_cursors") as cur:
            cursors = {tuple(json.loads(k)): (r, i) for k, r, i in await cur.fetchall()}
        async with conn.execute(
            "SELECT id, source, sub_pkp_id, stream, n_records, frame FROM inbox"
            " WHERE received < ? ORDER BY id LIMIT 500",
            (before,),
        ) as cur:
            rows = await cur.fetchall()
        done = [(row_id, n) for row_id, source, sub, stream, n, frame in rows
                if all((row_id, index) <= cursors.get(key, (-1, -1))
                       for key, index, _ in _records(source, sub, stream, frame))]  # fmt: skip
        await conn.executemany("DELETE FROM inbox WHERE id = ?", [(r,) for r, _ in done])
        self.inbox.consumed(sum(n for _, n in done))
        return len(done)

    async def _read_some(self, limit: int = 200) -> int:
        rows = await self.store.fetchall(
            "SELECT id, source, sub_pkp_id, stream, frame FROM inbox WHERE id >= ?"
            " ORDER BY id LIMIT ?",
            (self.next_row, limit),
        )
        now = time.time()
        for row_id, source, sub, stream, frame in rows:
            for key, index, rec in _records(source, sub, stream, frame):
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
        raw = "level" not in rec and "logger" not in rec
        window.messages.append((str(rec.get("message", "")), stamp, raw))
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
            if self.metrics is not None:
                self.metrics.pipeline_failures.inc()
            log.exception("window analysis failed; kept and retried", sub_pkp=window.key[0],
                          failures=window.failures)  # fmt: skip

    def _mine(self, window: _Window) -> None:
        """Mine the window's messages, once: a raw line is mined without its header (cut
        with the format its stream's first lines showed, as ``logmarket templates`` cuts
        a file), a record's message as it is."""
        if window.mined:
            return
        cutter = self._cutters.get(window.key)
        if cutter is None:
            cutter = self._cutters[window.key] = HeaderCutter()
        raw = [m for m, _, is_raw in window.messages if is_raw]
        cut = iter(cutter.contents(raw))
        for message, stamp, is_raw in window.messages:
            content = next(cut) if is_raw else message
            window.digest.add(self.miner.add(content, stamp), stamp)
        window.messages.clear()
        window.mined = True

    def _writes(
        self, window: _Window, reason: str, log_id: str, low_water: int
    ) -> tuple[Write, ...]:
        """What records ``window`` as consumed: its position, its row and digest, the
        templates, and the deletion of the inbox rows it was the last to need."""
        key, entries = _key_text(window.key), window.digest.entries()
        row = (log_id, key, *window.first, *window.last, len(window.lines), reason, time.time(),
               len(entries), sum(1 for e in entries if e.is_new_template),
               _digest_json(window.digest, self.mask_example))  # fmt: skip
        return (
            ("INSERT INTO window_cursors VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE"
             " SET row_id = excluded.row_id, rec_index = excluded.rec_index",
             [(key, *window.last)]),
            ("INSERT INTO windows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [row]),
            (TEMPLATES_UPSERT, [dataclasses.astuple(r) for r in self._templates_to_save()]),
            ("DELETE FROM inbox WHERE id < ?", [(low_water,)]),
        )  # fmt: skip

    def _templates_to_save(self) -> list[TemplateRow]:
        """The template rows changed since the last window committed (absolute counts: the
        latest row of a template wins). Kept until a window commits them, so a window that
        fails to close loses none."""
        self._unsaved.extend(self.miner.export_rows())
        return list(self._unsaved)

    async def _close(self, window: _Window, reason: str) -> None:
        # Rows below every open window's first row and below the next unread row hold only
        # records of closed windows: they go in the same transaction as this analysis.
        others = [w.first[0] for w in self.windows.values() if w is not window]
        low_water = min([*others, self.next_row])
        row = await self.store.fetchone(
            "SELECT COALESCE(SUM(n_records), 0) FROM inbox WHERE id < ?", (low_water,)
        )  # committed rows below low_water never change: counted now, deleted by the sink
        log_id = f"la_{uuid.uuid4().hex}"
        sub, source, stream = window.key
        self._mine(window)
        closed = ClosedWindow(
            sub, source, stream, log_id, "\n".join(window.lines), reason,  # type: ignore[arg-type]
            self._writes(window, reason, log_id, low_water), tuple(window.digest.line_templates()),
        )  # fmt: skip
        await self.sink(closed)
        self._unsaved.clear()
        del self.windows[window.key]
        self.cursors[window.key] = window.last
        self.inbox.consumed(int(row[0]) if row else 0)
        if self.metrics is not None:
            self.metrics.windows.labels(reason).inc()
        self.analysed += 1
        log.info("window analysed", sub_pkp=window.key[0], source=window.key[1],
                 records=len(window.lines), closed_by=reason)  # fmt: skip
