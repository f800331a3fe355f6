"""Marketplace events: a transactional outbox, an in-process bus, and the SSE stream.

The flow of one event::

    ledger transaction (writer connection)        after COMMIT
    ──────────────────────────────────────        ───────────────────────────────────────
    payment + entries + points + append_event ──▶ bus.publish(events)  ──▶ SSE listeners
                                                  deliverer.wake()     ──▶ webhook receivers

The outbox row is written in the same transaction as the payment, so an event exists if and
only if the payment does: a rolled-back payment leaves no event, and a crash after COMMIT
leaves an undelivered row that the webhook deliverer (``logmarketd.market.webhooks``) sends on the
next start. The bus is the fast path for live listeners; the outbox is the truth, and the SSE
stream fills any gap (a reconnect, a slow client) from it.

Ordering contract: ids increase with commit order, and the writer publishes each transaction's
events right after its COMMIT, before another transaction on the writer can commit. The SSE
stream relies on that to skip duplicates by id.

Reading the outbox must use a connection other than the writer's: a read through the writer
in the middle of a ledger transaction would see (and could send) an event that is then rolled
back. :class:`OutboxReader` opens its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

import aiosqlite
import structlog
from aiohttp import web

from logmarketd.errors import LogmarketdError

__all__ = [
    "EVENT_TYPES",
    "Event",
    "EventBus",
    "EventError",
    "Gap",
    "OutboxReader",
    "StoreOutboxReader",
    "Subscription",
    "append_event",
    "encode_payload",
    "follow_outbox",
    "prune_events",
    "sse_response",
]

log = structlog.get_logger("logmarketd.events")

EVENT_TYPES = frozenset(
    {
        "game.points.awarded",
        "log.payment.executed",
        "log.payment.reversed",
        "log.payment.settled",
        "log.payment.held",
        "log.payment.refused",
        "achievement.unlocked",
        "level.up",
        "security.secret.leaked",
    }
)

# No semicolons inside statements: the store's migration runner splits on them.
# AUTOINCREMENT so an id is never reused after old rows are pruned: clients resume by id.

_HEARTBEAT = 15.0
_DISCONNECT_POLL = 1.0  # aiohttp does not cancel a handler whose client left: we look
_BACKLOG_PAGE = 500


class EventError(LogmarketdError, ValueError):
    """An event cannot be recorded: unknown type, payload not a JSON object, no transaction."""


@dataclass(frozen=True, slots=True)
class Event:
    """One recorded event; ``payload`` is what the outbox holds (JSON round-tripped)."""

    id: int
    type: str
    payload: dict[str, Any]
    created: float


@dataclass(frozen=True, slots=True)
class Gap:
    """A subscriber fell behind and lost ``lost`` events, ids ``first_id`` to ``last_id``."""

    lost: int
    first_id: int
    last_id: int


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        # Money stays exact: a decimal string, never a float.
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def encode_payload(payload: dict[str, Any]) -> str:
    """The canonical JSON text of a payload (``Decimal`` as a string); ``EventError`` if not JSON."""
    if not isinstance(payload, dict):
        raise EventError(f"an event payload is a JSON object, got {type(payload).__name__}")
    try:
        return json.dumps(
            payload, default=_json_default, allow_nan=False, separators=(",", ":"), sort_keys=True
        )
    except (TypeError, ValueError) as exc:
        raise EventError(f"event payload is not JSON: {exc}") from exc


async def append_event(
    conn: aiosqlite.Connection, type: str, payload: dict[str, Any], now: float
) -> Event:
    """Record one event in the caller's open transaction on ``conn`` (never commits itself).

    The event becomes visible, and deliverable, only when the caller commits; a rollback
    removes it. Publish the returned events to the bus after the commit.
    """
    if type not in EVENT_TYPES:
        raise EventError(f"unknown event type {type!r}; expected one of {sorted(EVENT_TYPES)}")
    if not math.isfinite(now):
        raise EventError(f"event time must be finite, got {now!r}")
    text = encode_payload(payload)
    if not conn.in_transaction:
        # Alone, the event would commit without the payment it reports.
        raise EventError("append_event needs the caller's open transaction (BEGIN first)")
    # One hop to the connection's thread (execute + close would be two): this is on the
    # payment's critical path.
    row = await conn.execute_insert(
        "INSERT INTO events (type, payload, created, attempts, next_attempt) VALUES (?, ?, ?, 0, ?)",
        (type, text, now, now),
    )
    assert row is not None
    return Event(int(row[0]), type, json.loads(text), now)


async def prune_events(
    conn: aiosqlite.Connection, before: float, *, keep_undelivered: bool = True
) -> int:
    """Delete events created before ``before``; how many. Runs as one statement on ``conn``.

    Undelivered events are kept unless ``keep_undelivered`` is false (webhooks off: nothing
    will ever deliver them). Ids are never reused (AUTOINCREMENT), so resuming clients and
    receivers that deduplicate by id are not confused by pruning; a client resuming from a
    pruned id simply gets what is left after it.
    """
    sql = "DELETE FROM events WHERE created < ?"
    if keep_undelivered:
        sql += " AND delivered_at IS NOT NULL"
    cursor = await conn.execute(sql, (before,))
    deleted = cursor.rowcount
    await cursor.close()
    return deleted


def _event(row: Iterable[Any]) -> Event:
    id_, type_, payload, created = row
    return Event(int(id_), str(type_), json.loads(payload), float(created))


class OutboxReader:
    """Reads committed events on its own connection; ``after`` is the SSE backlog callable."""

    def __init__(self, db: aiosqlite.Connection, *, page: int = _BACKLOG_PAGE) -> None:
        self.db = db
        self.page = page

    @classmethod
    async def open(cls, path: Path | str, *, page: int = _BACKLOG_PAGE) -> OutboxReader:
        db = await aiosqlite.connect(path, isolation_level=None)
        await db.execute("PRAGMA busy_timeout=5000")
        return cls(db, page=page)

    async def after(self, after_id: int) -> list[Event]:
        """Up to ``page`` events with id above ``after_id``, in id order."""
        async with self.db.execute(
            "SELECT id, type, payload, created FROM events WHERE id > ? ORDER BY id LIMIT ?",
            (after_id, self.page),
        ) as cur:
            rows = await cur.fetchall()
        return [_event(r) for r in rows]

    async def close(self) -> None:
        await self.db.close()


class StoreOutboxReader:
    """The SSE backlog read through a store's own queries (the shared store of a fleet: its
    outbox holds every daemon's events)."""

    def __init__(self, store: Any, *, page: int = _BACKLOG_PAGE) -> None:
        self.store = store
        self.page = page

    async def after(self, after_id: int) -> list[Event]:
        """Up to ``page`` events with id above ``after_id``, in id order."""
        rows = await self.store.fetchall(
            "SELECT id, type, payload, created FROM events WHERE id > ? ORDER BY id LIMIT ?",
            (after_id, self.page),
        )
        return [_event(r) for r in rows]

    async def close(self) -> None:
        """Nothing of its own to close: the store is closed by its owner."""


async def follow_outbox(
    store: Any, publish: Callable[[list[Event]], None], stop: asyncio.Event, *, every: float = 5.0
) -> None:
    """Publish every event of a shared outbox (the whole fleet's) in id order as it commits,
    until ``stop``: woken by the store's notification, and every ``every`` seconds anyway.
    The ids are in commit order (writers take turns), so reading above the last one published
    misses none; it starts above the newest at the time it starts."""
    reader = StoreOutboxReader(store)
    last: int | None = None
    while not stop.is_set():
        try:
            if last is None:
                row = await store.fetchone("SELECT COALESCE(MAX(id), 0) FROM events")
                last = int(row[0]) if row else 0
            while events := await reader.after(last):
                publish(events)
                last = events[-1].id
            await store.wait_for_events(every)
        except OSError as exc:  # the store unreachable: tried again
            log.warning("cannot read the shared outbox; trying again", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), min(every, 1.0))


class Subscription:
    """One live listener: a bounded queue that drops its oldest events when full.

    Iterate it (``async for item in sub``) to get :class:`Event` and, after a loss,
    :class:`Gap` items; the iteration ends when the bus closes. Use it as a context manager
    (sync or async) so it unsubscribes on exit.
    """

    def __init__(self, bus: EventBus, maxsize: int) -> None:
        self._bus = bus
        self._queue: deque[Event] = deque()
        self._maxsize = maxsize
        self._ready = asyncio.Event()
        self._gap: Gap | None = None
        self.lost = 0
        self.closed = False

    def _put(self, event: Event) -> None:
        if len(self._queue) >= self._maxsize:
            dropped = self._queue.popleft()
            self.lost += 1
            gap = self._gap
            self._gap = (
                Gap(gap.lost + 1, gap.first_id, dropped.id)
                if gap
                else Gap(1, dropped.id, dropped.id)
            )
        self._queue.append(event)
        self._ready.set()

    def _get_nowait(self) -> Event | Gap | None:
        # Drops are always at the head, so a pending gap precedes everything still queued.
        if self._gap is not None:
            gap, self._gap = self._gap, None
            return gap
        if self._queue:
            return self._queue.popleft()
        return None

    async def get(self, timeout: float | None = None) -> Event | Gap | None:
        """The next item; ``None`` when ``timeout`` passes or the subscription is closed."""
        while True:
            item = self._get_nowait()
            if item is not None or self.closed:
                return item
            self._ready.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self._ready.wait()
            except TimeoutError:
                return self._get_nowait()

    def close(self) -> None:
        """Stop receiving; what is queued can still be read."""
        if not self.closed:
            self.closed = True
            if self in self._bus._subscribers:
                self._bus._subscribers.discard(self)
                self._bus._dropped_gone += self.lost
            self._ready.set()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event | Gap:
        item = await self.get()
        if item is None:
            raise StopAsyncIteration
        return item

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class EventBus:
    """In-process publish/subscribe for live listeners; publishing never waits for them.

    Call :meth:`publish` and :meth:`subscribe` from the event loop's thread. Each subscriber
    has its own bounded queue (``maxsize``); a slow one loses its oldest events, counted in
    its ``lost`` and in :attr:`dropped`, and sees a :class:`Gap` where they were.
    """

    def __init__(self, maxsize: int = 1000) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._subscribers: set[Subscription] = set()
        self.closed = False
        self.published = 0
        self._dropped_gone = 0

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    @property
    def dropped(self) -> int:
        """Events lost by slow subscribers, all of them, since the bus started."""
        return self._dropped_gone + sum(s.lost for s in self._subscribers)

    def subscribe(self, maxsize: int | None = None) -> Subscription:
        """A new listener, receiving what is published from now on."""
        sub = Subscription(self, maxsize or self.maxsize)
        if self.closed:
            sub.closed = True
        else:
            self._subscribers.add(sub)
        return sub

    def publish(self, events: Iterable[Event]) -> None:
        """Hand committed events (in commit order) to every listener; O(listeners), no await."""
        batch = list(events)
        self.published += len(batch)
        for sub in list(self._subscribers):
            for event in batch:
                sub._put(event)

    def close(self) -> None:
        """End every subscription (their iterations stop once drained); call on shutdown."""
        self.closed = True
        for sub in list(self._subscribers):
            sub.close()


# -- Server-Sent Events ----------------------------------------------------------------------


# The stored events after an id, a page at a time (see sse_response).
_Backlog = Callable[[int], Awaitable[list[Event]]]
_SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx would otherwise buffer the stream
}


def _resume_id(request: web.Request, since_id: int | None) -> int | None:
    header = request.headers.get("Last-Event-ID")
    if header is None or not header.strip():
        return since_id
    try:
        value = int(header.strip())
    except ValueError:
        raise web.HTTPBadRequest(
            text=f"Last-Event-ID must be an event id (an integer), got {header!r}"
        ) from None
    if value < 0:
        raise web.HTTPBadRequest(text=f"Last-Event-ID must not be negative, got {value}")
    return value


def _frame(event: Event) -> bytes:
    data = json.dumps(event.payload, separators=(",", ":"), sort_keys=True)
    return f"id: {event.id}\nevent: {event.type}\ndata: {data}\n\n".encode()


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def sse_response(
    request: web.Request,
    bus: EventBus,
    *,
    since_id: int | None,
    backlog: _Backlog | None,
    heartbeat: float = _HEARTBEAT,
) -> web.StreamResponse:
    """Stream events as Server-Sent Events until the client leaves or the bus closes.

    Each event is ``id: <id>``, ``event: <type>``, ``data: <JSON payload>``. A
    ``Last-Event-ID`` header (else ``since_id``) resumes after that id: missed events come
    from ``backlog(after_id)`` (pages in id order, an empty page when caught up, read on a
    connection other than the writer's), then the stream goes live with no gap and no
    duplicate. A client that falls behind the bus is refilled from the backlog the same way;
    without a backlog it gets ``event: gap`` with ``{"lost": n, "firstId": .., "lastId": ..}``.
    A comment line is sent every ``heartbeat`` seconds of silence to keep proxies open.
    """
    resume = _resume_id(request, since_id)
    # Subscribe before reading the backlog: every committed event is then in the backlog,
    # in the queue, or both (and both is deduplicated by id).
    with bus.subscribe() as sub:
        resp = web.StreamResponse(headers=_SSE_HEADERS)
        try:
            await resp.prepare(request)
            await _stream(request, resp, sub, resume, backlog, heartbeat)
        except ConnectionError:
            return resp  # the client left mid-write
        with contextlib.suppress(ConnectionError):
            await resp.write_eof()
    return resp


async def _stream(
    request: web.Request,
    resp: web.StreamResponse,
    sub: Subscription,
    last: int | None,
    backlog: _Backlog | None,
    heartbeat: float,
) -> None:
    """Write what came after ``last`` (the backlog, then ``sub``'s events) until the client
    leaves or the bus closes; a keepalive after ``heartbeat`` seconds of silence."""
    loop = asyncio.get_running_loop()
    if last is not None and backlog is not None:
        last = await _replay(resp, backlog, last)
    beat = loop.time() + heartbeat
    while not _gone(request):
        item = await sub.get(timeout=max(0.0, min(_DISCONNECT_POLL, beat - loop.time())))
        if item is None:
            if sub.closed:
                break
            if loop.time() >= beat:
                await resp.write(b": keepalive\n\n")
                beat = loop.time() + heartbeat
            continue
        if isinstance(item, Gap):
            last = await _fill_gap(resp, item, last, backlog)
        elif last is None or item.id > last:
            await resp.write(_frame(item))
            last = item.id
        else:
            continue  # sent already, from the backlog
        beat = loop.time() + heartbeat


async def _fill_gap(
    resp: web.StreamResponse, gap: Gap, last: int | None, backlog: _Backlog | None
) -> int | None:
    """Events the subscriber lost (it fell behind): refilled from the backlog, else announced
    as ``event: gap``. The last id sent."""
    if backlog is not None:
        after = last if last is not None else gap.first_id - 1
        return await _replay(resp, backlog, after)
    lost = {"lost": gap.lost, "firstId": gap.first_id, "lastId": gap.last_id}
    await resp.write(f"event: gap\ndata: {json.dumps(lost)}\n\n".encode())
    return last


async def _replay(resp: web.StreamResponse, backlog: _Backlog, after: int) -> int:
    """Send every stored event after ``after``; the last id sent (or ``after``)."""
    while True:
        page = await backlog(after)
        fresh = [e for e in page if e.id > after]
        if not fresh:
            return after
        await resp.write(b"".join(_frame(e) for e in fresh))
        after = fresh[-1].id
