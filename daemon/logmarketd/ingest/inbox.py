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


# A row of the inbox table: received, client_id, seq, host, source, sub_pkp_id, stream,
# n_records, frame.
_Row = tuple[float, str | None, int | None, str | None, str, str | None, str | None, int, str]


@dataclass(slots=True)
class _Plan:
    """What one group commit writes, and what it means for the clients."""

    rows: list[_Row] = field(default_factory=list)  # the batches to store
    outcomes: list[Outcome] = field(default_factory=list)  # one per submission, in order
    last_seq: dict[str, int] = field(default_factory=dict)  # clients' new last seq
    dropped: dict[str, int] = field(default_factory=dict)  # clients' new dropped count
    # client -> (last seq, host, pid): the clients rows to upsert
    clients: dict[str, tuple[int, str | None, int | None]] = field(default_factory=dict)
    stored: int = 0  # records
    duplicates: int = 0  # records
    dropped_delta: int = 0  # records the clients newly report dropped


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
        """Store a group in one transaction, then resolve its futures: each with its outcome,
        or all with an ``OSError`` if the store failed (nothing of the group was stored)."""
        started = time.perf_counter()
        now = time.time()
        for item in group:
            if item.client_id is not None and item.client_id not in self._last_seq:
                seq, dropped = await self.store.client_state(item.client_id)
                self._remember(item.client_id, seq, dropped)
        plan = self._plan(group, now)
        try:
            await self._write(plan, now)
        except (sqlite3.Error, OSError) as exc:
            # A full disk or an I/O error: nothing of this group is acknowledged, so clients
            # keep every batch in their window and resend it. The daemon itself lives on.
            self.metrics.store_errors.inc()
            log.error("inbox commit failed", error=str(exc), batches=len(group))
            for item in group:
                if not item.future.done():
                    item.future.set_exception(OSError(f"store unavailable: {exc}"))
            return
        self._committed(plan, started)
        for item, outcome in zip(group, plan.outcomes, strict=True):
            if not item.future.done():
                item.future.set_result(outcome)

    def _plan(self, group: list[Submission], now: float) -> _Plan:
        """Sort a group into batches to store and resends, against the clients' last seqs
        (every client of the group is in ``_last_seq``)."""
        plan = _Plan()
        for item in group:
            cid = item.client_id
            if cid is not None and item.dropped is not None:
                seen = self._dropped_of(plan, cid)
                if item.dropped > seen:
                    plan.dropped_delta += item.dropped - seen
                    plan.dropped[cid] = item.dropped
            if cid is not None and item.seq is not None:
                previous = plan.last_seq.get(cid, self._last_seq[cid])
                if item.seq <= previous:
                    plan.outcomes.append("duplicate")
                    plan.duplicates += item.n_records
                    continue
                plan.last_seq[cid] = item.seq
                plan.clients[cid] = (item.seq, item.host, item.pid)
            plan.rows.append(
                (now, cid, item.seq, item.host, item.source, item.sub_pkp_id, item.stream,
                 item.n_records, item.frame.decode("utf-8"))
            )  # fmt: skip
            plan.outcomes.append("stored")
            plan.stored += item.n_records
        return plan

    async def _write(self, plan: _Plan, now: float) -> None:
        """The plan's batches, clients and counters, in one transaction."""
        async with self.store.transaction() as db:
            if plan.rows:
                await db.executemany(
                    "INSERT INTO inbox (received, client_id, seq, host, source, sub_pkp_id,"
                    " stream, n_records, frame) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    plan.rows,
                )
            if plan.clients:
                await db.executemany(
                    "INSERT INTO clients (client_id, last_seq, dropped, host, pid, first_seen,"
                    " last_seen) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(client_id) DO UPDATE"
                    " SET last_seq = excluded.last_seq, dropped = excluded.dropped,"
                    " last_seen = excluded.last_seen",
                    [
                        (c, s, self._dropped_of(plan, c), h, p, now, now)
                        for c, (s, h, p) in plan.clients.items()
                    ],
                )
            await db.executemany(
                "INSERT INTO counters (name, value) VALUES (?, ?)"
                " ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                [
                    ("records_stored", plan.stored),
                    ("records_duplicate", plan.duplicates),
                    ("client_dropped", plan.dropped_delta),
                    ("batches_stored", len(plan.rows)),
                ],
            )

    def _committed(self, plan: _Plan, started: float) -> None:
        """The plan is durable: remember the clients' new state, count it."""
        for cid, seq in plan.last_seq.items():
            self._remember(cid, seq, self._dropped_of(plan, cid))
        self._dropped.update(plan.dropped)
        self.depth += plan.stored
        m = self.metrics
        m.records_stored.inc(plan.stored)
        m.records_duplicate.inc(plan.duplicates)
        m.client_dropped.inc(plan.dropped_delta)
        m.batches_committed.inc(len(plan.rows))
        m.inbox_depth.set(self.depth)
        m.commit_seconds.observe(time.perf_counter() - started)

    def _dropped_of(self, plan: _Plan, client_id: str) -> int:
        """The client's count of dropped records, with what ``plan`` moves it to."""
        return plan.dropped.get(client_id, self._dropped.get(client_id, 0))

    def _remember(self, client_id: str, seq: int, dropped: int) -> None:
        self._last_seq[client_id] = seq
        self._dropped[client_id] = dropped
        self._last_seq.move_to_end(client_id)
        if len(self._last_seq) > _LAST_SEQ_CACHE:
            old, _ = self._last_seq.popitem(last=False)
            self._dropped.pop(old, None)
