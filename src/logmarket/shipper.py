"""A blocking client for the wire protocol, used from one thread (the handler's or the tailer's).

A client id comes with a client secret (``secrets.token_urlsafe(32)``) made together with it
and kept as long as it: both go in every ``hello``.

The shipper owns the socket and the window of batches sent but not yet acknowledged. It never
sleeps or retries by itself: the caller decides when to (re)connect, using :class:`Backoff`.
On reconnect the daemon's ``welcome`` says which batches it already holds; the rest of the
window is resent in order, and the daemon's (clientId, seq) check makes any resend harmless.
"""

from __future__ import annotations

import random
import secrets
import select
import socket
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from logmarket._options import DEFAULT_SOCKET, default_socket_path
from logmarket.errors import HelloRefusedError, ProtocolError
from logmarket.protocol import DEFAULT_MAX_FRAME_BYTES, PROTOCOL_VERSION, decode_frame, encode_frame

__all__ = ["DEFAULT_SOCKET", "Backoff", "Shipper", "default_socket_path"]

_BATCH_OVERHEAD = 96  # bytes around the records in a batch frame: type, seq, dropped, brackets


class Backoff:
    """Exponential backoff with jitter: 50 ms doubling up to ``cap`` seconds.

    Half of each delay is fixed and half random ("equal jitter"), so a fleet of clients that
    lost the same daemon does not reconnect in lockstep, yet none waits for nothing.
    """

    def __init__(self, first: float = 0.05, cap: float = 2.0) -> None:
        self.first = first
        self.cap = cap
        self.attempts = 0

    def next_delay(self) -> float:
        delay = min(self.cap, self.first * (2.0**self.attempts))
        self.attempts += 1
        return delay / 2 + random.uniform(0, delay / 2)

    def reset(self) -> None:
        self.attempts = 0


class Shipper:
    """Sends batches of pre-encoded records and tracks their acknowledgements."""

    def __init__(
        self,
        socket_path: str,
        hello: dict[str, Any],
        *,
        timeout: float = 10.0,
        on_ack: Callable[[int], None] | None = None,
    ) -> None:
        self.socket_path = socket_path
        self.client_id: str = hello.get("clientId") or uuid.uuid4().hex
        # The secret proves the id is ours; a caller that keeps its id across runs (the
        # tailer) keeps and passes its secret too, or the daemon refuses it as client-auth.
        self.client_secret: str = hello.get("clientSecret") or secrets.token_urlsafe(32)
        self.hello = {
            "type": "hello",
            "version": PROTOCOL_VERSION,
            "acks": True,
            **hello,
            "clientId": self.client_id,
            "clientSecret": self.client_secret,
        }
        self.timeout = timeout
        self.on_ack = on_ack
        self.max_frame_bytes = DEFAULT_MAX_FRAME_BYTES
        self.next_seq = 0
        self.unacked: OrderedDict[int, bytes] = OrderedDict()
        self.unacked_records: dict[int, int] = {}
        self.duplicates = 0
        self.rejected = 0
        self._sock: socket.socket | None = None
        self._buf = b""

    @property
    def connected(self) -> bool:
        return self._sock is not None

    @property
    def in_flight(self) -> int:
        """Batches sent and not yet acknowledged."""
        return len(self.unacked)

    def connect(self, dropped: int = 0) -> None:
        """Connect, greet, and resend what the daemon does not hold yet. Raises ``OSError``."""
        self.disconnect()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.socket_path)
            sock.sendall(encode_frame({**self.hello, "dropped": dropped}))
            self._sock = sock
            self._buf = b""
            welcome = self._read_frame(self.timeout)
            if welcome.get("type") == "error":
                raise HelloRefusedError(
                    str(welcome.get("reason", "?")), str(welcome.get("detail", ""))
                )
            if welcome.get("type") != "welcome":
                raise ProtocolError(f"expected welcome, got {welcome.get('type')!r}")
            self.max_frame_bytes = int(welcome.get("maxFrameBytes", DEFAULT_MAX_FRAME_BYTES))
            last_seq = int(welcome.get("lastSeq", -1))
            for seq in [s for s in self.unacked if s <= last_seq]:
                self._acked(seq)
            for frame in self.unacked.values():
                sock.sendall(frame)
        except BaseException:
            sock.close()
            self._sock = None
            raise

    def disconnect(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
                self._buf = b""

    def frames_for(self, encoded: Iterable[str]) -> list[list[str]]:
        """Split encoded records into groups that each fit in one frame."""
        limit = self.max_frame_bytes - _BATCH_OVERHEAD
        groups: list[list[str]] = []
        current: list[str] = []
        size = 0
        for rec in encoded:
            n = len(rec) + 1
            if current and size + n > limit:
                groups.append(current)
                current, size = [], 0
            current.append(rec)
            size += n
        if current:
            groups.append(current)
        return groups

    def enqueue(self, encoded_records: list[str], dropped: int = 0) -> int:
        """Put one batch of JSON-encoded records in the window (not written yet); its seq.

        Once in the window a batch cannot be lost: it is written by :meth:`transmit`, or by
        the next :meth:`connect` if the connection fails first.
        """
        seq = self.next_seq
        self.next_seq += 1
        self.unacked[seq] = (
            f'{{"type":"batch","seq":{seq},"dropped":{dropped},"records":['
            + ",".join(encoded_records)
            + "]}\n"
        ).encode("ascii")
        self.unacked_records[seq] = len(encoded_records)
        return seq

    def transmit(self, seq: int) -> None:
        """Write a batch of the window to the daemon. Raises ``OSError``."""
        if self._sock is None:
            raise ConnectionError("not connected")
        frame = self.unacked.get(seq)
        if frame is not None:
            self._sock.sendall(frame)

    def send(self, encoded_records: list[str], dropped: int = 0) -> int:
        """:meth:`enqueue` then :meth:`transmit`; returns the seq. Raises ``OSError``."""
        seq = self.enqueue(encoded_records, dropped)
        self.transmit(seq)
        return seq

    def poll_acks(self, timeout: float = 0.0) -> int:
        """Read whatever the daemon sent within ``timeout`` seconds; returns batches acked."""
        if self._sock is None:
            return 0
        before = len(self.unacked)
        ready, _, _ = select.select([self._sock], [], [], timeout)
        if not ready:
            return 0
        data = self._sock.recv(65536)
        if not data:
            raise ConnectionResetError("daemon closed the connection")
        self._buf += data
        while b"\n" in self._buf:
            line, self._buf = self._buf.split(b"\n", 1)
            self._handle(decode_frame(line))
        return before - len(self.unacked)

    def _read_frame(self, timeout: float) -> dict[str, Any]:
        assert self._sock is not None
        while b"\n" not in self._buf:
            ready, _, _ = select.select([self._sock], [], [], timeout)
            if not ready:
                raise TimeoutError("no answer from the daemon")
            data = self._sock.recv(65536)
            if not data:
                raise ConnectionResetError("daemon closed the connection")
            self._buf += data
        line, self._buf = self._buf.split(b"\n", 1)
        return decode_frame(line)

    def _handle(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "ack":
            if frame.get("duplicate"):
                self.duplicates += 1
            self._acked(int(frame["seq"]))
        elif kind == "error":
            # The daemon refused a frame we built: it will never be acked, so it must leave
            # the window or it would be resent forever. Counted for the caller to report.
            self.rejected += 1
            seq = frame.get("seq")
            if isinstance(seq, int) and seq in self.unacked:
                self._acked(seq)

    def _acked(self, seq: int) -> None:
        if self.unacked.pop(seq, None) is not None:
            self.unacked_records.pop(seq, None)
            if self.on_ack is not None:
                self.on_ack(seq)
