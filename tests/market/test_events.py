"""The event outbox, the in-process bus and the SSE stream, on real SQLite files and sockets."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import aiosqlite
import pytest
from aiohttp import web
from logmarketd.market.events import (
    Event,
    EventBus,
    EventError,
    Gap,
    OutboxReader,
    append_event,
    prune_events,
    sse_response,
)
from logmarketd.store.db import _split_sql
from logmarketd.store.schema import OUTBOX_DDL

BUS = web.AppKey("bus", EventBus)
READER = web.AppKey("outbox_reader", OutboxReader)


async def open_db(path: Path) -> aiosqlite.Connection:
    """A writer connection on a fresh store file, migrated the way the store migrates."""
    conn = await aiosqlite.connect(path, isolation_level=None)
    await conn.execute("PRAGMA journal_mode=WAL")
    for statement in _split_sql(OUTBOX_DDL):
        await conn.execute(statement)
    return conn


def points(n: int) -> dict[str, Any]:
    return {
        "subPKPId": "sp-1",
        "points": 12.5 + n,
        "source": "log-data-marketplace",
        "metadata": {"paymentAmount": Decimal("1.25"), "quality": 91, "n": n},
    }


async def commit(conn: aiosqlite.Connection, payloads: Iterable[dict[str, Any]]) -> list[Event]:
    """One ledger-like transaction appending one event per payload."""
    await conn.execute("BEGIN IMMEDIATE")
    events = [await append_event(conn, "game.points.awarded", p, time.time()) for p in payloads]
    await conn.execute("COMMIT")
    return events


async def count(conn: aiosqlite.Connection) -> int:
    async with conn.execute("SELECT COUNT(*) FROM events") as cur:
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[aiosqlite.Connection]:
    conn = await open_db(tmp_path / "logmarket.db")
    yield conn
    await conn.close()


# -- the outbox ------------------------------------------------------------------------------


async def test_append_event_returns_what_the_outbox_holds(db: aiosqlite.Connection) -> None:
    """A committed event reads back identically; Decimal money is stored as an exact string."""
    (event,) = await commit(db, [points(0)])
    assert event.id == 1 and event.type == "game.points.awarded"
    assert event.payload["metadata"]["paymentAmount"] == "1.25"
    async with db.execute("SELECT payload, attempts, delivered_at FROM events") as cur:
        row = await cur.fetchone()
    assert row is not None
    assert json.loads(row[0]) == event.payload and row[1] == 0 and row[2] is None


async def test_append_event_rejects_bad_input_and_stores_nothing(
    db: aiosqlite.Connection,
) -> None:
    """Unknown type, non-object or non-JSON payload, NaN, or no open transaction: EventError."""
    await db.execute("BEGIN")
    with pytest.raises(EventError, match="unknown event type"):
        await append_event(db, "payment.made", {}, 1.0)
    with pytest.raises(EventError, match="JSON object"):
        await append_event(db, "level.up", [1, 2], 1.0)  # type: ignore[arg-type]
    with pytest.raises(EventError, match="not JSON"):
        await append_event(db, "level.up", {"x": float("nan")}, 1.0)
    with pytest.raises(EventError, match="not JSON"):
        await append_event(db, "level.up", {"x": object()}, 1.0)
    with pytest.raises(EventError, match="finite"):
        await append_event(db, "level.up", {}, float("inf"))
    await db.execute("COMMIT")
    with pytest.raises(EventError, match="open transaction"):
        await append_event(db, "level.up", {"subPKPId": "sp-1", "level": 2}, 1.0)
    assert await count(db) == 0


async def test_rolled_back_append_leaves_no_event(tmp_path: Path, db: aiosqlite.Connection) -> None:
    """An event appended in a transaction that rolls back is gone, and its id is not seen."""
    await db.execute("BEGIN IMMEDIATE")
    await append_event(db, "log.payment.executed", {"subPKPId": "sp-1", "amount": "2.00"}, 1.0)
    await db.execute("ROLLBACK")
    assert await count(db) == 0
    reader = await OutboxReader.open(tmp_path / "logmarket.db")
    try:
        assert await reader.after(0) == []
    finally:
        await reader.close()


async def test_reader_sees_only_committed_events(tmp_path: Path, db: aiosqlite.Connection) -> None:
    """The reader's own connection never sees an event of a transaction still open."""
    reader = await OutboxReader.open(tmp_path / "logmarket.db", page=2)
    try:
        await db.execute("BEGIN IMMEDIATE")
        for n in range(3):
            await append_event(db, "game.points.awarded", points(n), 1.0)
        assert await reader.after(0) == []
        await db.execute("COMMIT")
        assert [e.id for e in await reader.after(0)] == [1, 2]  # one page
        assert [e.id for e in await reader.after(2)] == [3]
        assert await reader.after(3) == []
    finally:
        await reader.close()


async def test_prune_keeps_undelivered_events_and_never_reuses_ids(
    db: aiosqlite.Connection,
) -> None:
    """Pruning removes old delivered events only (unless told otherwise); new ids keep growing."""
    await commit(db, [points(n) for n in range(4)])
    await db.execute("UPDATE events SET delivered_at = 1.0 WHERE id <= 2")
    assert await prune_events(db, before=time.time() + 1) == 2
    async with db.execute("SELECT id FROM events ORDER BY id") as cur:
        assert [r[0] for r in await cur.fetchall()] == [3, 4]
    assert await prune_events(db, before=time.time() + 1, keep_undelivered=False) == 2
    assert await count(db) == 0
    (event,) = await commit(db, [points(5)])
    assert event.id == 5


# -- the bus ---------------------------------------------------------------------------------


def ev(i: int) -> Event:
    return Event(i, "level.up", {"subPKPId": "sp-1", "level": i}, float(i))


async def test_bus_delivers_to_every_subscriber_in_order() -> None:
    """Each subscriber gets every published event, in order; iteration ends on close."""
    bus = EventBus()
    with bus.subscribe() as a, bus.subscribe() as b:
        bus.publish([ev(1), ev(2)])
        bus.publish([ev(3)])
        bus.close()
        assert [x async for x in a] == [ev(1), ev(2), ev(3)]
        assert [x async for x in b] == [ev(1), ev(2), ev(3)]
    assert bus.subscribers == 0 and bus.published == 3


async def test_slow_subscriber_loses_oldest_and_sees_a_gap() -> None:
    """A full queue drops its oldest events, counts them and reports a Gap where they were;
    the publisher and a fast subscriber are unaffected."""
    bus = EventBus(maxsize=100)
    fast = bus.subscribe()
    async with bus.subscribe(maxsize=3) as slow:
        assert await slow.get(timeout=0.01) is None
        bus.publish([ev(1)])
        assert await slow.get() == ev(1)
        bus.publish(ev(i) for i in range(2, 11))  # returns at once: nothing to wait for
        assert slow.lost == 6 and bus.dropped == 6
        assert await slow.get() == Gap(lost=6, first_id=2, last_id=7)
        assert [await slow.get() for _ in range(3)] == [ev(8), ev(9), ev(10)]
        bus.publish([ev(11)])
        assert await slow.get() == ev(11)  # no second gap: nothing more was lost
    assert bus.dropped == 6  # still counted after the subscriber left
    assert [await fast.get() for _ in range(11)] == [ev(i) for i in range(1, 12)]
    assert fast.lost == 0


async def test_subscription_wakes_on_publish_and_on_close() -> None:
    """A waiting subscriber wakes when an event is published and ends when the bus closes."""
    bus = EventBus()
    sub = bus.subscribe()
    waiter = asyncio.create_task(sub.get())
    await asyncio.sleep(0)
    bus.publish([ev(1)])
    assert await waiter == ev(1)
    waiter = asyncio.create_task(sub.get())
    await asyncio.sleep(0)
    bus.close()
    assert await waiter is None and sub.closed
    assert bus.subscribe().closed  # subscribing to a closed bus ends at once


# -- Server-Sent Events ----------------------------------------------------------------------


class SseApp:
    """The daemon's wiring in miniature: bus + outbox reader owned by the app's lifecycle."""

    def __init__(self, db_path: Path, bus: EventBus, *, backlog: bool = True, beat: float = 15):
        self.bus = bus
        self.app = web.Application()
        self.app[BUS] = bus

        async def outbox(app: web.Application) -> AsyncIterator[None]:
            app[READER] = await OutboxReader.open(db_path)
            yield
            await app[READER].close()

        async def close_bus(app: web.Application) -> None:
            app[BUS].close()  # ends every stream before the server waits for handlers

        async def events(request: web.Request) -> web.StreamResponse:
            since = request.query.get("since")
            return await sse_response(
                request,
                request.app[BUS],
                since_id=int(since) if since is not None else None,
                backlog=request.app[READER].after if backlog else None,
                heartbeat=beat,
            )

        self.app.cleanup_ctx.append(outbox)
        self.app.on_shutdown.append(close_bus)
        self.app.router.add_get("/events", events)
        self.runner = web.AppRunner(self.app, shutdown_timeout=5)
        self.url = ""

    async def start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/events"


class SseClient:
    """Reads frames (dicts of field → value; comments under ``comment``) from a stream."""

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self.resp = resp

    async def frame(self, timeout: float = 10) -> dict[str, str] | None:
        fields: dict[str, str] = {}
        while True:
            line = await asyncio.wait_for(self.resp.content.readline(), timeout)
            if not line:
                return None  # end of stream
            text = line.decode().rstrip("\n")
            if not text:
                if fields:
                    return fields
                continue
            name, _, value = text.partition(":")
            fields[name or "comment"] = value.removeprefix(" ")

    async def events(self, n: int) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        while len(out) < n:
            f = await self.frame()
            assert f is not None, f"stream ended after {len(out)} events"
            if "comment" not in f:
                out.append(f)
        return out


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[SseApp]:
    s = SseApp(tmp_path / "logmarket.db", EventBus())
    await s.start()
    yield s
    await s.runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session


async def test_sse_streams_published_events_live(
    served: SseApp, db: aiosqlite.Connection, http: aiohttp.ClientSession
) -> None:
    """A connected client receives each committed, published event as id/event/data."""
    async with http.get(served.url) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        await until(lambda: served.bus.subscribers == 1)
        served.bus.publish(await commit(db, [points(1), points(2)]))
        got = await SseClient(resp).events(2)
    assert [f["id"] for f in got] == ["1", "2"]
    assert got[0]["event"] == "game.points.awarded"
    assert json.loads(got[1]["data"])["metadata"] == {
        "paymentAmount": "1.25",
        "quality": 91,
        "n": 2,
    }


async def test_sse_resumes_after_last_event_id_without_gap_or_duplicate(
    served: SseApp, db: aiosqlite.Connection, http: aiohttp.ClientSession
) -> None:
    """Last-Event-ID replays the missed events from the outbox, then the stream goes live;
    an event both in the outbox and in the bus (committed, published late) is sent once."""
    await commit(db, [points(n) for n in range(5)])  # published to nobody
    async with http.get(served.url, headers={"Last-Event-ID": "2"}) as resp:
        client = SseClient(resp)
        assert [f["id"] for f in await client.events(3)] == ["3", "4", "5"]
        served.bus.publish(await commit(db, [points(6), points(7)]))
        assert [f["id"] for f in await client.events(2)] == ["6", "7"]
    late = await commit(db, [points(8)])  # committed while no client is connected
    async with http.get(served.url, headers={"Last-Event-ID": "7"}) as resp:
        client = SseClient(resp)
        assert [f["id"] for f in await client.events(1)] == ["8"]
        served.bus.publish(late)  # the writer publishes after the replay read it: skipped
        served.bus.publish(await commit(db, [points(9)]))
        assert [f["id"] for f in await client.events(1)] == ["9"]
    async with http.get(served.url + "?since=8") as resp:  # since_id when there is no header
        assert [f["id"] for f in await SseClient(resp).events(1)] == ["9"]


async def test_sse_client_behind_the_bus_is_refilled_from_the_outbox(
    tmp_path: Path, db: aiosqlite.Connection, http: aiohttp.ClientSession
) -> None:
    """With a tiny per-client queue, a burst overflows it (the publisher never waits) and the
    stream fills the gap from the outbox: every event arrives once, in order."""
    s = SseApp(tmp_path / "logmarket.db", EventBus(maxsize=4))
    await s.start()
    try:
        async with http.get(s.url) as resp:
            await until(lambda: s.bus.subscribers == 1)
            for start in range(0, 600, 200):
                s.bus.publish(await commit(db, [points(n) for n in range(start, start + 200)]))
            assert s.bus.dropped > 0
            got = await SseClient(resp).events(600)
        assert [int(f["id"]) for f in got] == list(range(1, 601))
    finally:
        await s.runner.cleanup()


async def test_sse_without_backlog_reports_the_gap(
    tmp_path: Path, db: aiosqlite.Connection, http: aiohttp.ClientSession
) -> None:
    """Without an outbox to refill from, the loss is a visible ``gap`` event."""
    s = SseApp(tmp_path / "logmarket.db", EventBus(maxsize=2), backlog=False)
    await s.start()
    try:
        async with http.get(s.url) as resp:
            await until(lambda: s.bus.subscribers == 1)
            s.bus.publish(await commit(db, [points(n) for n in range(5)]))
            got = await SseClient(resp).events(3)
        assert got[0]["event"] == "gap"
        assert json.loads(got[0]["data"]) == {"lost": 3, "firstId": 1, "lastId": 3}
        assert [f["id"] for f in got[1:]] == ["4", "5"]
    finally:
        await s.runner.cleanup()


async def test_sse_sends_heartbeats_when_idle(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    """An idle stream sends a comment line every heartbeat period."""
    s = SseApp(tmp_path / "logmarket.db", EventBus(), beat=0.05)
    await s.start()
    try:
        async with http.get(s.url) as resp:
            client = SseClient(resp)
            for _ in range(3):
                assert await client.frame() == {"comment": "keepalive"}
    finally:
        await s.runner.cleanup()


async def test_sse_notices_a_client_that_left_while_idle(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """A client leaving a silent stream (no event, no heartbeat due) is unsubscribed soon."""
    s = SseApp(tmp_path / "logmarket.db", EventBus(), beat=3600)
    await s.start()
    try:
        async with http.get(s.url):
            await until(lambda: s.bus.subscribers == 1)
        await until(lambda: s.bus.subscribers == 0)
    finally:
        await s.runner.cleanup()


async def test_sse_ends_cleanly_on_app_shutdown(
    served: SseApp, http: aiohttp.ClientSession
) -> None:
    """Shutting the app down ends open streams (end of stream, no error) and does not hang."""
    async with http.get(served.url) as resp:
        await until(lambda: served.bus.subscribers == 1)
        await asyncio.wait_for(served.runner.cleanup(), 10)
        assert await SseClient(resp).frame() is None
    assert served.bus.closed and served.bus.subscribers == 0


async def test_sse_rejects_a_malformed_last_event_id(
    served: SseApp, http: aiohttp.ClientSession
) -> None:
    """A Last-Event-ID that is not an event id is a 400 with a reason, not a silent restart."""
    for bad in ("abc", "-3"):
        async with http.get(served.url, headers={"Last-Event-ID": bad}) as resp:
            assert resp.status == 400
            assert "Last-Event-ID" in await resp.text()
    assert served.bus.subscribers == 0
