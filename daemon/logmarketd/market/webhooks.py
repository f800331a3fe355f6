"""Signed webhook delivery of the event outbox.

:class:`WebhookDeliverer` is one background task with its own SQLite connection to the store
file (never the ledger's writer: a read there could see an event of a transaction that is then
rolled back). It sends every undelivered event, in id order, as ``POST <url>`` with the body
``{"id": .., "type": .., "created": .., "data": {..}}`` and these headers:

- ``X-Logmarket-Event-Id``: the event id, the receiver's deduplication key;
- ``X-Logmarket-Timestamp``: the signing time (Unix seconds);
- ``X-Logmarket-Signature``: ``t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``,
  Stripe's scheme; receivers check it with :func:`verify_signature` on the raw body.

Delivery is at least once: an event is marked delivered only after a 2xx, so a crash or a
lost response means it is sent again. Receivers deduplicate by event id. Until a 2xx arrives
the head event is retried with exponential backoff and jitter (capped by ``max_backoff``) and
later events wait behind it, so a receiver sees events in id order. Attempts, the next attempt
time and the last error are stored on the row: a restarted daemon continues where it was.
Redirects are not followed (a 3xx is a failure). With no URL the deliverer does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import random
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import aiosqlite
import structlog
from pydantic import SecretStr

from logmarketd.errors import ConfigError, StartupError

__all__ = [
    "EVENT_ID_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookDeliverer",
    "backoff_delay",
    "sign",
    "verify_signature",
]

log = structlog.get_logger("logmarketd.webhooks")

SIGNATURE_HEADER = "X-Logmarket-Signature"
TIMESTAMP_HEADER = "X-Logmarket-Timestamp"
EVENT_ID_HEADER = "X-Logmarket-Event-Id"

_ERROR_TEXT = 300  # characters of a receiver's error body kept in last_error


def _key(secret: str | bytes | SecretStr) -> bytes:
    if isinstance(secret, SecretStr):
        secret = secret.get_secret_value()
    return secret.encode() if isinstance(secret, str) else secret


def _digest(key: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str | bytes | SecretStr, body: bytes, timestamp: int) -> str:
    """The ``X-Logmarket-Signature`` value for ``body`` signed at ``timestamp``."""
    return f"t={timestamp},v1={_digest(_key(secret), timestamp, body)}"


def verify_signature(
    secret: str | bytes | SecretStr,
    header: str,
    body: bytes | str,
    tolerance: float = 300,
    *,
    now: float | None = None,
) -> bool:
    """Whether ``header`` signs exactly ``body`` with ``secret`` within ``tolerance`` seconds.

    ``body`` is the raw request body, before any JSON parsing. Several ``v1=`` entries are
    accepted (one per secret during a rotation); a timestamp further than ``tolerance`` from
    ``now`` in either direction fails, which bounds replays.
    """
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            return False
        if name == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    raw = body.encode() if isinstance(body, str) else body
    expected = _digest(_key(secret), timestamp, raw)
    # Compare every candidate, without stopping early, in constant time per candidate.
    matches = [hmac.compare_digest(expected, c) for c in candidates]
    return any(matches)


def backoff_delay(attempts: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Seconds to wait after ``attempts`` failures: ``base * 2**(n-1)`` capped, 50-100% jitter."""
    exponential = base * 2.0 ** min(max(attempts - 1, 0), 62)
    return min(cap, exponential) * (0.5 + rng.random() / 2)


@dataclass(frozen=True, slots=True)
class _Row:
    id: int
    type: str
    payload: str
    created: float
    attempts: int
    next_attempt: float


class WebhookDeliverer:
    """Delivers the outbox to one URL in the background: ``start()``, ``wake()``, ``stop()``.

    ``db_path`` is the store file (the ``events`` table must exist). ``secret`` is required
    with a URL: unsigned webhooks are not offered. ``timeout`` bounds one attempt;
    ``base_backoff`` and ``max_backoff`` shape the retry delays. Counters: ``delivered``,
    ``failures`` and ``last_error`` (also stored on the event row).
    """

    def __init__(
        self,
        db_path: Path | str,
        url: str | None,
        secret: str | bytes | SecretStr | None,
        *,
        max_backoff: float = 60.0,
        base_backoff: float = 1.0,
        timeout: float = 10.0,
        batch: int = 100,
        stop_grace: float = 2.0,
        idle_poll: float = 30.0,
        rng: random.Random | None = None,
        store: Any = None,
    ) -> None:
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(f"webhook URL must be http(s)://host/..., got {url!r}")
            if secret is None or not _key(secret):
                raise ConfigError("a webhook URL needs a webhook secret to sign deliveries")
        if not (base_backoff > 0 and max_backoff > 0):
            raise ConfigError("webhook backoff delays must be positive")
        if timeout <= 0 or batch < 1:
            raise ConfigError("webhook timeout must be positive and batch at least 1")
        self.db_path = Path(db_path)
        # A fleet's shared store: its outbox is delivered by one daemon at a time (the one
        # holding the store's webhook lock), so each event goes out once for the fleet.
        self.store = store
        self.url = url
        self._secret = _key(secret) if secret is not None else b""
        self.max_backoff = max_backoff
        self.base_backoff = min(base_backoff, max_backoff)
        self.timeout = timeout
        self.batch = batch
        self.stop_grace = stop_grace
        self.idle_poll = idle_poll
        self._rng = rng or random.Random()
        self._wake = asyncio.Event()
        self._stopping = False
        self._db: aiosqlite.Connection | None = None
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self.delivered = 0
        self.failures = 0
        self.last_error: str | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Open the connection and start delivering; does nothing without a URL."""
        if self.url is None or self._task is not None:
            return
        if self.store is not None:
            self._db = _StoreDb(self.store)  # type: ignore[assignment]
            self._begin()
            return
        try:
            db = await aiosqlite.connect(self.db_path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StartupError(f"webhooks cannot open the store {self.db_path}: {exc}") from exc
        try:
            await db.execute("PRAGMA busy_timeout=5000")
            # A delivered mark lost to a power cut only means one more delivery, which
            # at-least-once allows: no fsync per mark (the ledger's own commits keep theirs).
            await db.execute("PRAGMA synchronous=NORMAL")
            async with db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'"
            ) as cur:
                found = await cur.fetchone()
            if found is None:
                raise StartupError(f"no events table in {self.db_path}: migrate the store first")
        except BaseException:
            await db.close()
            raise
        self._db = db
        self._begin()

    def _begin(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            headers={"User-Agent": "logmarketd-webhooks"},
        )
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="webhook-deliverer")
        log.info("webhooks on", url=self.url)

    def wake(self) -> None:
        """New events were committed: look now instead of at the next timer."""
        self._wake.set()

    async def stop(self) -> None:
        """Finish the attempt in flight (up to ``stop_grace`` s), then close. Idempotent."""
        task, self._task = self._task, None
        if task is not None:
            self._stopping = True
            self._wake.set()
            await asyncio.wait({task}, timeout=self.stop_grace)
            if not task.done():
                # The cut attempt is not marked delivered: it is sent again on the next start.
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def pending(self) -> int:
        """Events not yet delivered (0 when not started)."""
        if self._db is None:
            return 0
        async with self._db.execute(
            "SELECT COUNT(*) FROM events WHERE delivered_at IS NULL"
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    # -- the loop ------------------------------------------------------------------------

    async def _run(self) -> None:
        errors = 0
        while not self._stopping:
            try:
                await self._pass()
                errors = 0
            except Exception as exc:
                # The task is a stage boundary: a busy or failing store (or a bug) must not end
                # delivery for good. Say so, back off, try again.
                errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("webhook delivery pass failed", error=self.last_error)
                await self._sleep(
                    backoff_delay(
                        errors, base=self.base_backoff, cap=self.max_backoff, rng=self._rng
                    )
                )

    async def _sleep(self, seconds: float | None) -> None:
        """Until ``seconds`` pass, ``wake()`` or ``stop()``."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()

    async def _pass(self) -> None:
        """Deliver the due head of the outbox, in order, until one fails or none is left."""
        assert self._db is not None
        self._wake.clear()  # before reading: a wake() during the read is not lost
        if self.store is not None and not await self.store.hold_lock("webhooks"):
            await self._sleep(self.idle_poll)  # another daemon delivers; take over if it goes
            return
        async with self._db.execute(
            "SELECT id, type, payload, created, attempts, next_attempt FROM events "
            "WHERE delivered_at IS NULL ORDER BY id LIMIT ?",
            (self.batch,),
        ) as cur:
            rows = [_Row(*r) for r in await cur.fetchall()]
        if not rows:
            # wake() is the signal; the timer only catches rows written by another process.
            await self._sleep(self.idle_poll)
            return
        for row in rows:
            if self._stopping:
                return
            wait = row.next_attempt - time.time()
            if wait > 0:
                # Wall time survives restarts; the cap guards against a clock set backwards.
                await self._sleep(min(wait, self.max_backoff))
                return
            if not await self._attempt(row):
                return

    def _body(self, row: _Row) -> bytes:
        envelope = {
            "id": row.id,
            "type": row.type,
            "created": row.created,
            "data": json.loads(row.payload),
        }
        return json.dumps(envelope, separators=(",", ":")).encode()

    async def _attempt(self, row: _Row) -> bool:
        assert self._db is not None and self._session is not None and self.url is not None
        body = self._body(row)
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            EVENT_ID_HEADER: str(row.id),
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(self._secret, body, timestamp),
        }
        error: str | None = None
        try:
            async with self._session.post(
                self.url, data=body, headers=headers, allow_redirects=False
            ) as resp:
                if not 200 <= resp.status < 300:
                    text = (await resp.content.read(_ERROR_TEXT)).decode("utf-8", "replace")
                    error = f"HTTP {resp.status}: {text}".strip()
        except TimeoutError:
            error = f"timeout after {self.timeout} s"
        except (aiohttp.ClientError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        attempts = row.attempts + 1
        now = time.time()
        if error is None:
            await self._db.execute(
                "UPDATE events SET delivered_at = ?, attempts = ?, last_error = NULL WHERE id = ?",
                (now, attempts, row.id),
            )
            self.delivered += 1
            return True
        delay = backoff_delay(attempts, base=self.base_backoff, cap=self.max_backoff, rng=self._rng)
        await self._db.execute(
            "UPDATE events SET attempts = ?, next_attempt = ?, last_error = ? WHERE id = ?",
            (attempts, now + delay, error[:_ERROR_TEXT], row.id),
        )
        self.failures += 1
        self.last_error = error
        log.warning(
            "webhook delivery failed",
            event_id=row.id,
            attempts=attempts,
            retry_in=delay,
            error=error,
        )
        return False

    def stats(self) -> dict[str, Any]:
        """Counters for /metrics and the dashboard."""
        return {
            "enabled": self.url is not None,
            "delivered": self.delivered,
            "failures": self.failures,
            "lastError": self.last_error,
        }


class _Rows:
    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows

    async def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    async def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None


class _StoreQuery:
    """``async with``: a query's rows; ``await``: a write in a transaction of its own."""

    def __init__(self, store: Any, sql: str, params: Any) -> None:
        self.store, self.sql, self.params = store, sql, params

    async def _write(self) -> None:
        async with self.store.transaction() as tx:
            await tx.execute(self.sql, self.params)

    def __await__(self) -> Any:
        return self._write().__await__()

    async def __aenter__(self) -> _Rows:
        return _Rows(await self.store.fetchall(self.sql, self.params))

    async def __aexit__(self, *exc: object) -> None:
        return None


class _StoreDb:
    """The shared store in the shape of the connection the deliverer uses."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def execute(self, sql: str, params: Any = ()) -> _StoreQuery:
        return _StoreQuery(self.store, sql, params)

    async def close(self) -> None:
        await self.store.release_lock("webhooks")  # the store itself is closed by its owner
