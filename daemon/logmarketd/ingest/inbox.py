"""The inbox writer: group commit of received batches into the store, then acks.

Connections hand batches to :meth:`InboxWriter.submit` and await the outcome; one writer task
takes everything waiting (up to ``commit_max_records``), writes it in one SQLite transaction
and resolves every waiter after the commit. An fsync is paid per group, not per batch, which
is what lets ``synchronous=FULL`` keep up with many clients.

Exactly-once in the store: a batch whose ``(clientId, seq)`` is not above the client's last
committed seq is a resend; it is acknowledged as a duplicate and not stored. The check runs in
the writer, serially, so two connections of one client (a reconnect racing its old socket)
cannot both store the same batch.

Backpressure: the queue is bounded; when it is full, ``submit`` waits, so the connection stops
reading and the client's own window fills (it then waits, or counts drops).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import sqlite3
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Literal

import structlog

from logmarketd.metrics import Metrics
from logmarketd.store.db import Store

__all__ = ["InboxWriter", "Outcome", "Submission"]

log = structlog.get_logger("logmarketd.inbox")

Outcome = Literal["stored", "duplicate"]

_LAST_SEQ_CACHE = 65_536  # clients remembered in memory; the rest are looked up


@dataclass(slots=True)
class Submission:
    """One frame to store, with the session it came in on."""

    frame: bytes
    n_records: int
    source: str
    client_id: str | None = None
    seq: int | None = None
    dropped: int | None = None
    host: str | None = None
    pid: int | None = None
    sub_pkp_id: str | None = None
    stream: str | None = None
    future: asyncio.Future[Outcome] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class InboxWriter:
    """Owns the write side of the inbox; run :meth:`run` as a task, stop with :meth:`stop`."""

    def __init__(self, store: Store, metrics: Metrics, *, max_records: int = 50_000) -> None:
        self.store = store
        self.metrics = metrics
        self.max_records = max_records
        self._queue: asyncio.Queue[Submission | None] = asyncio.Queue(maxsize=512)
        self._last_seq: OrderedDict[str, int] = OrderedDict()
        self._dropped: dict[str, int] = {}
        self._secrets: OrderedDict[str, str] = OrderedDict()
        self.depth = 0

    async def start(self) -> None:
        self.depth = await self.store.inbox_depth()
        self.metrics.inbox_depth.set(self.depth)

    async def submit(self, item: Submission) -> asyncio.Future[Outcome]:
        """Queue a frame (waits while the queue is full); the future resolves once durable."""
        await self._queue.put(item)
        self.metrics.inbox_queue.set(self._queue.qsize())
        return item.future

    async def authenticate(self, client_id: str, secret: str) -> bool:
        """True when ``secret`` is the one ``client_id`` is bound to; the first hello of an
        id binds it. Another local process that knows only the id cannot act as that client
        (read its lastSeq, or claim seqs to make its batches look like resends)."""
        digest = hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()
        bound = self._secrets.get(client_id) or await self.store.client_secret(client_id)
        if bound is None:
            bound = await self.store.bind_client_secret(client_id, digest, time.time())
        self._secrets[client_id] = bound
        self._secrets.move_to_end(client_id)
        if len(self._secrets) > _LAST_SEQ_CACHE:
            self._secrets.popitem(last=False)
        return hmac.compare_digest(bound, digest)

    async def last_seq(self, client_id: str) -> int:
        """Highest committed seq of a client, -1 if none."""
        cached = self._last_seq.get(client_id)
        if cached is not None:
            return cached
        return (await self.store.client_state(client_id))[0]

    def consumed(self, n_records: int) -> None:
        """The pipeline removed ``n_records`` analysed records from the inbox."""
        self.depth = max(0, self.depth - n_records)
        self.metrics.inbox_depth.set(self.depth)

    async def stop(self) -> None:
        """Let the writer commit what was queued, then end :meth:`run`."""
        await self._queue.put(None)

    async def run(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                break
            group = [first]
            total = first.n_records
            while total < self.max_records and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stopping = True
                    break
                group.append(item)
                total += item.n_records
            self.metrics.inbox_queue.set(self._queue.qsize())
            await self._commit(group)

    async def _commit(self, group: list[Submission]) -> None:
        started = time.perf_counter()
        now = time.time()
        for item in group:
            if item.client_id is not None and item.client_id not in self._last_seq:
                seq, dropped = await self.store.client_state(item.client_id)
                self._remember(item.client_id, seq, dropped)
        last_seq: dict[str, int] = {}
        dropped_now: dict[str, int] = {}
        outcomes: list[Outcome] = []
        rows = []
        clients: dict[str, tuple[int, str | None, int | None]] = {}
        stored = duplicates = dropped_delta = 0
        for item in group:
            cid = item.client_id
            if cid is not None and item.dropped is not None:
                seen = dropped_now.get(cid, self._dropped.get(cid, 0))
                if item.dropped > seen:
                    dropped_delta += item.dropped - seen
                    dropped_now[cid] = item.dropped
            if cid is not None and item.seq is not None:
                previous = last_seq.get(cid, self._last_seq[cid])
                if item.seq <= previous:
                    outcomes.append("duplicate")
                    duplicates += item.n_records
                    continue
                last_seq[cid] = item.seq
                clients[cid] = (item.seq, item.host, item.pid)
            rows.append(
                (now, cid, item.seq, item.host, item.source, item.sub_pkp_id, item.stream,
                 item.n_records, item.frame.decode("utf-8"))
            )  # fmt: skip
            outcomes.append("stored")
            stored += item.n_records
        try:
            async with self.store.transaction() as db:
                if rows:
                    await db.executemany(
                        "INSERT INTO inbox (received, client_id, seq, host, source, sub_pkp_id,"
                        " stream, n_records, frame) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        rows,
                    )
                if clients:
                    await db.executemany(
                        "INSERT INTO clients (client_id, last_seq, dropped, host, pid, first_seen,"
                        " last_seen) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(client_id) DO UPDATE"
                        " SET last_seq = excluded.last_seq, dropped = excluded.dropped,"
                        " last_seen = excluded.last_seen",
                        [
                            (c, s, dropped_now.get(c, self._dropped.get(c, 0)), h, p, now, now)
                            for c, (s, h, p) in clients.items()
                        ],
                    )
                await db.executemany(
                    "INSERT INTO counters (name, value) VALUES (?, ?)"
                    " ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                    [
                        ("records_stored", stored),
                        ("records_duplicate", duplicates),
                        ("client_dropped", dropped_delta),
                        ("batches_stored", len(rows)),
                    ],
                )
        except (sqlite3.Error, OSError) as exc:
            # A full disk or an I/O error: nothing of this group is acknowledged, so clients
            # keep every batch in their window and resend it. The daemon itself lives on.
            self.metrics.store_errors.inc()
            log.error("inbox commit failed", error=str(exc), batches=len(group))
            for item in group:
                if not item.future.done():
                    item.future.set_exception(OSError(f"store unavailable: {exc}"))
            return
        for cid, seq in last_seq.items():
            self._remember(cid, seq, dropped_now.get(cid, self._dropped.get(cid, 0)))
        self._dropped.update(dropped_now)
        self.depth += stored
        m = self.metrics
        m.records_stored.inc(stored)
        m.records_duplicate.inc(duplicates)
        m.client_dropped.inc(dropped_delta)
        m.batches_committed.inc(len(rows))
        m.inbox_depth.set(self.depth)
        m.commit_seconds.observe(time.perf_counter() - started)
        for item, outcome in zip(group, outcomes, strict=True):
            if not item.future.done():
                item.future.set_result(outcome)

    def _remember(self, client_id: str, seq: int, dropped: int) -> None:
        self._last_seq[client_id] = seq
        self._dropped[client_id] = dropped
        self._last_seq.move_to_end(client_id)
        if len(self._last_seq) > _LAST_SEQ_CACHE:
            old, _ = self._last_seq.popitem(last=False)
            self._dropped.pop(old, None)
