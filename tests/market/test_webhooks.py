"""Signed webhook delivery of the outbox to real receivers on 127.0.0.1, from real SQLite files,
including a writer process killed between its commit and the delivery."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import aiosqlite
import pytest
from aiohttp import web
from logmarketd.errors import ConfigError, StartupError
from logmarketd.market.events import (
    Event,
    EventBus,
    OutboxReader,
    append_event,
    sse_response,
)
from logmarketd.market.webhooks import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookDeliverer,
    backoff_delay,
    sign,
    verify_signature,
)
from logmarketd.store.db import _split_sql
from logmarketd.store.schema import OUTBOX_DDL

SECRET = "whsec-test-0123456789"
FAST = {"base_backoff": 0.02, "max_backoff": 0.1, "timeout": 2.0}


@dataclass
class Seen:
    """One request as the receiver saw it, with the outbox row's state at that moment."""

    event_id: int
    action: str
    headers: dict[str, str]
    body: bytes
    row: tuple[Any, ...] | None = None


@dataclass
class Receiver:
    """A webhook endpoint: plays ``script`` (one action per request), then answers 200.

    Actions: ``500``; ``302``; ``drop`` (closes the connection without answering); ``slow``
    (answers after ``slow_for`` s, later than the sender's timeout); ``hang`` (answers 503
    only when released). A request with a bad signature is answered 401 and counted.
    """

    script: list[str] = field(default_factory=list)
    db: Path | None = None
    slow_for: float = 1.0
    seen: list[Seen] = field(default_factory=list)
    accepted: list[int] = field(default_factory=list)
    bad_signatures: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""
    runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        event_id = int(request.headers[EVENT_ID_HEADER])
        action = self.script.pop(0) if self.script else "ok"
        seen = Seen(event_id, action, dict(request.headers), body)
        if self.db is not None:
            with contextlib.closing(sqlite3.connect(self.db)) as conn:
                seen.row = conn.execute(
                    "SELECT attempts, last_error, delivered_at FROM events WHERE id = ?",
                    (event_id,),
                ).fetchone()
        self.seen.append(seen)
        if not verify_signature(SECRET, request.headers[SIGNATURE_HEADER], body):
            self.bad_signatures += 1
            return web.Response(status=401, text="bad signature")
        if action == "500":
            return web.Response(status=500, text="receiver exploded")
        if action == "302":
            raise web.HTTPFound("/elsewhere")
        if action == "drop":
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)  # never sent: the connection is gone
        if action == "slow":
            await asyncio.sleep(self.slow_for)
            return web.Response(status=503)  # too late: the sender has given up
        if action == "hang":
            await self.release.wait()
            return web.Response(status=503)
        self.accepted.append(event_id)
        return web.Response(status=204)

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app, shutdown_timeout=2)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/hook"
        return self

    async def stop(self) -> None:
        self.release.set()
        if self.runner is not None:
            await self.runner.cleanup()


async def open_db(path: Path) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    await conn.execute("PRAGMA journal_mode=WAL")
    await conn.execute("PRAGMA busy_timeout=5000")
    for statement in _split_sql(OUTBOX_DDL):
        await conn.execute(statement)
    return conn


async def commit(conn: aiosqlite.Connection, *amounts: str) -> list[Event]:
    """A ledger-like transaction: one ``log.payment.executed`` event per amount."""
    await conn.execute("BEGIN IMMEDIATE")
    events = [
        await append_event(
            conn,
            "log.payment.executed",
            {"subPKPId": "sp-1", "amount": a, "analysisId": f"an-{a}"},
            time.time(),
        )
        for a in amounts
    ]
    await conn.execute("COMMIT")
    return events


def rows(db: Path) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute(
            "SELECT id, attempts, delivered_at IS NOT NULL, last_error FROM events ORDER BY id"
        ).fetchall()


async def until(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "logmarket.db"


@pytest.fixture
async def writer(db_path: Path) -> AsyncIterator[aiosqlite.Connection]:
    conn = await open_db(db_path)
    yield conn
    await conn.close()


@pytest.fixture
async def receiver(db_path: Path) -> AsyncIterator[Receiver]:
    r = await Receiver(db=db_path).start()
    yield r
    await r.stop()


@contextlib.asynccontextmanager
async def delivering(db_path: Path, url: str, **kw: Any) -> AsyncIterator[WebhookDeliverer]:
    d = WebhookDeliverer(db_path, url, SECRET, **({**FAST, **kw}))
    await d.start()
    try:
        yield d
    finally:
        await d.stop()


# -- signatures ------------------------------------------------------------------------------


def test_signature_verifies_only_the_right_secret_body_and_time() -> None:
    """A signature verifies with its secret and body within the tolerance, and fails with a
    wrong secret, a tampered body, an old or future timestamp, or a malformed header."""
    body = b'{"id":1,"type":"level.up","created":1.0,"data":{"level":2}}'
    t = int(time.time())
    header = sign(SECRET, body, t)
    assert header.startswith(f"t={t},v1=")
    assert verify_signature(SECRET, header, body)
    assert verify_signature(SECRET.encode(), header, body.decode())
    assert not verify_signature("another-secret", header, body)
    assert not verify_signature(SECRET, header, body.replace(b'"level":2', b'"level":9'))
    assert not verify_signature(SECRET, header, body, now=t + 301)
    assert verify_signature(SECRET, header, body, now=t + 299)
    assert not verify_signature(SECRET, header, body, tolerance=10, now=t - 11)
    old = sign(SECRET, body, t - 3600)
    assert not verify_signature(SECRET, old, body)
    forged = header.replace(f"t={t}", f"t={t + 5}")  # a fresh time on an old signature
    assert not verify_signature(SECRET, forged, body)
    for malformed in ("", "garbage", f"t={t}", "v1=abc", f"t=x,v1={header[-64:]}", f"t={t},v1"):
        assert not verify_signature(SECRET, malformed, body)
    rotated = f"t={t},v1={'0' * 64},v1={header.split('v1=')[1]}"
    assert verify_signature(SECRET, rotated, body)  # one of several signatures matches


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap() -> None:
    """Delays double per attempt within 50-100% jitter, never exceed the cap, never overflow."""
    rng = random.Random(7)
    for attempts, full in ((1, 1.0), (2, 2.0), (3, 4.0), (6, 32.0), (7, 60.0), (10_000, 60.0)):
        for _ in range(50):
            delay = backoff_delay(attempts, base=1.0, cap=60.0, rng=rng)
            assert full / 2 <= delay <= full


# -- delivery --------------------------------------------------------------------------------


async def test_rolled_back_event_is_never_delivered(
    db_path: Path, writer: aiosqlite.Connection, receiver: Receiver
) -> None:
    """A payment transaction that rolls back leaves no event, so nothing is delivered; the next
    committed event (which reuses the id) is delivered with its own content only."""
    async with delivering(db_path, receiver.url) as d:
        await writer.execute("BEGIN IMMEDIATE")
        await append_event(writer, "log.payment.executed", {"amount": "rolled-back"}, 1.0)
        d.wake()
        await asyncio.sleep(0.2)  # give a wrong deliverer the chance to see it
        await writer.execute("ROLLBACK")
        assert rows(db_path) == []
        (event,) = await commit(writer, "3.00")
        d.wake()
        await until(lambda: receiver.accepted == [event.id])
    assert [json.loads(s.body)["data"]["amount"] for s in receiver.seen] == ["3.00"]


async def test_failing_receiver_gets_the_event_once_after_retries(
    db_path: Path, writer: aiosqlite.Connection, receiver: Receiver
) -> None:
    """500, a dropped connection, a timeout, then 2xx: the event is accepted exactly once after
    four attempts, each failure recorded on the row before the next attempt."""
    receiver.script = ["500", "drop", "slow"]
    receiver.slow_for = 1.5
    (event,) = await commit(writer, "1.25")
    async with delivering(db_path, receiver.url, timeout=0.3) as d:
        d.wake()
        await until(lambda: receiver.accepted == [event.id])
        (second,) = await commit(writer, "2.50")
        d.wake()
        await until(lambda: receiver.accepted == [event.id, second.id])
        assert d.delivered == 2 and d.failures == 3
    assert [s.event_id for s in receiver.seen] == [1, 1, 1, 1, 2]
    first_four = [s.row for s in receiver.seen[:4]]
    assert first_four[0] == (0, None, None)
    assert first_four[1] is not None and first_four[1][0] == 1
    assert first_four[1][1].startswith("HTTP 500: receiver exploded")
    assert first_four[2] is not None and first_four[2][0] == 2
    assert "Disconnected" in first_four[2][1]
    assert first_four[3] is not None and first_four[3][:2] == (3, "timeout after 0.3 s")
    assert rows(db_path) == [(1, 4, 1, None), (2, 1, 1, None)]
    assert receiver.bad_signatures == 0


async def test_delivery_format_headers_and_signature(
    db_path: Path, writer: aiosqlite.Connection, receiver: Receiver
) -> None:
    """The body is {id, type, created, data}; the headers carry the id, the timestamp and a
    signature over exactly the body at that timestamp."""
    (event,) = await commit(writer, "7.00")
    async with delivering(db_path, receiver.url) as d:
        d.wake()
        await until(lambda: receiver.accepted == [1])
    (seen,) = receiver.seen
    assert json.loads(seen.body) == {
        "id": 1,
        "type": "log.payment.executed",
        "created": event.created,
        "data": {"subPKPId": "sp-1", "amount": "7.00", "analysisId": "an-7.00"},
    }
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers[EVENT_ID_HEADER] == "1"
    t = int(seen.headers[TIMESTAMP_HEADER])
    assert seen.headers[SIGNATURE_HEADER] == sign(SECRET, seen.body, t)


async def test_events_go_in_id_order_and_never_block_the_ledger(
    db_path: Path, writer: aiosqlite.Connection, receiver: Receiver
) -> None:
    """While the receiver holds the first delivery, the ledger keeps committing (the
    deliverer holds no lock during HTTP); later events wait their turn, then all arrive in order."""
    receiver.script = ["hang", "302"]
    await commit(writer, "1.00")
    async with delivering(db_path, receiver.url, timeout=30) as d:
        d.wake()
        await until(lambda: len(receiver.seen) == 1)
        for n in range(2, 6):
            await commit(writer, f"{n}.00")  # a busy lock here would raise after busy_timeout
            d.wake()
        await asyncio.sleep(0.1)
        assert len(receiver.seen) == 1  # held behind the head
        receiver.release.set()
        await until(lambda: receiver.accepted == [1, 2, 3, 4, 5])
    assert [s.event_id for s in receiver.seen] == [1, 1, 1, 2, 3, 4, 5]  # 503, 302 (not followed)
    assert rows(db_path)[0][:3] == (1, 3, 1)


async def test_restarted_deliverer_continues_the_recorded_attempts(
    db_path: Path, writer: aiosqlite.Connection, receiver: Receiver
) -> None:
    """Attempts survive a restart: the next deliverer carries on counting and delivers."""
    receiver.script = ["500"] * 50
    await commit(writer, "4.00")
    async with delivering(db_path, receiver.url) as d:
        d.wake()
        await until(lambda: len(receiver.seen) >= 3)
    attempts = rows(db_path)[0][1]
    assert attempts >= 3 and receiver.accepted == []
    assert rows(db_path)[0][3].startswith("HTTP 500")
    receiver.script = []
    async with delivering(db_path, receiver.url):
        await until(lambda: receiver.accepted == [1])  # no wake(): the start looks by itself
    assert rows(db_path) == [(1, attempts + 1, 1, None)]


WRITER = """
import asyncio, sys, time
import aiohttp
import aiosqlite
from logmarketd.market.events import append_event
from logmarketd.market.webhooks import WebhookDeliverer

async def main(db, url, secret):
    conn = await aiosqlite.connect(db, isolation_level=None)
    await conn.execute("BEGIN IMMEDIATE")
    for n in range(3):
        payload = {"subPKPId": "sp-1", "amount": f"{n}.50", "analysisId": f"an-{n}"}
        await append_event(conn, "log.payment.executed", payload, time.time())
    await conn.execute("COMMIT")
    deliverer = WebhookDeliverer(db, url, secret, timeout=60)
    await deliverer.start()
    deliverer.wake()
    print("committed", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main(*sys.argv[1:]))
"""


async def test_writer_killed_between_commit_and_delivery(
    db_path: Path, writer: aiosqlite.Connection, receiver: Receiver
) -> None:
    """A daemon SIGKILLed after its commit, in the middle of the first delivery: a new
    deliverer on the same file delivers each event, and each is accepted exactly once."""
    receiver.script = ["hang"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITER, str(db_path), receiver.url, SECRET,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = b""
        while line != b"committed\n":  # the daemon's own logs come first
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert line, "the writer exited before committing"
        await until(lambda: len(receiver.seen) == 1)  # the first delivery is in flight
    finally:
        proc.send_signal(signal.SIGKILL)
        assert await proc.wait() == -signal.SIGKILL
    assert [r[:3] for r in rows(db_path)] == [(1, 0, 0), (2, 0, 0), (3, 0, 0)]
    async with delivering(db_path, receiver.url):
        await until(lambda: receiver.accepted == [1, 2, 3])
    assert [s.event_id for s in receiver.seen] == [1, 1, 2, 3]  # at least once; accepted once
    assert [r[:3] for r in rows(db_path)] == [(1, 1, 1), (2, 1, 1), (3, 1, 1)]


async def test_stop_is_prompt_while_backing_off(
    db_path: Path, writer: aiosqlite.Connection, receiver: Receiver
) -> None:
    """A deliverer waiting out a long backoff stops at once, and the wait is not lost."""
    receiver.script = ["500"]
    await commit(writer, "5.00")
    d = WebhookDeliverer(db_path, receiver.url, SECRET, base_backoff=30, max_backoff=60)
    await d.start()
    d.wake()
    await until(lambda: rows(db_path)[0][1] == 1)
    await asyncio.wait_for(d.stop(), 5)
    assert not d.running
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        (next_attempt,) = conn.execute("SELECT next_attempt FROM events").fetchone()
    assert next_attempt >= time.time() + 10  # the restart will honour it


async def test_without_url_nothing_is_delivered_or_opened(
    db_path: Path, writer: aiosqlite.Connection
) -> None:
    """With no URL the deliverer is inert: no task, no connection, events stay undelivered."""
    await commit(writer, "1.00")
    d = WebhookDeliverer(db_path, None, None)
    await d.start()
    d.wake()
    assert not d.running and await d.pending() == 0
    await d.stop()
    assert rows(db_path) == [(1, 0, 0, None)]
    assert d.stats() == {"enabled": False, "delivered": 0, "failures": 0, "lastError": None}


async def test_configuration_errors_are_clear(tmp_path: Path) -> None:
    """A URL without a secret, a non-HTTP URL or bad backoff is a ConfigError; a store
    without the events table is a StartupError at start."""
    with pytest.raises(ConfigError, match="secret"):
        WebhookDeliverer(tmp_path / "x.db", "http://127.0.0.1:1/hook", None)
    with pytest.raises(ConfigError, match="secret"):
        WebhookDeliverer(tmp_path / "x.db", "http://127.0.0.1:1/hook", "")
    with pytest.raises(ConfigError, match="http"):
        WebhookDeliverer(tmp_path / "x.db", "ftp://example/hook", SECRET)
    with pytest.raises(ConfigError, match="backoff"):
        WebhookDeliverer(tmp_path / "x.db", None, None, max_backoff=0)
    assert WebhookDeliverer(tmp_path / "x.db", None, None, max_backoff=0.5).base_backoff == 0.5
    d = WebhookDeliverer(tmp_path / "empty.db", "http://127.0.0.1:1/hook", SECRET)
    with pytest.raises(StartupError, match="events table"):
        await d.start()
    assert not d.running


async def test_wired_app_streams_and_delivers_each_committed_event(
    db_path: Path, writer: aiosqlite.Connection, receiver: Receiver
) -> None:
    """The daemon's wiring (bus, outbox reader and deliverer owned by ``cleanup_ctx``): a
    ledger commit followed by publish + wake reaches the SSE client and the webhook receiver."""
    bus_key = web.AppKey("bus", EventBus)
    outbox_key = web.AppKey("outbox", OutboxReader)
    hooks_key = web.AppKey("webhooks", WebhookDeliverer)

    async def events_ctx(app: web.Application) -> AsyncIterator[None]:
        app[outbox_key] = await OutboxReader.open(db_path)
        app[hooks_key] = WebhookDeliverer(db_path, receiver.url, SECRET, max_backoff=0.1)
        await app[hooks_key].start()
        try:
            yield
        finally:
            await app[hooks_key].stop()
            await app[outbox_key].close()

    async def close_bus(app: web.Application) -> None:
        app[bus_key].close()

    async def stream(request: web.Request) -> web.StreamResponse:
        app = request.app
        return await sse_response(
            request, app[bus_key], since_id=None, backlog=app[outbox_key].after
        )

    app = web.Application()
    app[bus_key] = EventBus()
    app.cleanup_ctx.append(events_ctx)
    app.on_shutdown.append(close_bus)
    app.router.add_get("/events", stream)
    runner = web.AppRunner(app, shutdown_timeout=5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://{host}:{port}/events") as resp,
        ):
            await until(lambda: app[bus_key].subscribers == 1)
            events = await commit(writer, "1.00", "2.00")  # the ledger's transaction
            app[bus_key].publish(events)  # then, after COMMIT: live listeners
            app[hooks_key].wake()  # and the webhooks
            ids: list[int] = []
            while len(ids) < 2:
                line = await asyncio.wait_for(resp.content.readline(), 10)
                if line.startswith(b"id: "):
                    ids.append(int(line[4:]))
            await until(lambda: receiver.accepted == [1, 2])
        assert ids == [1, 2]
    finally:
        await runner.cleanup()
    assert app[bus_key].closed and not app[hooks_key].running
