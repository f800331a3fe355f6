"""Ingest: the Unix socket server. Reads frames, validates them, hands batches to the inbox
writer, and acknowledges each batch once it is durable.

A bad frame (not JSON, wrong types, over the size cap) is refused with a counted, logged
reason and an ``error`` frame; the connection and every other client live on. Each connection
keeps at most ``_MAX_PENDING`` batches waiting for their commit; beyond that it stops reading,
so a client that floods (or never reads its acks) only ever slows itself down.

Whom a connection's records credit is decided here, once, by a Sub-PKP key or by who
connects: a hello with a live key credits that key's Sub-PKP (whatever ``subPKPId`` the hello
or the records name); without one, a connection from a Unix user the admin mapped to a
Sub-PKP (``--peer-uid-credit UID=ID``, read with SO_PEERCRED) credits that one; otherwise, or
with a key that is unknown, wrong or revoked, the records are stored and analysed but credit
no one. The welcome says which (``credited``). A keyed connection
re-checks its key before each frame it stores, so a key revoked while it is open stops
crediting from the next frame on (the connection stays open, uncredited).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sqlite3
import stat
import struct
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import structlog

from logmarket.protocol import PROTOCOL_VERSION, encode_frame
from logmarketd.errors import FrameError, StartupError
from logmarketd.ingest.frames import Batch, Hello, RecordFrame, parse_frame
from logmarketd.ingest.inbox import InboxWriter, Outcome, Submission
from logmarketd.ingest.redact import Redactor
from logmarketd.metrics import Metrics
from logmarketd.store.keys import key_owner, load_key

__all__ = ["IngestServer", "bind_unix_socket"]

_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
log = structlog.get_logger("logmarketd.ingest")

_MAX_PENDING = 64  # batches per connection between read and ack
_LOGGED_REJECTIONS = 5  # per connection; the rest are counted, and summed up at close
_SUN_PATH_MAX = 107  # bytes in sockaddr_un.sun_path, NUL excluded (Linux)


def bind_unix_socket(path: Path, mode: int) -> socket.socket:
    """A listening Unix socket at ``path`` with file mode ``mode``.

    A stale socket file left by a dead daemon is removed; a live daemon on the same path is
    a clear ``StartupError`` rather than a stolen socket.
    """
    raw = os.fsencode(path)
    if len(raw) > _SUN_PATH_MAX:
        raise StartupError(
            f"socket path is {len(raw)} bytes, over the {_SUN_PATH_MAX}-byte limit of Unix "
            f"sockets: {path} (choose a shorter --socket)"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StartupError(f"cannot create the directory of the socket {path}: {exc}") from exc
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISSOCK(st.st_mode):
            raise StartupError(f"{path} exists and is not a socket; refusing to replace it")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(os.fspath(path))
        except (ConnectionRefusedError, FileNotFoundError):
            os.unlink(path)  # stale: nobody listens on it any more
        except OSError as exc:
            raise StartupError(f"cannot probe the existing socket {path}: {exc}") from exc
        else:
            raise StartupError(f"another logmarketd is already serving on {path}")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o777 & ~mode)  # never world-writable, not even for an instant
    try:
        sock.bind(os.fspath(path))
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot bind the socket {path}: {exc}") from exc
    finally:
        os.umask(old_umask)
    os.chmod(path, mode)
    sock.listen(256)
    sock.setblocking(False)
    return sock


class _Session:
    """What a connection said in its hello (or the defaults of a bare client)."""

    __slots__ = (
        "acks", "client_id", "host", "key_id", "peer_sub", "pid", "source", "stream", "sub_pkp_id",
    )  # fmt: skip

    def __init__(self, peer_sub: str | None = None) -> None:
        self.acks = False
        self.peer_sub = peer_sub  # whom the connecting Unix user credits, when it is mapped
        self.client_id: str | None = None
        self.host: str | None = None
        self.key_id: str | None = None  # the live key the session was authenticated with
        self.pid: int | None = None
        self.source = "runtime"
        self.sub_pkp_id = peer_sub  # whom its records credit: the key's, the user's, or no one
        self.stream: str | None = None


class IngestServer:
    def __init__(
        self,
        inbox: InboxWriter,
        metrics: Metrics,
        *,
        max_frame_bytes: int,
        redactor: Redactor | None = None,
        peer_credits: Mapping[int, str] | None = None,
        keys: Any = None,
    ) -> None:
        self.inbox = inbox
        # Where the Sub-PKPs' keys are: the inbox's store, or a fleet's shared one.
        self.keys = keys if keys is not None else inbox.store
        self.peer_credits = dict(peer_credits or {})
        self.redactor = redactor
        self.metrics = metrics
        self.max_frame_bytes = max_frame_bytes
        self._server: asyncio.Server | None = None
        self._readers: set[asyncio.Task[None]] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def connections(self) -> int:
        return len(self._handlers)

    async def start(self, sock: socket.socket) -> None:
        extra: dict[str, Any] = {}
        if sys.version_info >= (3, 13):
            # 3.13 unlinks the path of even a given socket on close; the path is the
            # daemon's to remove, or systemd's when the socket was passed by logmarketd.socket.
            extra["cleanup_socket"] = False
        self._server = await asyncio.start_unix_server(
            self._handle, sock=sock, limit=self.max_frame_bytes, **extra
        )

    async def stop(self, timeout: float) -> None:
        """Stop accepting and reading; wait up to ``timeout`` for pending acks; close all."""
        if self._server is not None:
            self._server.close()
        for task in list(self._readers):
            task.cancel()
        handlers = list(self._handlers)
        if handlers:
            _, still = await asyncio.wait(handlers, timeout=timeout)
            for task in still:
                task.cancel()
            if still:
                log.warning("connections closed before their acks were sent", count=len(still))
                await asyncio.wait(still)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.metrics.connections.inc()
        self.metrics.connections_total.inc()
        session = _Session(self._peer_sub(writer))
        pending: asyncio.Queue[tuple[int, asyncio.Future[Outcome]] | None] = asyncio.Queue(
            maxsize=_MAX_PENDING
        )
        rejected = [0]
        read_task = asyncio.create_task(self._read_loop(reader, writer, session, pending, rejected))
        self._readers.add(read_task)
        ack_task = asyncio.create_task(self._ack_loop(writer, session, pending))
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await read_task
            await pending.put(None)
            await ack_task
        except asyncio.CancelledError:
            ack_task.cancel()
        except (ConnectionError, OSError):
            ack_task.cancel()
        finally:
            self._readers.discard(read_task)
            self._handlers.discard(task)
            self.metrics.connections.dec()
            if rejected[0] > _LOGGED_REJECTIONS:
                log.warning(
                    "connection closed", rejected_frames=rejected[0], client=session.client_id
                )
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read_loop(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        session: _Session,
        pending: asyncio.Queue[tuple[int, asyncio.Future[Outcome]] | None],
        rejected: list[int],
    ) -> None:
        try:
            while True:
                try:
                    line = await _read_line(reader, self.max_frame_bytes)
                    if line is None:
                        return
                    if not line.strip():
                        continue
                    frame = parse_frame(line)
                except FrameError as exc:
                    rejected[0] += 1
                    await self._reject(writer, session, exc, rejected[0])
                    continue
                if isinstance(frame, Hello):
                    if not await self._hello(writer, session, frame):
                        return
                    continue
                await self._recheck_key(session)
                if isinstance(frame, Batch):
                    n = len(frame.records)
                    self.metrics.records_received.inc(n)
                    fut = await self.inbox.submit(self._submission(session, line, n, frame))
                    if session.acks:
                        await pending.put((frame.seq, fut))
                else:
                    self.metrics.records_received.inc()
                    await self.inbox.submit(self._submission(session, line, 1, frame))
        except (ConnectionError, OSError):
            return

    def _redacted(self, line: bytes, frame: Batch | RecordFrame) -> bytes:
        """The frame as it may be stored: secrets replaced by their placeholders.

        A frame no rule's keyword appears in (nearly all of them) is stored verbatim; the
        others are redacted field by field on the decoded records (so a private key spread
        over the lines of a traceback is caught) and written again.
        """
        if self.redactor is None:
            return line
        records = frame.records if isinstance(frame, Batch) else [frame]
        if not self.redactor.may_hold_secrets(_app_text(records)):
            return line
        if isinstance(frame, Batch):
            obj: dict[str, Any] = {
                "type": "batch",
                "seq": frame.seq,
                "dropped": frame.dropped,
                "records": self.redactor.redact_value(list(frame.records)),
            }
        else:
            obj = self.redactor.redact_value(dict(frame))
        redacted = encode_frame(obj)
        if redacted.rstrip(b"\n") != line.rstrip(b"\r\n"):
            self.metrics.frames_redacted.inc()
        return redacted

    def _submission(
        self, session: _Session, line: bytes, n: int, frame: Batch | RecordFrame
    ) -> Submission:
        batch = isinstance(frame, Batch)
        return Submission(
            frame=self._redacted(line, frame).rstrip(b"\r\n"),
            n_records=n,
            source=session.source,
            client_id=session.client_id if batch and session.acks else None,
            seq=frame.seq if isinstance(frame, Batch) and session.acks else None,
            dropped=frame.dropped if isinstance(frame, Batch) else None,
            host=session.host,
            pid=session.pid,
            sub_pkp_id=session.sub_pkp_id,
            stream=session.stream,
        )

    async def _hello(self, writer: asyncio.StreamWriter, session: _Session, hello: Hello) -> bool:
        """Take the session's identity; False when the client id is refused (and closed)."""
        if hello.clientId is not None:
            if hello.clientSecret is None:
                return await self._refuse(writer, "clientSecret is required with clientId")
            try:
                known = await self.inbox.authenticate(hello.clientId, hello.clientSecret)
            except (sqlite3.Error, OSError) as exc:
                return await self._refuse(writer, f"store unavailable: {exc}", "store-error")
            if not known:
                return await self._refuse(writer, "clientSecret does not match this clientId")
        redact = self.redactor.redact if self.redactor is not None else str
        session.acks = hello.acks and hello.clientId is not None
        session.client_id = hello.clientId
        session.host = redact(hello.host) if hello.host is not None else None
        session.pid = hello.pid
        session.source = hello.source
        session.key_id, session.sub_pkp_id = await self._credited(hello.key)
        if session.key_id is None:
            session.sub_pkp_id = session.peer_sub
        session.stream = redact(hello.stream) if hello.stream is not None else None
        last_seq = await self.inbox.last_seq(hello.clientId) if hello.clientId else -1
        welcome: dict[str, Any] = {
            "type": "welcome",
            "version": PROTOCOL_VERSION,
            "maxFrameBytes": self.max_frame_bytes,
            "lastSeq": last_seq,
            "credited": session.sub_pkp_id,
        }
        writer.write(encode_frame(welcome))
        await writer.drain()
        return True

    def _peer_sub(self, writer: asyncio.StreamWriter) -> str | None:
        """The Sub-PKP the connecting process's Unix user id is mapped to (SO_PEERCRED, set
        by the kernel: a client cannot claim another user's), or None."""
        if not self.peer_credits:
            return None
        sock = writer.get_extra_info("socket")
        try:
            creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
        except (AttributeError, OSError):
            return None
        _pid, uid, _gid = _UCRED.unpack(creds)
        return self.peer_credits.get(uid)

    async def _credited(self, key: str | None) -> tuple[str | None, str | None]:
        """(key id, Sub-PKP id) a hello's key credits; (None, None) without a live key. An
        unusable key is counted and logged, never fatal: the records are still wanted."""
        if key is None:
            return None, None
        try:
            owner = await key_owner(self.keys, key)
        except (sqlite3.Error, OSError) as exc:
            log.error("cannot check a hello's key; the connection is uncredited", error=str(exc))
            owner = None
        if owner is None:
            self.metrics.hello_keys.labels("refused").inc()
            log.warning("hello key refused (unknown, wrong or revoked); records uncredited")
            return None, None
        self.metrics.hello_keys.labels("accepted").inc()
        return owner

    async def _recheck_key(self, session: _Session) -> None:
        """Stop crediting a session whose key was revoked since its hello (one primary-key
        read per stored frame, only on keyed connections)."""
        if session.key_id is None:
            return
        try:
            live = await load_key(self.keys, session.key_id) is not None
        except (sqlite3.Error, OSError):
            return  # the inbox commit will meet the same store; keep what the hello proved
        if not live:
            self.metrics.hello_keys.labels("revoked").inc()
            log.warning("key revoked on an open connection; its records are now uncredited",
                        sub_pkp=session.sub_pkp_id, client=session.client_id)  # fmt: skip
            session.key_id, session.sub_pkp_id = None, session.peer_sub

    async def _refuse(
        self, writer: asyncio.StreamWriter, detail: str, reason: str = "client-auth"
    ) -> bool:
        """Answer a hello with an error and end the connection: nothing of the id leaks."""
        self.metrics.frames_rejected.labels(reason).inc()
        log.warning("hello refused", reason=reason, detail=detail)
        writer.write(encode_frame({"type": "error", "reason": reason, "detail": detail}))
        await writer.drain()
        return False

    async def _reject(
        self, writer: asyncio.StreamWriter, session: _Session, exc: FrameError, count: int
    ) -> None:
        self.metrics.frames_rejected.labels(exc.reason).inc()
        if count <= _LOGGED_REJECTIONS:
            log.warning("frame rejected", reason=exc.reason, detail=exc.detail[:200],
                        client=session.client_id)  # fmt: skip
        frame: dict[str, Any] = {"type": "error", "reason": exc.reason, "detail": exc.detail[:500]}
        if exc.seq is not None:
            frame["seq"] = exc.seq
        writer.write(encode_frame(frame))
        await writer.drain()

    async def _ack_loop(
        self,
        writer: asyncio.StreamWriter,
        session: _Session,
        pending: asyncio.Queue[tuple[int, asyncio.Future[Outcome]] | None],
    ) -> None:
        while True:
            item = await pending.get()
            if item is None:
                return
            seq, fut = item
            try:
                outcome = await fut
            except OSError:
                # The store refused the commit (disk full, I/O error): no ack. Closing the
                # connection makes the client reconnect and resend its whole window later.
                writer.close()
                return
            writer.write(
                encode_frame({"type": "ack", "seq": seq, "duplicate": outcome == "duplicate"})
            )
            await writer.drain()


def _app_text(records: Iterable[Mapping[str, Any]]) -> str:
    """Every key and value of these records, as one text to prefilter: metadata too (a
    logger or thread name is written by the application as much as its message is)."""
    parts: list[str] = []
    for rec in records:
        for key, value in rec.items():
            parts.append(key)  # the key too: {"password": "x"} is a secret by its name
            parts.append(value if isinstance(value, str) else json.dumps(value, default=str))
    return "\n".join(parts)


async def _read_line(reader: asyncio.StreamReader, limit: int) -> bytes | None:
    """The next line (None at EOF); an over-long one raises ``FrameError("too-large")``.

    An over-long line is consumed and thrown away piece by piece (never held whole), so a
    50 MiB line costs the daemon no more memory than a normal frame.
    """
    try:
        return await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        return exc.partial or None  # EOF; a last line without newline still counts
    except asyncio.LimitOverrunError as exc:
        await reader.readexactly(exc.consumed)
    while True:
        try:
            await reader.readuntil(b"\n")
            break
        except asyncio.LimitOverrunError as more:
            await reader.readexactly(more.consumed)
        except asyncio.IncompleteReadError:
            break
    raise FrameError("too-large", f"frame over {limit} bytes")
